/**
 * Literal values as the parser produces them. They follow its normalisation (see
 * `numberValueOfText`): safe integers and non-integers are numbers, integers beyond 2^53 written
 * as plain digits are bigints, and `-0` is `0`.
 */
import fc from "fast-check";
import type { JsonPrimitive } from "../../../src/index.ts";

/**
 * The value the parser gives a JSON number written as `text`: integers beyond the safe range are
 * exact bigints however they are spelled (`1e+21`, `9007199254740993.0`); everything else is a
 * double; `-0` is `0`. (An independent statement of `parseJsonNumber`'s contract, so generators do
 * not depend on the code under test.)
 */
export function numberValueOfText(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
  if (!Number.isInteger(n)) return n;
  const [mantissa = "", exponent = "0"] = text.toLowerCase().split("e");
  const [whole = "", fraction = ""] = mantissa.split(".");
  const digits = BigInt(`${whole}${fraction}`);
  const scale = Number(exponent) - fraction.length;
  if (scale >= 0) return digits * 10n ** BigInt(scale);
  const divisor = 10n ** BigInt(-scale);
  // The double rounded to an integer, but the text's value is not one.
  return digits % divisor === 0n ? digits / divisor : n;
}

/** The literal the parser reads back from `String(n)`. */
export function canonicalNumber(n: number): number | bigint {
  return numberValueOfText(String(n));
}

/** Any string: every code point, quotes and backslashes, and lone surrogates. */
export const anyStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  {
    weight: 4,
    arbitrary: fc.string({
      unit: fc.constantFrom("'", "\\", "a", " ", "\n", "é", "😀", '"', "\t", "\u2028"),
      maxLength: 8,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
      maxLength: 2,
    }),
  },
);

const MIN_UNSAFE = BigInt(Number.MAX_SAFE_INTEGER) + 1n;

/** Integers outside the safe range, as the parser keeps them. */
export const unsafeBigIntArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: MIN_UNSAFE, max: MIN_UNSAFE + 1000n }),
  fc.bigInt({ min: -MIN_UNSAFE - 1000n, max: -MIN_UNSAFE }),
  fc.bigInt({ min: MIN_UNSAFE, max: 10n ** 40n }),
  fc.bigInt({ min: -(10n ** 40n), max: -MIN_UNSAFE }),
);

/** Any number literal value the parser can produce. */
export const anyNumberArb: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(canonicalNumber),
  fc
    .constantFrom(0.1, -0.5, 1.5, 100.25, 1e-7, 1e21, -1e21, 5e-324, Number.MAX_VALUE)
    .map(canonicalNumber),
  unsafeBigIntArb,
);

export const anyLiteralValueArb: fc.Arbitrary<JsonPrimitive> = fc.oneof(
  { weight: 3, arbitrary: anyStringArb },
  { weight: 3, arbitrary: anyNumberArb },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);
