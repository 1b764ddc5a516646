/**
 * JSON values and change events as they exist in memory (src/events/types.ts): bigints beyond
 * 2^53, NaN, infinities, -0 and awkward keys such as `__proto__`.
 */
import fc from "fast-check";
import type { ChangeEvent, EventType, JsonObject, JsonValue } from "../../../src/index.ts";
import { diffImages, EVENT_TYPES } from "../../../src/index.ts";
import { anyNumberArb, anyStringArb } from "./literals.ts";
import { OP_BY_TYPE } from "./modification-types.ts";

/** Keys conditions in the tests name, so generated paths often find something. */
export const FIELD_KEYS = ["status", "total", "price", "tags", "customer", "items", "note", "flag"];
const ODD_KEYS = [
  "__proto__",
  "constructor",
  "toString",
  "length",
  "0",
  "1",
  "",
  "a b",
  "ü",
  "tier",
];

const jsonKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELD_KEYS) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);

/** Numbers as events may carry them: anything JSON gives, plus NaN, infinities and -0. */
const eventNumberArb: fc.Arbitrary<number | bigint> = fc.oneof(
  { weight: 6, arbitrary: anyNumberArb },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity, -0) },
);

const jsonScalarArb: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: anyStringArb },
  { weight: 2, arbitrary: fc.constantFrom("open", "closed", "ab", "a\nc", "") },
  { weight: 3, arbitrary: eventNumberArb },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

function objectOf(entries: [string, JsonValue][]): JsonObject {
  // Object.fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(entries) as JsonObject;
}

/** Arbitrary JSON (as events carry it: bigints beyond 2^53), nested a few levels. */
export const jsonValueArb: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: "small", depthIdentifier: "json", withCrossShrink: true },
    { weight: 4, arbitrary: jsonScalarArb },
    { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.tuple(jsonKeyArb, tie("value")), { selector: ([k]) => k, maxLength: 4 })
        .map(objectOf),
    },
  ),
})).value;

/** A row image: an object with some of the usual fields and a few others. */
export const jsonObjectArb: fc.Arbitrary<JsonObject> = fc
  .uniqueArray(fc.tuple(jsonKeyArb, jsonValueArb), { selector: ([k]) => k, maxLength: 6 })
  .map(objectOf);

/** Change events of every type, with any (or no) images. */
export const changeEventArb: fc.Arbitrary<ChangeEvent> = fc
  .record({
    id: fc.uuid(),
    sequence: fc.option(fc.bigInt({ min: 1n, max: 10n ** 12n }).map(String)),
    entity_type: fc.constantFrom("Order", "Customer"),
    entity_id: fc.option(fc.string({ maxLength: 6 })),
    event_type: fc.constantFrom<EventType>(...EVENT_TYPES),
    before: fc.option(jsonObjectArb, { freq: 3 }),
    after: fc.option(jsonObjectArb, { freq: 3 }),
    tenant_id: fc.option(fc.constantFrom("1", "42")),
    transaction_id: fc.option(fc.constantFrom("7", "8")),
  })
  .map(
    (e): ChangeEvent => ({
      ...e,
      op: OP_BY_TYPE[e.event_type],
      changes:
        e.event_type === "UPDATE" && e.before && e.after ? diffImages(e.before, e.after) : null,
      timestamp: "2026-01-01T00:00:00.000Z",
      source: null,
    }),
  );
