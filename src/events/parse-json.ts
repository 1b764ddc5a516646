import { parse as parseLossless } from "lossless-json";
import { type JsonValue, parseJsonNumber } from "../json.ts";

/**
 * Numbers `JSON.parse` could silently round: a run of 16+ digits, or an exponent (PostgreSQL never
 * writes one, so this costs nothing on its output).
 */
const MAYBE_INEXACT = /\d{16}|\d[eE]/;

/**
 * Parses JSON text keeping integers beyond 2^53 exact (as bigint). Uses the native parser unless
 * a number might lose precision; then lossless-json, which hands us each number's text.
 */
export function parseJson(text: string): JsonValue {
  if (!MAYBE_INEXACT.test(text)) return JSON.parse(text) as JsonValue;
  return parseLossless(text, null, parseJsonNumber) as JsonValue;
}
