import { type Lookup, MISSING } from "../dsl/paths.ts";
import { stringifyJson } from "../json.ts";

/** Turns a looked-up value into the text a placeholder is replaced with. */
export type Formatter = (value: Lookup) => string;

const LINE_SEPARATORS = /[\u2028\u2029]/g;
/** Characters a JSON string cannot hold raw (plus those we escape anyway, and any surrogate). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings may not hold them raw; finding them is the point.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

/**
 * Valid JSON allows U+2028/U+2029 raw, but JavaScript before ES2019 (and JSONP-style embedding)
 * treats them as line ends; escaping them costs nothing and they only ever occur inside strings.
 */
function escapeLineSeparators(json: string): string {
  return json.replace(LINE_SEPARATORS, (char) => (char === "\u2028" ? "\\u2028" : "\\u2029"));
}

/** A string's JSON-escaped characters, without quotes. Most values need no escaping: skip the work. */
function escapeString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return escapeLineSeparators(JSON.stringify(text).slice(1, -1));
}

/** Text mode: strings raw, other values as JSON text; missing and null are "". */
export function formatText(value: Lookup): string {
  if (value === MISSING || value === null || value === undefined) return "";
  return typeof value === "string" ? value : stringifyJson(value);
}

/** Inside a JSON string: the text-mode text, escaped, without quotes (so it cannot end the string). */
export function formatJsonStringContent(value: Lookup): string {
  return escapeString(formatText(value));
}

/** Outside JSON strings: one complete JSON token; missing is `null`. */
export function formatJsonToken(value: Lookup): string {
  switch (typeof value) {
    case "string":
      return `"${escapeString(value)}"`;
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "object":
      return value === null ? "null" : escapeLineSeparators(stringifyJson(value));
    default:
      // MISSING (a symbol), or undefined from a hand-built event.
      return "null";
  }
}
