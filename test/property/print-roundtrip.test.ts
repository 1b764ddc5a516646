import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { regexSyntaxProblem } from "../../src/dsl/regex.ts";
import type { Expr } from "../../src/index.ts";
import { MAX_CONDITION_LENGTH, parseCondition, printCondition } from "../../src/index.ts";
import {
  ALL_PATTERNS,
  ASTRAL_LETTERS,
  anyIdentifierArb,
  conditionArb,
  identifierArb,
  laterSegmentArb,
  pathArb,
  pathNode,
  stripSpans,
  walkExpr,
} from "../support/arbitraries/index.ts";

const byteLength = (text: string) => new TextEncoder().encode(text).length;

function expectRoundTrip(ast: Expr): void {
  const source = printCondition(ast);
  // The parser refuses conditions over the length limit; keep to what it accepts.
  fc.pre(byteLength(source) <= MAX_CONDITION_LENGTH);
  const parsed = parseCondition(source);
  if (!parsed.success) {
    expect.fail(`printed ${JSON.stringify(source)} does not parse: ${parsed.issues[0]?.message}`);
  }
  expect(stripSpans(parsed.ast), source).toEqual(stripSpans(ast));
}

describe("printCondition / parseCondition round trip", () => {
  it("uses only valid RE2 patterns in its generators", () => {
    for (const pattern of ALL_PATTERNS)
      expect(regexSyntaxProblem(pattern), pattern).toBeUndefined();
  });

  it("parses every printed AST back to the same AST (spans aside)", () => {
    fc.assert(fc.property(conditionArb(), expectRoundTrip), { numRuns: 2000 });
  });

  // explainCondition shows each step as `source.slice(span)`, and evaluation errors point at spans:
  // the text a node's span covers must be that node, parentheses included.
  it("gives every parsed node a span whose text parses back to that node", () => {
    fc.assert(
      fc.property(conditionArb({ maxDepth: 4 }), (ast) => {
        const source = printCondition(ast);
        fc.pre(byteLength(source) <= MAX_CONDITION_LENGTH);
        const parsed = parseCondition(source);
        if (!parsed.success) return; // the round-trip property reports this
        for (const node of walkExpr(parsed.ast)) {
          const text = source.slice(node.span.start, node.span.end);
          const again = parseCondition(text);
          expect(again.success, `span text ${JSON.stringify(text)} of ${source}`).toBe(true);
          if (again.success) expect(stripSpans(again.ast), text).toEqual(stripSpans(node));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("round-trips paths whose later segments start with a letter outside the BMP", () => {
    const astralSegment = fc
      .tuple(
        fc.constantFrom(...ASTRAL_LETTERS),
        fc.string({ maxLength: 3 }).filter((s) => /^\w*$/.test(s)),
      )
      .map(([head, tail]) => head + tail);
    fc.assert(
      fc.property(identifierArb({ astralStart: false }), astralSegment, (head, segment) => {
        fc.pre(head !== "old" && head !== "new");
        const path = pathNode("data", [head, segment]);
        expectRoundTrip({ kind: "call", name: "has_field", field: path, span: path.span });
        expectRoundTrip({
          kind: "compare",
          op: "==",
          left: path,
          right: { kind: "literal", value: 1, span: path.span },
          span: path.span,
        });
      }),
    );
  });

  // The lexer accepts a letter outside the BMP (e.g. '𝒜', \p{L}) at the start of any later
  // segment (`a.𝒜`) but not at the start of a path (`𝒜`), since it tests one UTF-16 code unit.
  it("round-trips paths that start with a letter outside the BMP", () => {
    fc.assert(
      fc.property(
        pathArb({ images: ["data"], astralStart: true }).filter((p) =>
          ASTRAL_LETTERS.some((l) => p.segments[0]?.startsWith(l)),
        ),
        (path) => {
          expectRoundTrip({ kind: "call", name: "has_field", field: path, span: path.span });
          expectRoundTrip({
            kind: "compare",
            op: "!=",
            left: path,
            right: { kind: "literal", value: null, span: path.span },
            span: path.span,
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it("generates paths of every shape it promises", () => {
    // A guard on the generators themselves: every shape appears in a sample.
    const sample = fc.sample(pathArb(), 2000);
    expect(sample.some((p) => p.image === "old")).toBe(true);
    expect(sample.some((p) => p.image === "new")).toBe(true);
    expect(sample.some((p) => p.image === "data" && p.segments.length === 3)).toBe(true);
    expect(sample.some((p) => p.segments.slice(1).some((s) => /^[0-9]+$/.test(s)))).toBe(true);
    expect(fc.sample(laterSegmentArb, 500).some((s) => /^(and|or|not|in|true)$/i.test(s))).toBe(
      true,
    );
    expect(fc.sample(anyIdentifierArb(), 500).some((s) => /[^\p{ASCII}]/u.test(s))).toBe(true);
  });
});
