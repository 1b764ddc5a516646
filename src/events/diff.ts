import { type JsonObject, type JsonValue, jsonEquals } from "../json.ts";
import type { FieldChange } from "./types.ts";

/**
 * The top-level fields that differ between two images. Numbers compare numerically, so `100`
 * and `100.0` (numeric(10,2) round trips) are not a change. Added fields have `old: null`, removed
 * fields `new: null`.
 */
export function diffImages(before: JsonObject, after: JsonObject): Record<string, FieldChange> {
  // No prototype: a column named __proto__ must stay a plain key.
  const changes: Record<string, FieldChange> = Object.create(null);
  for (const key of Object.keys(after)) {
    const next = after[key] as JsonValue;
    if (!Object.hasOwn(before, key)) changes[key] = { old: null, new: next };
    else if (!jsonEquals(before[key] as JsonValue, next)) {
      changes[key] = { old: before[key] as JsonValue, new: next };
    }
  }
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) changes[key] = { old: before[key] as JsonValue, new: null };
  }
  return changes;
}
