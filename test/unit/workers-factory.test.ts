/**
 * The Workers plugin factory (adapters/hosts/workers/create-observers.ts) without workerd: what it
 * answers on a bad configuration (503 on the API's paths only), how it finds renamed bindings,
 * that it builds once per `env`, and the ticker's refusal to run alarm ticks without the Worker's
 * custom action types. The factory end to end (a host Worker in wrangler dev) is
 * test/integration/workers-host.test.ts.
 */
import * as v from "valibot";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createObservers,
  createObserversWorker,
  isObserversPath,
} from "../../adapters/hosts/workers/create-observers.ts";
import type { TickResult } from "../../adapters/hosts/workers/tick.ts";
import { scheduleTick, Ticker } from "../../adapters/hosts/workers/ticker.ts";
import type {
  DurableObjectNamespace,
  DurableObjectState,
  ExecutionContext,
} from "../../adapters/hosts/workers/types.ts";
import type { ActionDefinition } from "../../src/actions/types.ts";
import type { Logger } from "../../src/ports/logger.ts";

const ctx: ExecutionContext = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} };
// Never connected to: every request below is answered before any SQL.
const hyperdrive = { connectionString: "postgres://user:password@127.0.0.1:1/never" };

afterEach(() => vi.restoreAllMocks());

/** The error lines the factory logged while `run` ran. */
async function errorLines(run: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  vi.spyOn(console, "error").mockImplementation((line: unknown) => {
    lines.push(String(line));
  });
  await run();
  return lines;
}

describe("isObserversPath", () => {
  it("claims the API's paths and nothing that only starts like them", () => {
    for (const path of [
      "/api/observers",
      "/api/observers/",
      "/api/observers/x/logs",
      "/api/keys",
    ]) {
      expect(isObserversPath(path), path).toBe(true);
    }
    for (const path of [
      "/",
      "/api",
      "/api/orders",
      "/api/observersx",
      "/api/keysmith",
      "/docs",
      "/console",
    ]) {
      expect(isObserversPath(path), path).toBe(false);
    }
    expect(isObserversPath("/openapi.json", true)).toBe(true);
    expect(isObserversPath("/docs", true)).toBe(true);
    expect(isObserversPath("/console", true)).toBe(true);
    expect(isObserversPath("/console/", true)).toBe(true);
    expect(isObserversPath("/consoles", true)).toBe(false);
  });
});

describe("createObservers on a bad configuration", () => {
  it("answers 503 on the API's paths, 404 elsewhere, skips ticks and logs once", async () => {
    const env = { HYPERDRIVE: hyperdrive, OBSERVERS_TICK_BUDGET_MS: "soon" };
    let statuses: number[] = [];
    const lines = await errorLines(async () => {
      const paths = ["/api/observers", "/api/keys/abc", "/", "/api/orders"];
      statuses = await Promise.all(
        paths.map(async (path) => {
          const response = await createObservers(env).fetch(new Request(`http://h${path}`), ctx);
          return response.status;
        }),
      );
      await createObservers(env).scheduled({ cron: "* * * * *", scheduledTime: Date.now() }, ctx);
    });
    expect(statuses).toEqual([503, 503, 404, 404]);
    // Built once for this env: one log line, naming the variable and not its value.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("OBSERVERS_TICK_BUDGET_MS");
    expect(lines[0]).toContain("invalid configuration");
    const body = await (
      await createObservers(env).fetch(new Request("http://h/api/observers"), ctx)
    ).json();
    expect(body).toMatchObject({ status: 503, code: "UNHEALTHY" });
  });

  it("names a missing Hyperdrive binding, and a renamed one that is not there", async () => {
    const lines = await errorLines(async () => {
      const missing = await createObservers({}).fetch(new Request("http://h/api/keys"), ctx);
      expect(missing.status).toBe(503);
      const renamed = createObservers(
        { HYPERDRIVE: hyperdrive },
        { bindings: { hyperdrive: "DB", ticker: "OBSERVERS_TICKER" } },
      );
      expect((await renamed.fetch(new Request("http://h/api/keys"), ctx)).status).toBe(503);
    });
    expect(lines[0]).toContain("HYPERDRIVE: must be a Hyperdrive binding");
    expect(lines[1]).toContain("DB: must be a Hyperdrive binding");
    expect(lines[1]).toContain("OBSERVERS_TICKER: must be a Durable Object namespace binding");
  });
});

describe("createObservers on a good configuration", () => {
  it("finds renamed bindings and serves the API (auth before any query)", async () => {
    const options = { bindings: { hyperdrive: "DB" } };
    const env = { DB: hyperdrive, OBSERVERS_ADMIN_TOKEN: "a-long-enough-admin-token" };
    const response = await createObservers(env, options).fetch(
      new Request("http://h/api/observers"),
      ctx,
    );
    expect(response.status).toBe(401);
    // Outside the API's paths: the 404 of `fetch` itself, the API's auth never asked.
    const outside = await createObservers(env, options).fetch(
      new Request("http://h/api/orders"),
      ctx,
    );
    expect(outside.status).toBe(404);
  });

  it("refuses an action type twice, or one that shadows a built-in, when bound", () => {
    const action = (type: string): ActionDefinition => ({
      type,
      schema: v.object({ type: v.literal(type) }),
      destination: () => type,
      run: async () => ({ message: "ok" }),
    });
    expect(() => createObserversWorker({ actions: [action("webhook")] })).toThrow(
      "webhook is a built-in action type",
    );
    expect(() => createObserversWorker({ actions: [action("a"), action("a")] })).toThrow(
      'custom action type "a" is registered twice',
    );
  });
});

/** A Durable Object state with in-memory storage and alarm. */
function fakeState(): DurableObjectState {
  const data = new Map<string, unknown>();
  let alarm: number | null = null;
  return {
    storage: {
      get: async <T>(key: string) => data.get(key) as T | undefined,
      put: async (key: string, value: unknown) => {
        data.set(key, value);
      },
      getAlarm: async () => alarm,
      setAlarm: async (at: number | Date) => {
        alarm = Number(at);
      },
    },
  } as unknown as DurableObjectState;
}

const idle: TickResult = {
  stopped: "idle",
  startedAt: new Date(0).toISOString(),
  durationMs: 1,
  eventsProcessed: 0,
  errors: 0,
  subrequests: 0,
  lag: { pending_changes: 0, due_deliveries: 0, oldest_pending_ms: 0 },
  nextDueAt: null,
  live: null,
  schemaProblem: null,
};

/** A namespace whose one object is `ticker`. */
function namespaceOf(ticker: Ticker): DurableObjectNamespace {
  return {
    idFromName: (name) => ({ toString: () => name }),
    get: () => ({ fetch: (input, init) => ticker.fetch(new Request(input, init)) }),
  };
}

describe("the ticker and the Worker's custom action types", () => {
  it("runs no alarm tick when it lacks a type the Worker named, and says how to fix it", async () => {
    const records: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger: Logger = { log: (_level, message, fields) => records.push({ message, fields }) };
    const tick = vi.fn(async () => idle);
    const plain = new Ticker(fakeState(), tick, logger);
    await scheduleTick(namespaceOf(plain), ["notify"]);
    await plain.alarm();
    expect(tick).not.toHaveBeenCalled();
    expect(records[0]?.message).toContain("lacks the Worker's action types");
    expect(records[0]?.fields).toMatchObject({ missing: ["notify"] });

    const bound = new Ticker(fakeState(), tick, logger, ["notify"]);
    await scheduleTick(namespaceOf(bound), ["notify"]);
    await bound.alarm();
    expect(tick).toHaveBeenCalledTimes(1);
  });
});
