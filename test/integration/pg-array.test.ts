/**
 * Array literals (src/store/pg-array.ts) read back by PostgreSQL exactly as written: any text,
 * NULL, numbers, and NUL, which text cannot hold, as U+FFFD.
 */
import fc from "fast-check";
import type postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arrayLiteral } from "../../src/store/pg-array.ts";
import { connectTestDatabase } from "../support/postgres.ts";

let sql: postgres.Sql;
beforeAll(async () => {
  sql = await connectTestDatabase();
});
afterAll(() => sql?.end());

const readBack = async (literal: string, type = "text") => {
  // As JSON: the driver's own array parsing is not what is under test.
  const [row] = await sql.unsafe(`SELECT to_json($1::text::${type}[])::text AS a`, [literal]);
  return JSON.parse(String(row?.a)) as unknown[];
};

describe("arrayLiteral", () => {
  it("round-trips text that needs quoting, NULL beside the string 'NULL', and empty strings", async () => {
    const values = [
      'a"b',
      "c\\d",
      "{x}",
      "1,2",
      " lead",
      "tab\tnew\nline",
      "",
      "NULL",
      "null",
      null,
      "é😀",
    ];
    expect(await readBack(arrayLiteral(values))).toEqual(values);
  });

  it("replaces NUL by U+FFFD instead of failing the statement", async () => {
    expect(await readBack(arrayLiteral(["a\u0000b", "\u0000"]))).toEqual(["a\ufffdb", "\ufffd"]);
  });

  it("writes numbers and booleans for typed columns, and an empty array", async () => {
    expect(await readBack(arrayLiteral([1, null, -7]), "integer")).toEqual([1, null, -7]);
    expect(await readBack(arrayLiteral([true, false]), "boolean")).toEqual([true, false]);
    expect(await readBack(arrayLiteral([]))).toEqual([]);
  });

  it("round-trips arbitrary strings", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.string({ unit: "grapheme" }), { nil: null })),
        async (values) => {
          const expected = values.map((v) =>
            v === null ? null : v.replaceAll("\u0000", "\ufffd"),
          );
          expect(await readBack(arrayLiteral(values))).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
