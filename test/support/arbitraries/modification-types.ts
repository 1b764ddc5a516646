/**
 * The `modification_type` column of the change log, and the event type and Debezium `op` each
 * value stands for.
 */
import fc from "fast-check";
import type { EventType } from "../../../src/index.ts";

const MODIFICATION_TYPES = ["INSERT", "UPDATE", "DELETE", "CUSTOM", "READ", "NOOP"] as const;

export const modificationTypeArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      // Updates are where field_changed* and the two images matter most.
      { weight: 4, arbitrary: fc.constant("UPDATE") },
      { weight: 2, arbitrary: fc.constantFrom("INSERT", "DELETE") },
      { weight: 1, arbitrary: fc.constantFrom(...MODIFICATION_TYPES) },
    ),
    fc.constantFrom("upper", "lower", "title"),
  )
  .map(([t, style]) =>
    style === "upper" ? t : style === "lower" ? t.toLowerCase() : t[0] + t.slice(1).toLowerCase(),
  );

/** The event type each modification type stands for (case aside). */
export const CANONICAL: Record<string, EventType> = {
  INSERT: "INSERT",
  UPDATE: "UPDATE",
  DELETE: "DELETE",
  CUSTOM: "CUSTOM",
  READ: "CUSTOM",
  NOOP: "CUSTOM",
  SCHEDULE: "SCHEDULE",
};

/** The Debezium `op` of each event type. */
export const OP_BY_TYPE = {
  INSERT: "c",
  UPDATE: "u",
  DELETE: "d",
  CUSTOM: "r",
  SCHEDULE: "r",
} as const;
