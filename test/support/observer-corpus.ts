/**
 * A corpus of observers as clients write them, valid and invalid, covering every top-level field
 * and the odd values schemas trip on (padding, case, bounds, -0, code points, placeholders). The
 * observer schema's table test (test/unit/observer-corpus.test.ts) runs it through the core and
 * through the API.
 */
import fc from "fast-check";
import { designExample, exampleWebhook as webhook } from "./observer-definitions.ts";

export type Json = Record<string, unknown>;

export const base: Json = { name: "order-shipped", actions: [webhook] };
const with_ = (fields: Json): Json => ({ ...base, ...fields });
const retry = (config: unknown): Json => with_({ retry_config: config });

/** DESIGN section 3's example (every field), with a second action. */
const design = designExample();
export const full: Json = {
  ...design,
  actions: [
    ...design.actions,
    { type: "log", level: "WARN", message_template: "order {{ entity_id }} shipped" },
  ],
};

const withoutName = (): Json => {
  const { name: _, ...rest } = base;
  return rest;
};
const withoutActions = (): Json => {
  const { actions: _, ...rest } = base;
  return rest;
};
const protoKey = (): Json =>
  JSON.parse(`{"name":"a","actions":[${JSON.stringify(webhook)}],"__proto__":{"x":1}}`);

/** [what it is, the observer, whether it is valid] */
export const CORPUS: [string, unknown, boolean][] = [
  ["minimal", base, true],
  ["DESIGN's example", full, true],
  // name
  ["name missing", withoutName(), false],
  ["name empty", with_({ name: "" }), false],
  ["name whitespace", with_({ name: " \t\n " }), false],
  ["name padded", with_({ name: "  padded  " }), true],
  ["name 255 characters", with_({ name: "n".repeat(255) }), true],
  ["name 256 characters", with_({ name: "n".repeat(256) }), false],
  ["name 255 characters, padded", with_({ name: ` ${"n".repeat(255)} ` }), true],
  // Characters are code points (PostgreSQL's length(), JSON Schema's maxLength), not UTF-16 units.
  ["name 255 emoji (510 UTF-16 units)", with_({ name: "😀".repeat(255) }), true],
  ["name 256 emoji", with_({ name: "😀".repeat(256) }), false],
  ["name a number", with_({ name: 42 }), false],
  ["name null", with_({ name: null }), false],
  // description
  ["description null", with_({ description: null }), true],
  ["description empty", with_({ description: "" }), true],
  ["description a number", with_({ description: 1 }), false],
  ["description an array", with_({ description: ["a"] }), false],
  ["description an object", with_({ description: {} }), false],
  // entity_type
  ["entity_type null", with_({ entity_type: null }), true],
  ["entity_type empty", with_({ entity_type: "" }), false],
  ["entity_type whitespace", with_({ entity_type: "  " }), false],
  ["entity_type padded", with_({ entity_type: " Order " }), true],
  ["entity_type a number", with_({ entity_type: 3 }), false],
  // event_type
  ["event_type lower case", with_({ event_type: "insert" }), true],
  ["event_type mixed case", with_({ event_type: "Delete" }), true],
  ["event_type CUSTOM", with_({ event_type: "custom" }), true],
  ["event_type dotless i (upper-cases to INSERT)", with_({ event_type: "ınsert" }), true],
  ["event_type unknown", with_({ event_type: "UPSERT" }), false],
  ["event_type empty", with_({ event_type: "" }), false],
  ["event_type padded", with_({ event_type: " UPDATE" }), false],
  ["event_type null", with_({ event_type: null }), true],
  ["event_type a number", with_({ event_type: 1 }), false],
  // condition_expression
  ["condition valid", with_({ condition_expression: "status == 'shipped'" }), true],
  [
    "condition with functions",
    with_({ condition_expression: "has_field('a') && !(b == 1)" }),
    true,
  ],
  ["condition with a bare negated path", with_({ condition_expression: "!b" }), false],
  ["condition invalid", with_({ condition_expression: "status ==" }), false],
  ["condition unbalanced", with_({ condition_expression: "(a == 1" }), false],
  ["condition blank", with_({ condition_expression: "   " }), true],
  ["condition empty", with_({ condition_expression: "" }), true],
  ["condition null", with_({ condition_expression: null }), true],
  ["condition a boolean", with_({ condition_expression: true }), false],
  // actions
  ["actions missing", withoutActions(), false],
  ["actions empty", with_({ actions: [] }), false],
  ["actions 32", with_({ actions: Array.from({ length: 32 }, () => webhook) }), true],
  ["actions 33", with_({ actions: Array.from({ length: 33 }, () => webhook) }), false],
  ["actions an object", with_({ actions: webhook }), false],
  ["action null", with_({ actions: [null] }), false],
  ["action without a type", with_({ actions: [{ url: "https://example.com" }] }), false],
  ["action of an unknown type", with_({ actions: [{ type: "fax", to: "1" }] }), false],
  ["action type a number", with_({ actions: [{ type: 1 }] }), false],
  ["webhook without url", with_({ actions: [{ type: "webhook" }] }), false],
  ["webhook ftp url", with_({ actions: [{ type: "webhook", url: "ftp://x.test/" }] }), false],
  ["webhook unknown field", with_({ actions: [{ ...webhook, colour: "red" }] }), false],
  [
    "webhook reserved header",
    with_({ actions: [{ ...webhook, headers: { "webhook-id": "x" } }] }),
    false,
  ],
  [
    "webhook secret redacted",
    with_({ actions: [{ ...webhook, signing_secret: "[REDACTED]" }] }),
    false,
  ],
  [
    "webhook header redacted",
    with_({ actions: [{ ...webhook, headers: { authorization: "[REDACTED]" } }] }),
    false,
  ],
  [
    "webhook plain secret redacted",
    with_({
      actions: [{ ...webhook, signature_scheme: "fraiseql", signing_secret: ["s", "[REDACTED]"] }],
    }),
    false,
  ],
  [
    "webhook header named __proto__ (dropped by both)",
    with_({ actions: [{ ...webhook, headers: JSON.parse('{"__proto__": "x"}') }] }),
    true,
  ],
  ["webhook headers an array", with_({ actions: [{ ...webhook, headers: ["v"] }] }), false],
  ["retry_config an empty array", with_({ retry_config: [] }), false],
  ["log without template", with_({ actions: [{ type: "log" }] }), false],
  ["log bad template", with_({ actions: [{ type: "log", message_template: "{{" }] }), false],
  [
    "log level upper case",
    with_({ actions: [{ type: "log", level: "ERROR", message_template: "x" }] }),
    true,
  ],
  // retry_config
  ["retry null", retry(null), true],
  ["retry empty", retry({}), true],
  [
    "retry fields null",
    retry({
      max_attempts: null,
      backoff_strategy: null,
      initial_delay_ms: null,
      max_delay_ms: null,
    }),
    true,
  ],
  ["retry max_attempts 0", retry({ max_attempts: 0 }), false],
  ["retry max_attempts 1", retry({ max_attempts: 1 }), true],
  ["retry max_attempts 100", retry({ max_attempts: 100 }), true],
  ["retry max_attempts 101", retry({ max_attempts: 101 }), false],
  ["retry max_attempts 2.5", retry({ max_attempts: 2.5 }), false],
  ["retry max_attempts a string", retry({ max_attempts: "3" }), false],
  ["retry backoff linear", retry({ backoff_strategy: "linear" }), true],
  ["retry backoff fixed", retry({ backoff_strategy: "fixed" }), true],
  ["retry backoff upper case", retry({ backoff_strategy: "LINEAR" }), false],
  ["retry backoff unknown", retry({ backoff_strategy: "random" }), false],
  ["retry initial_delay_ms -1", retry({ initial_delay_ms: -1 }), false],
  ["retry initial_delay_ms 0", retry({ initial_delay_ms: 0 }), true],
  ["retry initial_delay_ms a day", retry({ initial_delay_ms: 86_400_000 }), true],
  ["retry initial_delay_ms a day + 1", retry({ initial_delay_ms: 86_400_001 }), false],
  ["retry max_delay_ms a day + 1", retry({ max_delay_ms: 86_400_001 }), false],
  ["retry max_delay_ms 0.5", retry({ max_delay_ms: 0.5 }), false],
  ["retry max < initial", retry({ initial_delay_ms: 1000, max_delay_ms: 999 }), false],
  ["retry max = initial", retry({ initial_delay_ms: 1000, max_delay_ms: 1000 }), true],
  ["retry max < default initial", retry({ max_delay_ms: 499 }), false],
  ["retry initial above default max, no max", retry({ initial_delay_ms: 60_000 }), true],
  [
    "retry initial above default max, max null",
    retry({ initial_delay_ms: 60_000, max_delay_ms: null }),
    true,
  ],
  ["retry unknown field", retry({ jitter: true }), false],
  ["retry a string", retry("fast"), false],
  ["retry a number", retry(3), false],
  ["retry an array of one", retry([1]), false],
  // enabled, priority, timeout_ms
  ["enabled false", with_({ enabled: false }), true],
  ["enabled a string", with_({ enabled: "true" }), false],
  ["enabled a number", with_({ enabled: 1 }), false],
  ["enabled null", with_({ enabled: null }), false],
  ["priority negative", with_({ priority: -5 }), true],
  ["priority -0", with_({ priority: -0 }), true],
  ["priority 1.5", with_({ priority: 1.5 }), false],
  ["priority a string", with_({ priority: "1" }), false],
  ["priority null", with_({ priority: null }), false],
  ["priority INTEGER max", with_({ priority: 2_147_483_647 }), true],
  ["priority INTEGER min", with_({ priority: -2_147_483_648 }), true],
  ["priority INTEGER max + 1", with_({ priority: 2_147_483_648 }), false],
  ["priority INTEGER min - 1", with_({ priority: -2_147_483_649 }), false],
  ["priority unsafe integer", with_({ priority: 2 ** 53 }), false],
  ["priority Infinity (1e400)", with_({ priority: Number.POSITIVE_INFINITY }), false],
  ["priority NaN", with_({ priority: Number.NaN }), false],
  ["timeout_ms 0", with_({ timeout_ms: 0 }), false],
  ["timeout_ms 1", with_({ timeout_ms: 1 }), true],
  ["timeout_ms 15 minutes", with_({ timeout_ms: 900_000 }), true],
  ["timeout_ms 15 minutes + 1", with_({ timeout_ms: 900_001 }), false],
  ["timeout_ms 1.5", with_({ timeout_ms: 1.5 }), false],
  ["timeout_ms unsafe integer", with_({ timeout_ms: 2 ** 53 + 2 }), false],
  ["timeout_ms a string", with_({ timeout_ms: "1000" }), false],
  // the object itself
  ["unknown field", with_({ colour: "red" }), false],
  ["id is not an input", with_({ id: "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42" }), false],
  ["__proto__ key", protoKey(), false],
  ["null", null, false],
  ["an array", [base], false],
  ["a string", "observer", false],
];

// ---------------------------------------------------------------------------------------------
// Mutations of a valid observer: drop a field, replace one (at any depth) with arbitrary JSON, or
// add one

type Path = (string | number)[];

function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== "object" || value === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
}

function update(
  value: unknown,
  path: Path,
  replace: (old: unknown) => unknown | typeof DROP,
): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replace(value);
  if (Array.isArray(value)) {
    const items = value.map((item, index) => (index === head ? update(item, rest, replace) : item));
    return items.filter((item) => item !== DROP);
  }
  const entries = Object.entries(value as Json)
    .map(([key, item]): [string, unknown] => [
      key,
      key === head ? update(item, rest, replace) : item,
    ])
    .filter(([, item]) => item !== DROP);
  return Object.fromEntries(entries);
}

const DROP = Symbol("drop");

/** JSON values, with the odd ones the schemas care about (empty, padded, -0, bounds). */
export const jsonArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "",
      "  ",
      " x ",
      "insert",
      "custom",
      "linear",
      "status == 'a'",
      "a ==",
      0,
      -0,
      1,
      -1,
      0.5,
      100,
      101,
      2 ** 31,
      2 ** 53,
      900_000,
      900_001,
      86_400_001,
      null,
      true,
      [],
      {},
      [webhook],
      { max_attempts: 2 },
      "[REDACTED]",
      "😀".repeat(200),
    ),
  },
);

export function mutationArb(valid: Json): fc.Arbitrary<{ label: string; value: unknown }> {
  const paths = pathsOf(valid);
  const drop = fc.constantFrom(...paths).map((path) => ({
    label: `drop ${path.join(".")}`,
    value: update(valid, path, () => DROP),
  }));
  const replace = fc.tuple(fc.constantFrom(...paths), jsonArb).map(([path, json]) => ({
    label: `${path.join(".")} = ${JSON.stringify(json)}`,
    value: update(valid, path, () => json),
  }));
  const add = fc
    .tuple(
      fc.constantFrom<Path>([], ["retry_config"], ["actions", 0], ["actions", 0, "headers"]),
      fc.oneof(
        fc.constantFrom("colour", "id", "__proto__", "constructor", "x-extra"),
        fc.string({ maxLength: 6 }),
      ),
      jsonArb,
    )
    .map(([path, key, json]) => ({
      label: `${[...path, key].join(".")} += ${JSON.stringify(json)}`,
      value: update(valid, path, (old) =>
        Object.fromEntries([...Object.entries(old as Json), [key, json]]),
      ),
    }));
  const several = fc
    .array(fc.tuple(fc.constantFrom(...paths.filter((p) => p.length === 1)), jsonArb), {
      minLength: 2,
      maxLength: 4,
    })
    .map((changes) => ({
      label: changes
        .map(([path, json]) => `${path.join(".")} = ${JSON.stringify(json)}`)
        .join(", "),
      value: changes.reduce<unknown>(
        (value, [path, json]) => update(value, path, () => json),
        valid,
      ),
    }));
  return fc.oneof(drop, replace, add, several);
}
