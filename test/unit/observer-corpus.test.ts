/**
 * The observer schema (src/observers/schema.ts) is the one definition of what an observer is: the
 * store validates with it, and the API's request bodies (src/api/schemas/observers.ts) are only
 * wrappers around it. Checked on a hand-written corpus (test/support/observer-corpus.ts) and on
 * generated mutations: what it accepts and how it normalises, that PATCH validates each field as
 * the merged observer will, and that the API answers each refused input with a 400 naming the
 * same paths as the core, and hands the store what the core would store.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { defaultActionRegistry } from "../../src/actions/registry.ts";
import { createObserversApi } from "../../src/api/app.ts";
import type { ConfigIssue } from "../../src/errors.ts";
import { isJsonObject } from "../../src/json.ts";
import {
  DEFAULT_PRIORITY,
  DEFAULT_TIMEOUT_MS,
  observerDefinitionSchema,
  observerPatchSchemaFor,
} from "../../src/observers/schema.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../../src/ports/sql.ts";
import { redactedPlaceholders } from "../../src/store/redact.ts";
import { type ConfigResult, safeParseConfig } from "../../src/validation.ts";
import { CORPUS, full, type Json, jsonArb, mutationArb } from "../support/observer-corpus.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

type Definition = ReturnType<typeof storedOf>;

/**
 * What the store accepts: the schema, and no `[REDACTED]` placeholder sent back as a secret (the
 * store's check beside the schema; the API's door makes the same one).
 */
function core(value: unknown): ConfigResult<Json> {
  const placeholders = redactedPlaceholders(isJsonObject(value) ? value.actions : undefined);
  const result = safeParseConfig(observerDefinitionSchema, value);
  if (placeholders.length > 0 || !result.success) {
    return { success: false, issues: [...placeholders, ...(result.success ? [] : result.issues)] };
  }
  return { success: true, output: result.output as unknown as Json };
}

function storedOf(input: Json): Json {
  const result = core(input);
  if (!result.success) throw new Error(`not a valid observer: ${JSON.stringify(result.issues)}`);
  return JSON.parse(JSON.stringify(result.output)) as Json;
}

const patchSchema = observerPatchSchemaFor(defaultActionRegistry);

describe("observerDefinitionSchema on the corpus", () => {
  it.each(CORPUS)("%s", (label, input, valid) => {
    const result = core(input);
    expect(result.success, `${label}: ${JSON.stringify(result)}`.slice(0, 2000)).toBe(valid);
    if (!result.success) {
      expect(result.issues.length).toBeGreaterThan(0);
      for (const issue of result.issues) expect(issue.message, label).not.toBe("");
      return;
    }
    const output = result.output;
    const given = input as Json;
    // Normalised: the name trimmed, the event type upper case, the defaults filled.
    expect(output.name).toBe(String(given.name).trim());
    if (output.event_type !== null) {
      expect(output.event_type).toBe(String(output.event_type).toUpperCase());
    }
    if (!("priority" in given)) expect(output.priority).toBe(DEFAULT_PRIORITY);
    if (!("timeout_ms" in given)) expect(output.timeout_ms).toBe(DEFAULT_TIMEOUT_MS);
    if (!("enabled" in given)) expect(output.enabled).toBe(true);
    expect(output.retry_config).toEqual(
      expect.objectContaining({ max_attempts: expect.any(Number) }),
    );
    // What is stored validates again to itself (the runtime reads it back).
    const again = core(JSON.parse(JSON.stringify(output)));
    expect(again.success && JSON.stringify(again.output)).toBe(JSON.stringify(output));
  });

  it("on generated mutations of a valid observer: refuses with issues, or stores a fixed point", () => {
    fc.assert(
      fc.property(mutationArb(full), ({ label, value }) => {
        const result = core(value);
        if (!result.success) {
          expect(result.issues.length, label).toBeGreaterThan(0);
          return;
        }
        const again = core(JSON.parse(JSON.stringify(result.output)));
        expect(again.success && JSON.stringify(again.output), label).toBe(
          JSON.stringify(result.output),
        );
      }),
      { numRuns: 300 },
    );
  });
});

/*
 * The store merges a patch onto the stored definition (`{...stored, ...patch}`, fields replaced
 * whole) and validates the result. The patch schema (what the API checks at the door) must agree:
 *   patch schema accepts `patch`  <=>  the core accepts `{...stored, ...patch}`.
 */
function expectPatchRule(stored: Json, patch: Json, label: string): void {
  const door = safeParseConfig(patchSchema, patch);
  const doorOk = door.success && redactedPlaceholders(patch.actions).length === 0;
  const merged = core({ ...stored, ...patch });
  expect(doorOk, `${label}: door ${doorOk}, merged ${merged.success}`).toBe(merged.success);
}

describe("observerPatchSchemaFor agrees with the merged observer", () => {
  const storedFull = storedOf(full);
  const storedSlow = storedOf({ ...full, retry_config: { initial_delay_ms: 60_000 } });

  it("on the corpus, each observer's fields sent as a patch", () => {
    for (const [label, input] of CORPUS) {
      if (!isJsonObject(input)) {
        expect(safeParseConfig(patchSchema, input).success, label).toBe(false);
        continue;
      }
      expectPatchRule(storedFull, input, label);
      expectPatchRule(storedSlow, input, `${label} (onto a slow retry)`);
    }
  });

  it("accepts an empty patch and fills nothing in", () => {
    expect(safeParseConfig(patchSchema, {})).toEqual({ success: true, output: {} });
    expect(safeParseConfig(patchSchema, { event_type: "insert" })).toEqual({
      success: true,
      output: { event_type: "INSERT" },
    });
  });

  it("on generated patches", () => {
    const patchArb = fc.oneof(
      mutationArb(full),
      fc
        .dictionary(fc.constantFrom(...Object.keys(full), "colour"), jsonArb, { maxKeys: 3 })
        .map((value) => ({ label: JSON.stringify(value), value: value as unknown })),
    );
    fc.assert(
      fc.property(patchArb, fc.constantFrom(storedFull, storedSlow), ({ label, value }, stored) => {
        if (!isJsonObject(value)) return;
        expectPatchRule(stored, value, label);
      }),
      { numRuns: 300 },
    );
  });
});

describe("the API's observer bodies are the core schema", () => {
  const ADMIN = "admin-token-for-corpus-tests-0123";
  /** The observers the store was asked to insert (the INSERT's parameters). */
  const inserted: unknown[][] = [];
  const executor: SqlExecutor = {
    query: async (text, params = []) => {
      if (/INSERT INTO core\.tb_observer\b/.test(text)) inserted.push([...params]);
      return [];
    },
  };
  const sql: SqlClient = { ...executor, transaction: (fn) => fn(executor), close: async () => {} };
  let app: ReturnType<typeof createObserversApi>;

  beforeAll(() => {
    app = createObserversApi({
      sql,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
    });
  });

  async function send(method: string, path: string, body: unknown) {
    const response = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
  }

  const paths = (issues: readonly ConfigIssue[]) => issues.map((issue) => issue.path).sort();

  it.each(CORPUS)("POST %s", async (label, input, valid) => {
    inserted.length = 0;
    // What the API receives: the corpus through JSON (Infinity and NaN arrive as null).
    const expected = core(JSON.parse(JSON.stringify(input)));
    const { status, body } = await send("POST", "/api/observers", input);
    if (!valid || !expected.success) {
      expect(status, label).toBe(400);
      expect(body.code).toBe("INVALID_CONFIG");
      const issues = body.issues as ConfigIssue[];
      expect(paths(issues), label).toEqual(paths(expected.success ? [] : expected.issues));
      expect(issues.map((issue) => issue.message).sort(), label).toEqual(
        (expected.success ? [] : expected.issues).map((issue) => issue.message).sort(),
      );
      expect(body.detail).toContain(`: ${issues[0]?.message}`);
      expect(inserted).toEqual([]);
      return;
    }
    // Past the door, the store inserts what the core normalised (the stub answers no row: 422),
    // unless the server's action limit (below the schema's 32) refuses it first.
    expect(status, label).toBe(422);
    if (body.code === "ACTION_LIMIT") return;
    expect(body.code, label).toBe("OBSERVER_LIMIT");
    const output = expected.output as Definition;
    expect(inserted[0]?.slice(0, 5), label).toEqual([
      output.name,
      output.description,
      output.entity_type,
      output.event_type,
      output.condition_expression,
    ]);
  });

  it("PATCH refuses each invalid field at the door with the core's path", async () => {
    const id = "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42";
    for (const [label, given] of CORPUS) {
      const input = JSON.parse(JSON.stringify(given)) as unknown;
      if (!isJsonObject(input)) continue;
      const door = safeParseConfig(patchSchema, input);
      const placeholders = redactedPlaceholders(input.actions);
      const { status, body } = await send("PATCH", `/api/observers/${id}`, input);
      if (door.success && placeholders.length === 0) {
        // Past the door: the stub store has no such observer.
        expect(status, label).toBe(404);
        continue;
      }
      expect(status, label).toBe(400);
      expect(paths(body.issues as ConfigIssue[]), label).toEqual(
        paths([...placeholders, ...(door.success ? [] : door.issues)]),
      );
    }
  });
});
