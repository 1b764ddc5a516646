/**
 * Hostile request bodies against every write operation of the management API's own OpenAPI
 * document, with the admin token, over a real migrated database: wrong types at every field of a
 * valid observer, huge strings (and bodies over the 1 MiB limit), prototype keys, lone surrogates
 * and raw invalid UTF-8, JSON nested 10 000 levels deep, numbers JSON.parse cannot keep exactly,
 * non-JSON content types, empty bodies and non-objects at the top. Never a 5xx; every 4xx is a
 * problem document with a string `code`; every response matches the document (the client checks).
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { jsonDepthExceeds, unstorableTextPath } from "../../src/api/body-guard.ts";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from "../../src/api/limits.ts";
import { openApiDocument } from "../../src/api/openapi.ts";
import { isJsonObject } from "../../src/json.ts";
import { observerDefinitionSchema } from "../../src/observers/schema.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { redactedPlaceholders } from "../../src/store/redact.ts";
import { safeParseConfig } from "../../src/validation.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-hostile-bodies-0123";

const runtime = stubRuntime();

let db: TestDatabase;
let app: ReturnType<typeof createObserversApi>;
let call: ReturnType<typeof apiClient>;
/** Receives the bodies of operations that read one (PATCH, test, backtest). */
let targetId: string;
/** The `{id}` of observer operations that read no body (deleted by the first DELETE). */
let victimId: string;

// ---------------------------------------------------------------------------------------------
// Bodies as JSON text

/** A JSON value written exactly as `text` (numbers JSON.stringify cannot write). */
class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}
type Tree = RawJson | null | boolean | number | string | Tree[] | { [key: string]: Tree };
type PathItem = string | number;

/** JSON text of `value`; own `__proto__` keys stay keys, lone surrogates become `\ud800`. */
function serialize(value: Tree): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(serialize).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** An object with `key` set as an own data property, even `__proto__`. */
function withKey(object: { [key: string]: Tree }, key: string, value: Tree) {
  return Object.fromEntries([...Object.entries(object).filter(([k]) => k !== key), [key, value]]);
}

function getAt(value: Tree, path: readonly PathItem[]): Tree {
  let node = value;
  for (const step of path) node = (node as Record<PathItem, Tree>)[step] as Tree;
  return node;
}

/** `value` with the node at `path` replaced (copies along the path; other nodes shared). */
function replaceAt(value: Tree, path: readonly PathItem[], replacement: Tree): Tree {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(value)) {
    return value.map((item, index) => (index === head ? replaceAt(item, rest, replacement) : item));
  }
  const object = value as { [key: string]: Tree };
  return withKey(object, String(head), replaceAt(object[String(head)] as Tree, rest, replacement));
}

/** Every path below the root. */
function pathsOf(value: Tree, prefix: PathItem[] = []): PathItem[][] {
  if (value instanceof RawJson || value === null || typeof value !== "object") return [];
  const entries: [PathItem, Tree][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
}

type Kind = "string" | "number" | "boolean" | "null" | "array" | "object";
function kindOf(value: Tree): Kind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as Kind;
}

/** A valid observer touching every top-level field and two actions. */
function validObserver(name = `hostile-${randomUUID()}`): { [key: string]: Tree } {
  return {
    name,
    description: "watches orders",
    entity_type: "Order",
    event_type: "update",
    condition_expression: "status == 'shipped' && total > 100",
    actions: [
      {
        type: "webhook",
        url: "https://example.com/hook",
        headers: { "x-team": "ops" },
        signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      },
      { type: "log", level: "info", message_template: "order {{ entity_id }}" },
    ],
    on_dead_letter: [
      {
        type: "webhook",
        url: "https://oncall.example.com/page",
        body_template:
          '{"text": "{{ dead_letter.error_code }} on {{ dead_letter.observer.name }}"}',
        rate_limit_per_second: 2,
      },
    ],
    retry_config: {
      max_attempts: 3,
      backoff_strategy: "linear",
      initial_delay_ms: 100,
      max_delay_ms: 1000,
    },
    enabled: true,
    priority: 5,
    timeout_ms: 1000,
  };
}

type Body = { [key: string]: Tree };

/** A valid body of each operation that reads one (`{id}` is a live observer's). */
const VALID_BODIES: Readonly<Record<string, () => Body>> = {
  "POST /api/observers": () => validObserver(),
  "POST /api/sources": () => ({
    name: `source-${randomUUID()}`,
    kind: "mysql",
    url: "mysql://reader:secret@127.0.0.1:3306",
    start: "now",
    tables: [
      {
        table: "app.orders",
        entity_type: "Order",
        id_column: "id",
        tenant_column: "org",
        columns: ["id", "org", "total"],
      },
    ],
  }),
  "PATCH /api/observers/{id}": () => validObserver(),
  "POST /api/observers/{id}/test": () => ({
    event: {
      object_type: "Order",
      modification_type: "UPDATE",
      object_id: "42",
      object_data: { status: "shipped", total: 120, customer: { tier: "gold" } },
      object_data_before: { status: "new", total: 120 },
      fk_customer_org: null,
      created_at: "2026-01-02T03:04:05Z",
    },
    condition_expression: "status == 'shipped' && customer.tier == 'gold'",
    send: false,
  }),
  "POST /api/observers/{id}/backtest": () => ({
    // Within the 31 days a backtest may span.
    since: "2026-01-01T00:00:00Z",
    until: "2026-01-31T00:00:00+02:00",
    condition_expression: "status == 'shipped' && total > 100",
    samples: 5,
  }),
  "POST /api/observers/dlq/retry-all": () => ({
    observer_id: randomUUID(),
    error_code: "HTTP_STATUS",
    since: "2020-01-01T00:00:00Z",
    until: "2030-01-01T00:00:00Z",
  }),
  "POST /api/keys": () => ({ name: `key-${randomUUID()}`, scope: "read", fk_customer_org: 7 }),
  "POST /api/observers/validate": () => ({ condition_expression: "status == 'shipped'" }),
  "POST /api/observers/{id}/schedule": () => ({
    // A one-off event within the year ahead it may be scheduled in.
    run_at: new Date(Date.now() + 3_600_000).toISOString(),
    payload: { reason: "reminder", order: { id: 42 } },
  }),
  "POST /api/jobs/cancel": () => ({ task: "report", status: "pending" }),
  "POST /api/observers/{id}/replay": () => ({
    since: "2026-01-01T00:00:00Z",
    until: "2026-01-02T00:00:00Z",
    dry_run: true,
  }),
  "POST /api/observers/deliveries/cancel": () => ({
    observer_id: targetId,
    entity_type: "Order",
    entity_id: "42",
    action_index: 0,
    created_before: "2030-01-01T00:00:00Z",
    dry_run: true,
  }),
};

// ---------------------------------------------------------------------------------------------
// Hostile bodies and what each must answer

/** A request body and, where it is certain, the status a body-reading operation must answer. */
interface Hostile {
  label: string;
  body: string | Uint8Array | undefined;
  /** Default `application/json`; null sends none. */
  contentType?: string | null;
  /** The status every operation that reads a body answers (other write operations: any < 500). */
  bodyStatus?: number;
  /** The status every operation answers, with or without a body of its own (413). */
  allStatus?: number;
}

const JSON_TYPE = "application/json";
const encoder = new TextEncoder();

function json(label: string, tree: Tree, extra: Partial<Hostile> = {}): Hostile {
  return { label, body: serialize(tree), ...extra };
}

/** JSON text with `bytes` (not UTF-8) in place of `marker`. */
function withBytes(label: string, tree: Tree, marker: string, bytes: readonly number[]): Hostile {
  const [before = "", after = ""] = serialize(tree).split(marker);
  const body = new Uint8Array([...encoder.encode(before), ...bytes, ...encoder.encode(after)]);
  return { label, body };
}

function nested(depth: number, shape: "array" | "object", leaf = "0"): string {
  return shape === "array"
    ? `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}${leaf}${"}".repeat(depth)}`;
}

const WRONG_VALUES: Record<Kind, fc.Arbitrary<Tree>> = {
  string: fc.string({ maxLength: 12 }),
  number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
  boolean: fc.boolean(),
  null: fc.constant(null),
  array: fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean()), {
    maxLength: 3,
  }),
  object: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string(), fc.integer()), {
    maxKeys: 3,
  }),
};

const WRONG_KINDS = ["string", "number", "boolean", "array", "object"] as const;

/** A value of another JSON kind than `original` (never null: many fields are nullable). */
function wrongValueArb(original: Tree): fc.Arbitrary<Tree> {
  const kinds = WRONG_KINDS.filter((kind) => kind !== kindOf(original));
  return fc.constantFrom(...kinds).chain((kind) => WRONG_VALUES[kind]);
}

const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype"] as const;
/** Parsed from JSON text, as a request's would be: `__proto__` stays an own key. */
const POLLUTERS: readonly string[] = [
  '{"polluted": "yes"}',
  '{"prototype": {"polluted": "yes"}}',
  '{"__proto__": {"polluted": "yes"}}',
  '"polluted"',
  '["polluted"]',
];

/** Lone surrogates (sent as `\ud800` escapes), NUL, and a valid pair for contrast. */
const ODD_STRINGS = ["\ud800", "\udc00", "a\ud83d", "\udfff\ud800", "\u0000", "x\u0000y", "😀"];

const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

const ODD_NUMBERS = [
  "1e400",
  "-1e400",
  "-0",
  "1e-400",
  "1e308",
  "9007199254740993",
  "-9007199254740993",
  "0.5",
  "1E2",
  "-1",
  "2e0",
  "0e0",
  "123456789012345678901234567890",
  "2147483647",
  "2147483648",
  "-2147483649",
];

const NON_JSON_TYPES = [
  "text/plain",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "application/octet-stream",
  "application/jsonx",
  "application/json-seq",
  "json",
];

/** Paths of `base()` whose value has `kind`. */
function pathsOfKind(base: () => Body, kind: Kind): PathItem[][] {
  const sample = base();
  return pathsOf(sample).filter((path) => kindOf(getAt(sample, path)) === kind);
}

/** Hostile variants of the valid body `base()` (and junk that ignores it). */
function hostileArbFor(base: () => Body): fc.Arbitrary<Hostile> {
  const paths = pathsOf(base());
  const stringPaths = pathsOfKind(base, "string");
  const numberPaths = pathsOfKind(base, "number");
  const objectPaths: PathItem[][] = [[], ...pathsOfKind(base, "object")];

  const wrongType = fc
    .constantFrom(...paths)
    .chain((path) =>
      wrongValueArb(getAt(base(), path)).map((value) =>
        json(`wrong type at ${path.join(".")}`, replaceAt(base(), path, value)),
      ),
    );

  const hugeString = fc
    .tuple(
      fc.constantFrom(...stringPaths),
      fc.integer({ min: 256, max: 64 * 1024 }),
      fc.constantFrom("a", "é", "😀", "\\", '"', " "),
    )
    .map(([path, length, unit]) =>
      json(
        `${length} × ${JSON.stringify(unit)} at ${path.join(".")}`,
        replaceAt(base(), path, unit.repeat(length)),
      ),
    );

  const prototypeKey = fc
    .tuple(
      fc.constantFrom(...objectPaths),
      fc.constantFrom(...PROTOTYPE_KEYS),
      fc.constantFrom(...POLLUTERS),
    )
    .map(([path, key, polluter]) => {
      const body = base();
      const node = getAt(body, path) as Body;
      const value = JSON.parse(polluter) as Tree;
      const label = `${key}: ${polluter} in ${path.join(".") || "(top)"}`;
      return json(label, replaceAt(body, path, withKey(node, key, value)));
    });

  const oddString = fc
    .tuple(fc.constantFrom(...stringPaths), fc.constantFrom(...ODD_STRINGS), fc.boolean())
    .map(([path, odd, append]) => {
      const body = base();
      const value = append ? `${getAt(body, path) as string}${odd}` : odd;
      return json(`${JSON.stringify(odd)} at ${path.join(".")}`, replaceAt(body, path, value));
    });

  const oddKey = fc
    .tuple(fc.constantFrom(...objectPaths), fc.constantFrom(...ODD_STRINGS))
    .map(([path, odd]) => {
      const body = base();
      const node = getAt(body, path) as Body;
      const label = `key ${JSON.stringify(odd)} in ${path.join(".") || "(top)"}`;
      return json(label, replaceAt(body, path, withKey(node, `x-${odd}`, "v")));
    });

  const rawBytes = fc
    .tuple(fc.constantFrom(...stringPaths), fc.constantFrom(...INVALID_UTF8), fc.boolean())
    .map(([path, bytes, inside]) => {
      const marker = "\u0001MARK\u0001";
      const body = replaceAt(base(), path, marker);
      const label = `bytes ${bytes.map((b) => b.toString(16)).join(" ")} at ${path.join(".")}`;
      if (inside) return withBytes(label, body, serialize(marker).slice(1, -1), bytes);
      // In place of the whole string: the JSON itself is broken.
      return { ...withBytes(label, body, serialize(marker), bytes), bodyStatus: 400 };
    });

  const oddNumber = fc
    .tuple(
      numberPaths.length > 0
        ? fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(...numberPaths) },
            { weight: 1, arbitrary: fc.constantFrom(...paths) },
          )
        : fc.constantFrom(...paths),
      fc.constantFrom(...ODD_NUMBERS),
    )
    .map(([path, text]) =>
      json(`${text} at ${path.join(".")}`, replaceAt(base(), path, new RawJson(text))),
    );

  // Over the limit (a 400 wherever it is), and just under it.
  const deep = fc
    .tuple(
      fc.constantFrom<PathItem[]>([], ...paths),
      fc.constantFrom(10_000, 2_000, MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH - 10, 50),
      fc.constantFrom("array" as const, "object" as const),
    )
    .map(([path, depth, shape]) => {
      const label = `${depth} levels of ${shape} at ${path.join(".") || "(top)"}`;
      const tree = replaceAt(base(), path, new RawJson(nested(depth, shape)));
      // The value at `path` sits inside `path.length` containers.
      const tooDeep = path.length === 0 || path.length + depth > MAX_JSON_DEPTH;
      return tooDeep ? json(label, tree, { bodyStatus: 400 }) : json(label, tree);
    });

  const nonJsonType = fc
    .tuple(fc.constantFrom(...NON_JSON_TYPES), fc.boolean())
    .map(([contentType, asJson]) => ({
      label: `Content-Type ${contentType}`,
      body: asJson ? serialize(base()) : "name=x&actions=y",
      contentType,
      bodyStatus: 415,
    }));

  const topLevel = fc
    .oneof(
      fc.constantFrom<Tree>(null, [], [base()], 0, 1e300, "observer", true, false),
      fc.array(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Tree>, { maxLength: 3 }),
      fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
    )
    .map((value) => json(`top-level ${serialize(value).slice(0, 40)}`, value, { bodyStatus: 400 }));

  const randomJson = fc
    .jsonValue({ maxDepth: 3 })
    .map((value) => json(`json ${JSON.stringify(value).slice(0, 40)}`, value as Tree));

  const malformed = fc
    .oneof(
      fc.constantFrom("{", "}", "{]", "[", "nul", "{'name': 'x'}", "{name: 1}", "{,}", '{"a":1,}'),
      fc.integer({ min: 1, max: 100 }).map((n) => {
        const text = serialize(base());
        return text.slice(0, Math.min(n, text.length - 1));
      }),
      fc.constantFrom("NaN", "Infinity", "-Infinity", "undefined", "01", "1.", ".5", "0x10"),
    )
    .map((body) => ({ label: `malformed ${JSON.stringify(body)}`, body, bodyStatus: 400 }));

  const empty = fc.constantFrom<Hostile>(
    { label: "empty body, JSON content type", body: "", bodyStatus: 400 },
    { label: "whitespace body", body: " \n\t ", bodyStatus: 400 },
    { label: "BOM only", body: "\ufeff", bodyStatus: 400 },
    { label: "no body, no content type", body: undefined, contentType: null },
    { label: "no body, JSON content type", body: undefined, contentType: JSON_TYPE },
    { label: "body without a content type", body: serialize(base()), contentType: null },
  );

  /** Bodies over the limit: a few bytes over, and well over. */
  const oversize = fc
    .tuple(fc.constantFrom(1, 4096, 300_000), fc.constantFrom(JSON_TYPE, "text/plain"))
    .map(([over, contentType]) => oversized(base, over, contentType));

  return fc.oneof(
    { weight: 4, arbitrary: wrongType },
    { weight: 2, arbitrary: hugeString },
    { weight: 3, arbitrary: prototypeKey },
    { weight: 3, arbitrary: oddString },
    { weight: 1, arbitrary: oddKey },
    { weight: 2, arbitrary: rawBytes },
    { weight: 3, arbitrary: oddNumber },
    { weight: 2, arbitrary: deep },
    { weight: 1, arbitrary: nonJsonType },
    { weight: 1, arbitrary: topLevel },
    { weight: 1, arbitrary: randomJson },
    { weight: 1, arbitrary: malformed },
    { weight: 1, arbitrary: empty },
    { weight: 1, arbitrary: oversize },
  );
}

/** `base()` padded (an extra field) to `over` bytes beyond the limit. */
function oversized(base: () => Body, over: number, contentType = JSON_TYPE): Hostile {
  const padding = MAX_BODY_BYTES + over - serialize(withKey(base(), "padding", "")).length;
  const body = serialize(withKey(base(), "padding", "x".repeat(padding)));
  return { label: `${body.length} bytes`, body, contentType, allStatus: 413 };
}

// ---------------------------------------------------------------------------------------------
// Operations of the document

interface Operation {
  method: string;
  template: string;
  readsBody: boolean;
}

function documentOperations(): Operation[] {
  const document = openApiDocument(app) as { paths: Record<string, Record<string, unknown>> };
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      operations.push({
        method: method.toUpperCase(),
        template,
        readsBody: (operation as { requestBody?: unknown }).requestBody !== undefined,
      });
    }
  }
  return operations;
}

let bodyOperations: Operation[];
let writeOperations: Operation[];

function operation(method: string, template: string): Operation {
  const found = writeOperations.find((op) => op.method === method && op.template === template);
  if (!found) throw new Error(`the document has no ${method} ${template}`);
  return found;
}

function concretePath(operation: Operation): string {
  return operation.template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name !== "id" || !operation.template.startsWith("/api/observers/{id}")) return randomUUID();
    return operation.readsBody ? targetId : victimId;
  });
}

/** The body the core would store, when `hostile` is JSON it can read. */
function parsedBody(hostile: Hostile): { value: unknown } | undefined {
  if (typeof hostile.body !== "string" || hostile.contentType !== undefined) return undefined;
  if (encoder.encode(hostile.body).length > MAX_BODY_BYTES) return undefined;
  try {
    return { value: JSON.parse(hostile.body) };
  } catch {
    return undefined;
  }
}

/** Sends `hostile` to `operation` and checks the answer; returns the status. */
async function send(operation: Operation, hostile: Hostile): Promise<number> {
  const path = concretePath(operation);
  const where = `${operation.method} ${operation.template} with ${hostile.label}`;
  const response = await call(operation.method, path, hostile.body, {
    ...(hostile.contentType === undefined ? {} : { contentType: hostile.contentType }),
  });
  const status = response.status;
  const text = await response.text();
  expect(status, `${where}: ${text.slice(0, 300)}`).toBeLessThan(500);
  if (status >= 400) {
    expect(response.headers.get("content-type"), where).toBe("application/problem+json");
    const problem = JSON.parse(text) as { code?: unknown; status?: unknown };
    expect(typeof problem.code, where).toBe("string");
    expect(problem.status, where).toBe(status);
  }
  const expected =
    hostile.allStatus ?? (operation.readsBody ? hostile.bodyStatus : undefined) ?? undefined;
  if (expected !== undefined) expect(status, `${where}: ${text.slice(0, 300)}`).toBe(expected);
  // POST /api/observers: what the core's observer schema (the API's one definition) accepts, with
  // no `[REDACTED]` placeholder for a secret, and PostgreSQL can store is created (or is a
  // duplicate); the rest is a 400.
  const parsed = parsedBody(hostile);
  if (operation.method === "POST" && operation.template === "/api/observers" && parsed) {
    const actions = isJsonObject(parsed.value) ? parsed.value.actions : undefined;
    const accepted =
      safeParseConfig(observerDefinitionSchema, parsed.value).success &&
      redactedPlaceholders(actions).length === 0 &&
      unstorableTextPath(parsed.value) === undefined &&
      !jsonDepthExceeds(hostile.body as string, MAX_JSON_DEPTH);
    if (accepted) expect([201, 409], `${where}: ${text.slice(0, 300)}`).toContain(status);
    else expect(status, `${where}: ${text.slice(0, 300)}`).toBe(400);
  }
  return status;
}

/** Fails with each operation's label and the first error, not the (megabyte) bodies. */
function shortReport(details: fc.RunDetails<[Hostile[]]>): void {
  if (!details.failed) return;
  const labels = details.counterexample?.[0].map((hostile) => hostile.label.slice(0, 120));
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : "";
  throw new Error(
    `failed after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath}):\n` +
      `${(labels ?? []).join("\n")}\n${error.slice(0, 2000)}`,
  );
}

const PROTOTYPE_BEFORE = Object.getOwnPropertyNames(Object.prototype).sort();

function expectNoPollution(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_BEFORE);
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
  expect(Array.prototype).not.toHaveProperty("polluted");
}

beforeAll(async () => {
  db = await createTestDatabase("api_hostile");
  app = createObserversApi({
    sql: db.client,
    runtime,
    adminToken: ADMIN,
    logger: silentLogger,
    sources: { kinds: ["mysql"], sourceKey: "a-source-key-for-hostile-bodies-0123456789" },
  });
  call = apiClient(app, ADMIN);
  const operations = documentOperations();
  bodyOperations = operations.filter((op) => op.readsBody);
  writeOperations = operations.filter((op) => op.method !== "GET" && op.method !== "HEAD");
  for (const label of ["target", "victim"]) {
    const response = await call("POST", "/api/observers", validObserver(`hostile-${label}`));
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    if (label === "target") targetId = id;
    else victimId = id;
  }
});
afterAll(() => db?.drop());

describe("hostile request bodies", () => {
  it("the document has the operations this test expects to reach", () => {
    expect(bodyOperations.map((op) => `${op.method} ${op.template}`).sort()).toEqual([
      "PATCH /api/observers/{id}",
      "POST /api/jobs/cancel",
      "POST /api/keys",
      "POST /api/observers",
      "POST /api/observers/deliveries/cancel",
      "POST /api/observers/dlq/retry-all",
      "POST /api/observers/validate",
      "POST /api/observers/{id}/backtest",
      "POST /api/observers/{id}/replay",
      "POST /api/observers/{id}/schedule",
      "POST /api/observers/{id}/test",
      "POST /api/sources",
    ]);
    expect(writeOperations.length).toBeGreaterThan(bodyOperations.length);
  });

  it("one of each kind, to every write operation", async () => {
    const samples: Hostile[] = [
      oversized(validObserver, 1),
      oversized(validObserver, 1, "text/plain"),
      json("__proto__ at the top", JSON.parse(`{"__proto__": {"polluted": "yes"}}`) as Tree, {
        bodyStatus: 400,
      }),
      json("10 000 nested arrays", new RawJson(nested(10_000, "array")), { bodyStatus: 400 }),
      json("10 000 nested objects", new RawJson(nested(10_000, "object")), { bodyStatus: 400 }),
      { label: "text/plain", body: "hello", contentType: "text/plain", bodyStatus: 415 },
      {
        label: "form",
        body: "a=1",
        contentType: "application/x-www-form-urlencoded",
        bodyStatus: 415,
      },
      { label: "empty", body: "", bodyStatus: 400 },
      { label: "no body", body: undefined, contentType: null },
      json("null", null, { bodyStatus: 400 }),
      json("array", [], { bodyStatus: 400 }),
      json("lone surrogate key", { "\ud800": 1 }, { bodyStatus: 400 }),
      json("NUL value", { name: "\u0000" }, { bodyStatus: 400 }),
      { label: "raw 0xff", body: new Uint8Array([0x7b, 0xff, 0x7d]), bodyStatus: 400 },
    ];
    for (const hostile of samples) {
      for (const operation of writeOperations) await send(operation, hostile);
    }
    expectNoPollution();
  });

  it("a wrong type at any field of a valid observer is a 400", async () => {
    const create = operation("POST", "/api/observers");
    const patch = operation("PATCH", "/api/observers/{id}");
    const sample = validObserver();
    const wrong: Record<Kind, Tree> = {
      string: "text",
      number: 7,
      boolean: false,
      null: null,
      array: ["a"],
      object: { a: "b" },
    };
    const accepted: string[] = [];
    for (const path of pathsOf(sample)) {
      for (const kind of WRONG_KINDS.filter((k) => k !== kindOf(getAt(sample, path)))) {
        const label = `${kind} at ${path.join(".")}`;
        const hostile = () => json(label, replaceAt(validObserver(), path, wrong[kind]));
        const status = await send(create, hostile());
        expect(await send(patch, hostile()), label).toBe(status === 201 ? 200 : 400);
        if (status !== 400) accepted.push(label);
      }
    }
    expect(accepted).toEqual([]);
  });

  it("text PostgreSQL cannot store is a 400 naming the field, not a 500", async () => {
    const cases: [Operation, Body, string][] = [
      [operation("POST", "/api/observers"), { ...validObserver(), name: "a\u0000" }, "name"],
      [
        operation("POST", "/api/observers"),
        replaceAt(validObserver(), ["actions", 0, "headers", "x-team"], "\ud800") as Body,
        "actions.0.headers.x-team",
      ],
      [
        operation("PATCH", "/api/observers/{id}"),
        { condition_expression: "status == 'a\u0000b'" },
        "condition_expression",
      ],
      [
        operation("POST", "/api/observers/{id}/backtest"),
        { since: "2020-01-01T00:00:00Z", condition_expression: "status == '\udc00'" },
        "condition_expression",
      ],
      [operation("POST", "/api/observers/dlq/retry-all"), { error_code: "E\u0000" }, "error_code"],
      [operation("POST", "/api/keys"), { name: "k\ud83d", scope: "read" }, "name"],
    ];
    for (const [op, body, field] of cases) {
      const response = await call(op.method, concretePath(op), serialize(body));
      expect(response.status, `${op.method} ${op.template} ${field}`).toBe(400);
      const problem = (await response.json()) as { code: string; issues: { path: string }[] };
      expect(problem.code).toBe("INVALID_CONFIG");
      expect(problem.issues.map((issue) => issue.path)).toEqual([field]);
    }
    // A valid surrogate pair is stored as is.
    const response = await call("POST", "/api/observers", {
      ...validObserver(),
      description: "😀",
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { description: string }).description).toBe("😀");
    // Query parameters too.
    for (const query of ["entity_type=%00", "event_type=a%00", "enabled=true&x%00=1"]) {
      expect((await call("GET", `/api/observers?${query}`)).status, query).toBe(400);
    }
    expect((await call("GET", "/api/observers/logs?trace_id=%00")).status).toBe(400);
  });

  it("deep JSON where fields take any value (a test event's rows) is refused, or explained", async () => {
    const test = operation("POST", "/api/observers/{id}/test");
    const body = (tier: string) =>
      `{"event":{"object_type":"Order","modification_type":"UPDATE","object_data":{"status":"shipped","customer":{"tier":${tier}}}},"condition_expression":"customer.tier == 'gold'"}`;
    for (const shape of ["array", "object"] as const) {
      const tooDeep = { label: "10 000 levels", body: body(nested(10_000, shape)) };
      expect(await send(test, tooDeep)).toBe(400);
      // {} > event > object_data > customer > tier: four containers above the value.
      const deepest = { label: "at the limit", body: body(nested(MAX_JSON_DEPTH - 4, shape)) };
      expect(await send(test, deepest)).toBe(200);
      const over = { label: "one over", body: body(nested(MAX_JSON_DEPTH - 3, shape)) };
      expect(await send(test, over)).toBe(400);
    }
  });

  it("generated hostile bodies never cause a 5xx, on every operation that reads a body", async () => {
    const arbitraries = bodyOperations.map((op) => {
      const base = VALID_BODIES[`${op.method} ${op.template}`];
      if (!base) throw new Error(`no valid body for ${op.method} ${op.template}`);
      return hostileArbFor(base);
    });
    await fc.assert(
      fc.asyncProperty(fc.tuple(...arbitraries), async (hostiles) => {
        for (const [index, hostile] of hostiles.entries()) {
          await send(bodyOperations[index] as Operation, hostile);
        }
      }),
      { numRuns: 100, reporter: shortReport },
    );
    expectNoPollution();
  });

  it("the valid bodies the generators start from are accepted", async () => {
    for (const op of bodyOperations) {
      const base = VALID_BODIES[`${op.method} ${op.template}`] as () => Body;
      const status = await send(op, json("valid", base()));
      expect(status, `${op.method} ${op.template}`).toBeLessThan(300);
    }
  });

  it("the server is still healthy afterwards", async () => {
    const response = await call("POST", "/api/observers", validObserver());
    expect(response.status).toBe(201);
    const created = (await response.json()) as { id: string; event_type: string };
    expect(created.event_type).toBe("UPDATE");
    expect((await call("GET", `/api/observers/${created.id}`)).status).toBe(200);
    expect((await call("GET", `/api/observers/${targetId}`)).status).toBe(200);
    expect((await call("GET", "/api/observers/runtime/health", undefined)).status).toBe(200);
    expectNoPollution();
  });
});
