/**
 * The values the SQL agreement tests share between rows and conditions: number texts and strings
 * on which JavaScript and PostgreSQL agree, and the field paths the rows fill.
 */
import fc from "fast-check";
import type { JsonPrimitive, PathImage } from "../../../src/index.ts";
import { numberValueOfText } from "./literals.ts";
import { pathNode } from "./nodes.ts";

/**
 * Number texts on which a JavaScript double and PostgreSQL's numeric agree: integers of any size
 * written as plain digits, and decimals of at most 12 significant digits between 1e-20 and 1e15.
 */
export const portableNumberTextArb: fc.Arbitrary<string> = fc.oneof(
  {
    // Few values, so rows and conditions often name the same number (in different spellings).
    weight: 8,
    arbitrary: fc.constantFrom(
      "0",
      "1",
      "-1",
      "100",
      "100.00",
      "100.0",
      "1e2",
      "99.99",
      "1.5",
      "0.1",
      "0.10",
      "9007199254740993",
      "12345678901234567890",
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "-0",
      "7",
      "10",
      "99",
      "101",
      "-100",
      "1000",
      "9007199254740991",
      "9007199254740992",
      "-9007199254740993",
      "100000000000000000000000",
      "1.0E+2",
      "100.5",
      "0.5",
      "-0.5",
      "2.50",
      "0.0",
      "-0.0",
      "1.5e-7",
      "3.14159265358",
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 200 }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: -999_999, max: 999_999 }), fc.integer({ min: -14, max: 8 }))
      .map(([mantissa, exponent]) => `${mantissa}e${exponent}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: -99_999_999, max: 99_999_999 }), fc.integer({ min: 1, max: 4 }))
      .map(([units, scale]) => {
        const sign = units < 0 ? "-" : "";
        const digits = String(Math.abs(units)).padStart(scale + 1, "0");
        return `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
      }),
  },
);

/** Strings PostgreSQL can store (no NUL, no lone surrogate) that the portable patterns care about. */
export const SQL_STRINGS: readonly string[] = [
  "open",
  "closed",
  "OPEN",
  "Open ",
  "ab",
  "AB",
  "aB",
  "xabx",
  "cd",
  "abc",
  "a\nc",
  "a.c",
  "xx",
  "xxx",
  "b",
  "ab\n",
  "",
  "a",
  "it's",
  "back\\slash",
  "gold",
  "silver",
  "100",
  "é",
  "日本",
  "😀",
];

/** The strings rows' fields usually hold. */
export const COMMON_STRINGS: readonly string[] = [
  "open",
  "closed",
  "OPEN",
  "ab",
  "xabx",
  "a\nc",
  "cd",
  "gold",
  "silver",
  "x",
];

export const sqlStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...COMMON_STRINGS) },
  { weight: 3, arbitrary: fc.constantFrom(...SQL_STRINGS) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: "binary", maxLength: 6 }).map((s) => s.replaceAll("\u0000", "")),
  },
);

/** A literal in a condition for the SQL tests: the same strings and numbers the rows hold. */
export const sqlLiteralArb: fc.Arbitrary<JsonPrimitive> = fc.oneof(
  { weight: 4, arbitrary: sqlStringArb },
  { weight: 4, arbitrary: portableNumberTextArb.map(numberValueOfText) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Field paths the SQL tests' rows fill often, sometimes not at all. */
export const FIELD_VOCABULARY: readonly (readonly string[])[] = [
  ["status"],
  ["total"],
  ["price"],
  ["tags"],
  ["tags", "0"],
  ["customer"],
  ["customer", "tier"],
  ["items"],
  ["items", "0"],
  ["items", "0", "sku"],
  ["items", "1", "qty"],
  ["items", "4294967296", "sku"],
  ["tags", "01"],
  ["op"],
  ["note"],
  ["flag"],
  ["missing"],
];

export function vocabularyPathArb(images: readonly PathImage[] = ["data", "old", "new"]) {
  return fc
    .tuple(
      fc.constantFrom(...images, ...(images.includes("data") ? (["data", "data"] as const) : [])),
      fc.constantFrom(...FIELD_VOCABULARY),
    )
    .map(([image, segments]) => pathNode(image, [...segments]));
}
