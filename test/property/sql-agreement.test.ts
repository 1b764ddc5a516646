/**
 * conditionToSql agrees with the evaluator, three-valued, on a real PostgreSQL: for every
 * change-log row, SQL TRUE where the evaluator says true, FALSE where false, and NULL where it
 * throws ConditionEvaluationError.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { regexSyntaxProblem, sqlRegexProblem } from "../../src/dsl/regex.ts";
import {
  type ChangeEvent,
  type CompiledCondition,
  ConditionEvaluationError,
  compileCondition,
  conditionToSql,
  explainCondition,
  normalizeChangeEvent,
  parseCondition,
  printCondition,
} from "../../src/index.ts";
import {
  type ChangeLogRowText,
  changeLogRowTextArb,
  conditionArb,
  NON_PORTABLE_PATTERNS,
  numberValueOfText,
  PORTABLE_PATTERNS,
  portableNumberTextArb,
  sqlLiteralArb,
  vocabularyPathArb,
  walkExpr,
} from "../support/arbitraries/index.ts";
import {
  CHANGE_LOG_ROW_AS_TEXT,
  type ChangeLogDatabase,
  insertChangeLogRows,
  openChangeLogDatabase,
  textParameters,
} from "../support/postgres.ts";

let db: ChangeLogDatabase;

beforeAll(async () => {
  db = await openChangeLogDatabase("sql_agreement");
}, 30_000);

afterAll(async () => {
  await db?.close();
});

type Outcome = boolean | null;

function evaluate(condition: CompiledCondition, event: ChangeEvent): Outcome {
  try {
    return condition.evaluate(event);
  } catch (error: unknown) {
    if (error instanceof ConditionEvaluationError) return null;
    throw error;
  }
}

interface Disagreement {
  sql: Outcome;
  evaluator: Outcome;
  explained: string | undefined;
  row: ChangeLogRowText;
}

/**
 * Inserts the rows (replacing the previous batch), runs the condition's SQL over them and the
 * evaluator over each row read back, and returns where the two differ.
 */
async function disagreements(
  source: string,
  rows: readonly ChangeLogRowText[],
): Promise<Disagreement[]> {
  const compiled = conditionToSql(source);
  if (!compiled.success) {
    throw new Error(`conditionToSql refused ${source}: ${JSON.stringify(compiled.issues)}`);
  }
  const condition = compileCondition(source);
  const { sql, table } = db;
  const byId = new Map<string, ChangeLogRowText>();
  const inserts = rows.map((row, i) => {
    const id = randomUUID();
    byId.set(id, row);
    return { ...row, id, pk_entity_change_log: String(i + 1) };
  });
  await sql.unsafe(`TRUNCATE ${table}`);
  await insertChangeLogRows(sql, table, inserts);
  const query = `SELECT ${CHANGE_LOG_ROW_AS_TEXT}, (${compiled.sql}) AS r FROM ${table} e ORDER BY e.pk_entity_change_log`;
  let selected: Record<string, unknown>[];
  try {
    // Plain strings, as a caller would pass them: every placeholder is declared text.
    selected = await sql.unsafe(query, compiled.params);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`the SQL for ${source} fails in PostgreSQL: ${reason}`, { cause: error });
  }
  expect(selected).toHaveLength(rows.length);
  const found: Disagreement[] = [];
  for (const { r, ...columns } of selected) {
    const row = byId.get(columns.id as string) as ChangeLogRowText;
    const event = normalizeChangeEvent(columns);
    const outcome = evaluate(condition, event);
    const sqlOutcome = r as Outcome;
    expect([true, false, null]).toContain(sqlOutcome);
    if (outcome !== sqlOutcome) {
      const explained = explainCondition(source, event);
      found.push({
        sql: sqlOutcome,
        evaluator: outcome,
        explained: explained.success ? explained.error?.message : undefined,
        row,
      });
    }
  }
  return found;
}

async function expectAgreement(source: string, rows: readonly ChangeLogRowText[]): Promise<void> {
  const found = await disagreements(source, rows);
  if (found.length > 0) {
    // Shrinking leaves copies of one row; show each distinct disagreement once.
    const distinct = [...new Map(found.map((d) => [JSON.stringify(d), d])).values()];
    expect.fail(
      `SQL and evaluator disagree on ${found.length} of ${rows.length} rows for ${source}:\n${JSON.stringify(distinct, null, 2)}`,
    );
  }
}

const rowsArb = fc.array(changeLogRowTextArb, { minLength: 5, maxLength: 35, size: "max" });

/** Conditions over the rows' fields, with literals and patterns both sides read alike. */
const sqlConditionArb = conditionArb({
  path: vocabularyPathArb(),
  changePath: vocabularyPathArb(["data"]),
  literal: sqlLiteralArb,
  number: portableNumberTextArb.map(numberValueOfText),
  pattern: fc.constantFrom(...PORTABLE_PATTERNS),
  maxDepth: 4,
}).map(printCondition);

/** `field matches '<pattern>'` conditions for the pattern-focused properties. */
function matchesConditions(patterns: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(vocabularyPathArb(["data"]), patterns).map(([subject, value]) =>
    printCondition({
      kind: "matches",
      subject,
      pattern: { kind: "literal", value, span: subject.span },
      span: subject.span,
    }),
  );
}

/** Rows whose `status` (and other fields) hold the given strings. */
function rowsWithStatus(strings: fc.Arbitrary<string>): fc.Arbitrary<ChangeLogRowText[]> {
  return fc.array(
    strings.map(
      (status): ChangeLogRowText => ({
        form: "producer",
        modification_type: "INSERT",
        object_type: "Order",
        object_id: null,
        object_data: JSON.stringify({ status, customer: { tier: status }, tags: [status] }),
        object_data_before: null,
        fk_customer_org: null,
      }),
    ),
    { minLength: 5, maxLength: 30, size: "max" },
  );
}

/** Runs of the main property; raise it (SQL_PROPERTY_RUNS=5000) to search harder. */
const MAIN_RUNS = Number(process.env.SQL_PROPERTY_RUNS ?? 250);

describe("conditionToSql agrees with the evaluator on PostgreSQL", () => {
  it(
    "gives TRUE, FALSE and NULL exactly where the evaluator gives true, false and an error",
    async () => {
      await fc.assert(fc.asyncProperty(sqlConditionArb, rowsArb, expectAgreement), {
        numRuns: MAIN_RUNS,
      });
    },
    Math.max(120_000, MAIN_RUNS * 200),
  );

  it("reaches all three outcomes (the generators are not degenerate)", async () => {
    const seen = new Set<Outcome>();
    for (const [source, rows] of fc.sample(fc.tuple(sqlConditionArb, rowsArb), 40)) {
      const compiled = conditionToSql(source);
      if (!compiled.success) continue;
      const condition = compileCondition(source);
      for (const row of rows) {
        const event = normalizeChangeEvent({
          ...row,
          id: randomUUID(),
          created_at: new Date(),
        });
        seen.add(evaluate(condition, event));
      }
    }
    expect(seen).toEqual(new Set([true, false, null]));
  });

  it("refuses patterns with no identical PostgreSQL form, pointing at the pattern", () => {
    const nonPortable = matchesConditions(fc.constantFrom(...NON_PORTABLE_PATTERNS));
    fc.assert(
      fc.property(sqlConditionArb, nonPortable, fc.constantFrom("&&", "||"), (rest, bad, op) => {
        for (const source of [bad, `${rest} ${op} ${bad}`, `!(${bad}) ${op} (${rest})`]) {
          const parsed = parseCondition(source);
          expect(parsed.success).toBe(true);
          if (!parsed.success) return;
          const spans = [...walkExpr(parsed.ast)]
            .filter((n) => n.kind === "matches" && NON_PORTABLE_PATTERNS.includes(n.pattern.value))
            .map((n) => (n.kind === "matches" ? n.pattern.span : n.span));
          const result = conditionToSql(source);
          expect(result.success, source).toBe(false);
          if (result.success) return;
          for (const span of spans) {
            expect(result.issues).toContainEqual(
              expect.objectContaining({
                position: span.start,
                length: span.end - span.start,
                text: source.slice(span.start, span.end),
              }),
            );
          }
          for (const issue of result.issues) {
            expect(issue.text.startsWith("'")).toBe(true);
            expect(spans.map((s) => s.start)).toContain(issue.position);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

// -----------------------------------------------------------------------------------------------
// Focused properties: each probes one place where the two engines could read a value differently.

describe("conditionToSql parameters", () => {
  // ConditionSql.params are documented as text parameters. Passed to postgres.js as plain strings
  // (`sql.unsafe(query, params)`), each is serialised by the type the server infers for its
  // placeholder: `$n::jsonb` makes that JSON.stringify, so the literal 'open' arrives as the JSON
  // string "\"open\"" and equality silently fails.
  it("work when passed to postgres.js as plain strings", async () => {
    const source = "status == 'open' && tags contains 'x' && total > 1.5 && status in ['open']";
    const compiled = conditionToSql(source);
    expect(compiled.success).toBe(true);
    if (!compiled.success) return;
    const row = `SELECT 'INSERT'::text AS modification_type, '{"status":"open","tags":["x"],"total":2}'::jsonb AS object_data, NULL::jsonb AS object_data_before`;
    const query = `SELECT (${compiled.sql}) AS r FROM (${row}) e`;
    const asText = await db.sql.unsafe(query, textParameters(db.sql, compiled.params));
    expect(asText[0]?.r).toBe(true);
    const plain = await db.sql.unsafe(query, compiled.params);
    expect(plain[0]?.r).toBe(true);
  });
});

/** ASCII regular expressions built only from what sqlRegexProblem calls portable. */
const portableSyntaxPatternArb: fc.Arbitrary<string> = fc
  .letrec<{ alt: string; seq: string; atom: string }>((tie) => ({
    alt: fc.array(tie("seq"), { minLength: 1, maxLength: 3 }).map((seqs) => seqs.join("|")),
    seq: fc
      .array(
        fc
          .tuple(
            tie("atom"),
            fc.constantFrom("", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "*?", "+?"),
          )
          .map(([atom, quantifier]) => atom + quantifier),
        { minLength: 0, maxLength: 4 },
      )
      .map((parts) => parts.join("")),
    atom: fc.oneof(
      { depthIdentifier: "regex", maxDepth: 3, depthSize: "small", withCrossShrink: true },
      { weight: 6, arbitrary: fc.constantFrom("a", "b", "c", "x", ".", "A") },
      { weight: 2, arbitrary: fc.constantFrom("^", "$") },
      { weight: 2, arbitrary: fc.constantFrom("[a-c]", "[^a]", "[ab]", "[.]", "\\.", "\\n") },
      { weight: 1, arbitrary: tie("alt").map((inner) => `(${inner})`) },
      { weight: 1, arbitrary: tie("alt").map((inner) => `(?:${inner})`) },
    ),
  }))
  .alt.chain((body) => fc.constantFrom(body, `(?i)${body}`))
  // Keep what RE2 accepts and conditionToSql compiles: the patterns it promises to translate.
  .filter((pattern) => regexSyntaxProblem(pattern) === undefined && !sqlRegexProblem(pattern));

describe("conditionToSql agrees with the evaluator on focused inputs", () => {
  it("agrees on every pattern built from the syntax it calls portable (ASCII strings)", async () => {
    const strings = fc.oneof(
      fc.constantFrom("", "a", "ab", "abc", "xx", "A", "a\nb", "b\n"),
      fc.string({ unit: fc.constantFrom("a", "b", "c", "x", "A", ".", "\n"), maxLength: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(
        matchesConditions(portableSyntaxPatternArb),
        rowsWithStatus(strings),
        expectAgreement,
      ),
      { numRuns: 200 },
    );
  }, 120_000);

  it("refuses case-insensitive patterns: RE2 and PostgreSQL fold Unicode letters differently", () => {
    // RE2 folds 'ſ' (U+017F) to s and 'K' (U+212A) to k; PostgreSQL does not.
    for (const pattern of ["(?i)s", "(?i)k", "(?i)ß", "(?i)[r-t]", "(?i)ab"]) {
      const result = conditionToSql(`status matches '${pattern}'`);
      expect(result.success).toBe(false);
      if (!result.success) expect(result.issues[0]?.message).toContain("case-insensitive");
    }
  });

  // Integers of any size are meant to agree (only non-integers beyond ~15 significant digits may
  // not): these are integers whose text is not plain digits.
  const rowsWith = (texts: fc.Arbitrary<string>) =>
    fc.array(
      fc.tuple(texts, texts).map(
        ([total, price]): ChangeLogRowText => ({
          form: "producer",
          modification_type: "INSERT",
          object_type: "Order",
          object_id: null,
          object_data: `{"total":${total},"price":${price}}`,
          object_data_before: null,
          fk_customer_org: null,
        }),
      ),
      { minLength: 5, maxLength: 20 },
    );
  const comparisons = (texts: fc.Arbitrary<string>) =>
    fc
      .tuple(fc.constantFrom("==", "!=", ">", ">=", "<"), texts, fc.constantFrom("total", "price"))
      .map(([op, text, field]) => `${field} ${op} ${text}`);
  const PLAIN_INTEGERS = [
    "100000000000000000000000",
    "99999999999999991611392",
    "9007199254740993",
    "9007199254740992",
  ];

  it("agrees on integer literals written with an exponent", async () => {
    const literals = fc.constantFrom("1e23", "1E+22", "1.5e300", "9.007199254740993e15");
    const data = fc.constantFrom(
      ...PLAIN_INTEGERS,
      "1500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    );
    await fc.assert(fc.asyncProperty(comparisons(literals), rowsWith(data), expectAgreement), {
      numRuns: 40,
    });
  }, 60_000);

  it("agrees on integers stored with a fraction or an exponent", async () => {
    const literals = fc.constantFrom(...PLAIN_INTEGERS);
    const data = fc.constantFrom("9007199254740993.0", "1e23", "100000000000000000000000.00");
    await fc.assert(fc.asyncProperty(comparisons(literals), rowsWith(data), expectAgreement), {
      numRuns: 40,
    });
  }, 60_000);
});
