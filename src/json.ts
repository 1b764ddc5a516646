/**
 * JSON values as events carry them. Integers beyond 2^53 arrive as `bigint` (see
 * `events/parse-json.ts`) so that identifiers and money in minor units compare exactly.
 */
export type JsonPrimitive = string | number | bigint | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** A JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON number, as a double or as an exact bigint. */
export function isNumeric(value: unknown): value is number | bigint {
  return typeof value === "number" || typeof value === "bigint";
}

/** Integers longer than this stay doubles: exactness is not worth an unbounded bigint. */
const MAX_EXACT_DIGITS = 400;
const NUMBER_PARTS = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * A JSON number's text as a value. Integers beyond 2^53 stay exact as bigint however they are
 * written (`9007199254740993`, `9007199254740993.0`, `1e23`), as PostgreSQL's numeric keeps them;
 * other numbers are doubles. `-0` is `0`.
 */
export function parseJsonNumber(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
  if (Number.isFinite(n) && !Number.isInteger(n)) return n;
  // An integer beyond 2^53 (or beyond the range of doubles): spell it out exactly.
  const parts = NUMBER_PARTS.exec(text);
  if (!parts) return n;
  const [, sign, whole, fraction = "", exponent = "0"] = parts;
  let digits = `${whole}${fraction}`.replace(/^0+(?=\d)/, "");
  let scale = Number(exponent) - fraction.length;
  while (scale < 0 && digits.endsWith("0")) {
    digits = digits.slice(0, -1);
    scale++;
  }
  if (scale < 0 || digits.length + scale > MAX_EXACT_DIGITS) return n;
  const value = BigInt(digits) * 10n ** BigInt(scale);
  return sign === "-" ? -value : value;
}

function toExactInteger(value: number | bigint): bigint | undefined {
  if (typeof value === "bigint") return value;
  return Number.isInteger(value) ? BigInt(value) : undefined;
}

/**
 * Orders two numbers the way a person expects: `100.00` equals `100`, and integers compare exactly
 * even beyond 2^53. Returns NaN when either side is NaN.
 */
export function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === "number" && typeof b === "number") {
    return a < b ? -1 : a > b ? 1 : a === b ? 0 : Number.NaN;
  }
  const ia = toExactInteger(a);
  const ib = toExactInteger(b);
  if (ia !== undefined && ib !== undefined) return ia < ib ? -1 : ia > ib ? 1 : 0;
  const fa = Number(a);
  const fb = Number(b);
  return fa < fb ? -1 : fa > fb ? 1 : fa === fb ? 0 : Number.NaN;
}

/**
 * Deep JSON equality where numbers compare numerically (as PostgreSQL's `jsonb =` does) and
 * nothing else is coerced: a number never equals a string.
 */
export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (isNumeric(a)) return isNumeric(b) && compareNumbers(a, b) === 0;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!jsonEquals(a[i] as JsonValue, b[i] as JsonValue)) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !jsonEquals(a[key] as JsonValue, b[key] as JsonValue)) {
      return false;
    }
  }
  return true;
}

/** The JSON type name of a value, for error messages. */
export function jsonTypeOf(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "bigint") return "number";
  return typeof value;
}

/** A short rendering of a value for error messages and explanations. */
export function previewJson(value: JsonValue, max = 60): string {
  const text =
    typeof value === "string"
      ? `'${value}'`
      : JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * JSON text of a value, bigints included (as exact integer literals, which `JSON.stringify`
 * refuses). The common case, no bigint anywhere, takes the native path.
 */
export function stringifyJson(value: JsonValue): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return stringifyWithBigints(value);
  }
}

function stringifyWithBigints(value: JsonValue): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(stringifyWithBigints).join(",")}]`;
  if (isJsonObject(value)) {
    const members: string[] = [];
    for (const [key, member] of Object.entries(value)) {
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${stringifyWithBigints(member)}`);
    }
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}
