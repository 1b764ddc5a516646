import { describe, expect, it } from "vitest";
import {
  ConditionSyntaxError,
  compileCondition,
  type Expr,
  MAX_CONDITION_DEPTH,
  parseCondition,
  printCondition,
} from "../../src/index.ts";

function parse(source: string): Expr {
  const result = parseCondition(source);
  if (!result.success) throw new Error(`expected ${source} to parse: ${result.issues[0]?.message}`);
  return result.ast;
}

function issueOf(source: string) {
  const result = parseCondition(source);
  if (result.success) throw new Error(`expected ${source} to fail`);
  expect(result.issues).toHaveLength(1);
  return result.issues[0] as NonNullable<(typeof result.issues)[0]>;
}

describe("parseCondition: FraiseQL's grammar", () => {
  it.each([
    "total > 100",
    "status == 'pending'",
    "status != 'pending'",
    "note == ''",
    "has_field('total')",
    "!has_field('deleted_at')",
    "total > 100 && status == 'shipped'",
    "status == 'pending' || status == 'shipped'",
    "(total > 100 && status == 'shipped') || priority == 'high'",
    "field_changed_to('status', 'shipped') && total > 100",
    "field_changed_from('status', 'pending')",
    "field_changed('total')",
    "big == 9007199254740993",
    "total >= -5.5 && total <= 1e3",
    "deleted == null && active == true && archived != false",
  ])("parses %s", (source) => {
    expect(parseCondition(source).success).toBe(true);
  });

  it("gives && precedence over || and keeps both left-associative", () => {
    const ast = parse("a == 1 || b == 2 && c == 3 || d == 4");
    expect(printCondition(ast)).toBe("a == 1 || b == 2 && c == 3 || d == 4");
    expect(ast.kind).toBe("or");
    if (ast.kind !== "or") return;
    expect(ast.left.kind).toBe("or");
    expect(ast.right.kind).toBe("compare");
  });

  it("binds ! tighter than && and looser than a comparison", () => {
    const ast = parse("!status == 'x' && a == 1");
    expect(ast.kind).toBe("and");
    if (ast.kind !== "and") return;
    expect(ast.left.kind).toBe("not");
  });

  it("accepts 64 nested parentheses and refuses 65", () => {
    const nested = (n: number) => `${"(".repeat(n)}total == 100${")".repeat(n)}`;
    expect(MAX_CONDITION_DEPTH).toBe(64);
    expect(parseCondition(nested(64)).success).toBe(true);
    const issue = issueOf(nested(65));
    expect(issue.message).toContain("deeper than 64");
    expect(issue.position).toBe(64);
  });

  it("counts ! towards the nesting depth", () => {
    expect(parseCondition(`${"!".repeat(64)}has_field('a')`).success).toBe(true);
    expect(issueOf(`${"!".repeat(65)}has_field('a')`).message).toContain("deeper than 64");
  });

  it("refuses conditions over 4096 bytes, counted in UTF-8", () => {
    const long = `status == '${"x".repeat(4084)}'`;
    expect(long.length).toBe(4096);
    expect(parseCondition(long).success).toBe(true);
    expect(issueOf(`${long} `).message).toContain("4097 bytes long");
    const multibyte = `status == '${"é".repeat(2050)}'`;
    expect(multibyte.length).toBeLessThan(4096);
    expect(issueOf(multibyte).message).toContain("limit is 4096");
  });
});

describe("parseCondition: beyond FraiseQL", () => {
  it("reads dotted paths, array indexes and old./new. prefixes", () => {
    const ast = parse("customer.tier == 'gold' && items.0.sku == 'A' && old.status != new.status");
    expect(printCondition(ast)).toBe(
      "customer.tier == 'gold' && items.0.sku == 'A' && old.status != new.status",
    );
    const compare = parse("old.status == 'x'");
    expect(compare).toMatchObject({
      kind: "compare",
      left: { kind: "path", image: "old", segments: ["status"] },
    });
    // A field named old or new, not followed by a dot, is just a field.
    expect(parse("old == 1")).toMatchObject({ left: { image: "data", segments: ["old"] } });
  });

  it("reads in, contains and matches", () => {
    expect(parse("tier in ['gold', 'silver', 3]")).toMatchObject({
      kind: "in",
      values: [{ value: "gold" }, { value: "silver" }, { value: 3 }],
    });
    expect(parse("tags contains 'vip'")).toMatchObject({
      kind: "contains",
      value: { value: "vip" },
    });
    expect(parse("email matches '@example\\.com$'")).toMatchObject({
      kind: "matches",
      pattern: { value: "@example\\.com$" },
    });
  });

  it("reads AND / OR / NOT keywords in any case as the symbols", () => {
    expect(printCondition(parse("a == 1 AND NOT b == 2 or c == 3"))).toBe(
      "a == 1 && !(b == 2) || c == 3",
    );
  });

  it("decodes \\' and \\\\ in strings and keeps other backslashes (regex-friendly)", () => {
    expect(parse("a == 'it\\'s \\\\ \\d'")).toMatchObject({ right: { value: "it's \\ \\d" } });
  });

  it("keeps integers beyond 2^53 exact and normalises -0", () => {
    expect(parse("a == 9007199254740993")).toMatchObject({ right: { value: 9007199254740993n } });
    expect(parse("a == 9007199254740991")).toMatchObject({ right: { value: 9007199254740991 } });
    expect(Object.is((parse("a == -0") as { right: { value: number } }).right.value, 0)).toBe(true);
  });

  it("records spans that point back into the source", () => {
    const source = "total > 100 && status == 'x'";
    const ast = parse(source);
    if (ast.kind !== "and") throw new Error("expected and");
    expect(source.slice(ast.right.span.start, ast.right.span.end)).toBe("status == 'x'");
  });
});

describe("parseCondition: issues a person can act on", () => {
  it.each([
    ["status == 'pending", 10, "'pending", "unterminated string"],
    ["status = 'x'", 7, "=", "write '=='"],
    ["a == 1 & b == 2", 7, "&", "write '&&'"],
    ["a == 1 | b == 2", 7, "|", "write '||'"],
    ["a <> 1", 2, "<>", "'!='"],
    ['status == "x"', 10, '"', "single quotes"],
    ["@@@invalid&&&", 0, "@", "unexpected character '@'"],
    ["total > 'abc'", 8, "'abc'", "compares numbers"],
    ["'abc' <= total", 0, "'abc'", "compares numbers"],
    ["active && total > 1", 7, "&&", "write active == true"],
    ["status ==", 9, "", "expected a field or a value"],
    ["", 0, "", "empty"],
    ["total > 100 total < 5", 12, "total", "after a complete condition"],
    ["(total > 100", 12, "", "expected ')'"],
    ["total > 100)", 11, ")", "no '(' to match"],
    ["has_field(status)", 10, "status", "has_field('status')"],
    ["has_field('a', 'b')", 15, "'b'", "takes 1 argument"],
    ["field_changed_to('a')", 0, "field_changed_to('a')", "takes 2 arguments, got 1"],
    ["unknown_fn('a')", 0, "unknown_fn", "unknown function 'unknown_fn'"],
    ["field_changed('old.status')", 14, "'old.status'", "without 'old.'"],
    ["has_field('a b')", 10, "'a b'", "not a field name"],
    ["tier in []", 9, "]", "empty"],
    ["tier in 'gold'", 8, "'gold'", "list in brackets"],
    ["'x' in ['a']", 0, "'x'", "must be a field"],
    ["name matches '(a'", 13, "'(a'", "invalid regular expression: missing closing )"],
    ["name matches '(?=a)b'", 13, "'(?=a)b'", "invalid regular expression"],
    ["name matches 5", 13, "5", "regular expression in quotes"],
    ["total > 12abc", 8, "12abc", "not a number"],
    ["customer. == 1", 8, ".", "followed by a field name"],
    ["total > 1e400", 8, "1e400", "too large a number"],
    ["status not in ['a']", 7, "not", "put NOT in front: NOT status in ..."],
  ])("%s → at %i (%s): %s", (source, position, text, message) => {
    const issue = issueOf(source);
    expect(issue.message).toContain(message);
    expect(issue.position).toBe(position);
    expect(issue.text).toBe(text);
    expect(issue.length).toBe(text.length);
  });

  it("compileCondition throws one ConditionSyntaxError carrying the issues", () => {
    let caught: unknown;
    try {
      compileCondition("total >");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConditionSyntaxError);
    const error = caught as ConditionSyntaxError;
    expect(error.code).toBe("CONDITION_SYNTAX");
    expect(error.issues[0]).toMatchObject({ position: 7, text: "" });
    expect(error.message).toContain("position 7");
  });
});
