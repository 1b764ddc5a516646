import { parse as parseLossless } from "lossless-json";
import { type JsonValue, parseJsonNumber } from "../json.ts";

/** A run of 16+ digits may be an integer beyond 2^53, which `JSON.parse` would silently round. */
const LONG_DIGITS = /\d{16}/;

/**
 * Parses JSON text keeping integers beyond 2^53 exact (as bigint). Uses the native parser unless
 * the text holds a long digit run; then lossless-json, which hands us each number's text.
 */
export function parseJson(text: string): JsonValue {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text) as JsonValue;
  return parseLossless(text, null, parseJsonNumber) as JsonValue;
}
