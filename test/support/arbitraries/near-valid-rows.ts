/** Change-log rows as a driver hands them over (for normalizeChangeEvent), valid or nearly so. */
import fc from "fast-check";
import { jsonObjectArb, jsonValueArb } from "./json.ts";
import { modificationTypeArb } from "./modification-types.ts";

/** What `JSON.stringify` makes of JSON with bigints (as digits). */
export function stringifyJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "bigint") return v;
    marks.push(v.toString());
    return `\u0000bigint${marks.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? "");
}

/** Rows close to valid: every column sometimes right, sometimes wrong in some way. */
export const nearValidRowArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    id: fc.oneof({ weight: 5, arbitrary: fc.uuid() }, fc.constant(""), fc.anything()),
    pk_entity_change_log: fc.oneof(
      fc.bigInt({ min: 1n, max: 10n ** 20n }),
      fc.nat().map(String),
      fc.integer(),
      fc.constant(null),
      fc.anything(),
    ),
    object_type: fc.oneof(
      { weight: 5, arbitrary: fc.constant("Order") },
      fc.constant(""),
      fc.anything(),
    ),
    modification_type: fc.oneof(
      { weight: 5, arbitrary: modificationTypeArb },
      fc.string({ maxLength: 8 }),
      fc.anything(),
    ),
    object_id: fc.oneof(fc.string(), fc.integer(), fc.bigInt(), fc.constant(null), fc.anything()),
    object_data: fc.oneof(
      { weight: 3, arbitrary: jsonObjectArb.map(stringifyJson) },
      { weight: 3, arbitrary: jsonObjectArb },
      {
        weight: 3,
        arbitrary: fc
          .record(
            {
              op: fc.oneof(fc.constantFrom("c", "u", "d", "r"), fc.anything()),
              before: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
              after: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
              source: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
            },
            { requiredKeys: [] },
          )
          .chain((envelope) => fc.constantFrom<unknown>(envelope, stringifyJson(envelope))),
      },
      fc.constantFrom("null", "[]", "1", '"x"', "{", "", " ", '{"a":12345678901234567890', "NaN"),
      fc.constantFrom(
        '{"a":1,"a":2}',
        '{"a":12345678901234567890,"a":1}',
        '{"__proto__":{"op":"c"}}',
      ),
      jsonValueArb,
      fc.anything(),
    ),
    object_data_before: fc.oneof(
      fc.constant(null),
      jsonObjectArb.map(stringifyJson),
      jsonObjectArb,
      fc.constantFrom("null", "[1]", "{", "12345678901234567890"),
      fc.anything(),
    ),
    fk_customer_org: fc.oneof(fc.constant(null), fc.bigInt(), fc.nat().map(String), fc.anything()),
    tenant_id: fc.oneof(fc.constant(null), fc.string(), fc.anything()),
    created_at: fc.oneof(
      fc.date(),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(
        "2026-11-27 04:49:40.123456+00",
        "2026-11-27 04:49:40+05:30",
        "not a date",
        "",
        "275760-09-13",
        "+275760-09-13T00:00:00.001Z",
      ),
      fc.anything(),
    ),
    transaction_id: fc.oneof(fc.constant(null), fc.bigInt(), fc.string(), fc.anything()),
  },
  { requiredKeys: [] },
);
