/**
 * The Workers tick (adapters/hosts/workers/tick.ts) run in Node against a real database, for what is
 * awkward to provoke in wrangler dev: where it stops (idle, its time budget, its subrequest limit,
 * a schema it was not built for) and that what it leaves is delivered by the next tick.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { type WorkersConfig, workersConfig } from "../../adapters/hosts/workers/config.ts";
import { checkSchema } from "../../adapters/hosts/workers/schema.ts";
import { runTick, type TickOptions } from "../../adapters/hosts/workers/tick.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, insertObserver } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;
let receiver: Receiver;

beforeAll(async () => {
  db = await createTestDatabase("workers_tick_limits");
  await createOrdersTable(db.sql);
  receiver = await startReceiver();
  await insertObserver(db.sql, {
    name: "hook",
    entity_type: "Order",
    event_type: "INSERT",
    actions: [{ type: "webhook", url: `${receiver.url}/hook` }],
  });
});

afterAll(async () => {
  await receiver?.close();
  await db?.drop();
});

beforeEach(() => {
  receiver.requests.length = 0;
  receiver.reply(() => ({ status: 204 }));
});

function config(vars: Record<string, string> = {}): WorkersConfig {
  return workersConfig({ OBSERVERS_ALLOW_PRIVATE_TARGETS: "1", ...vars });
}

function tick(vars: Record<string, string> = {}, extra: Partial<TickOptions> = {}) {
  return runTick(
    { HYPERDRIVE: { connectionString: db.url } },
    {
      config: config(vars),
      vars: {},
      logger: silentLogger,
      connect: () => createPostgresClient(db.url, { max: 2, prepare: false }),
      ...extra,
    },
  );
}

/** Ticks until the receiver has `count` requests (other files' transactions may hold rows back). */
async function deliveredBy(count: number, vars: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (receiver.requests.length < count) {
    if (Date.now() > deadline)
      throw new Error(`expected ${count}, got ${receiver.requests.length}`);
    await tick({ OBSERVERS_TICK_BUDGET_MS: "2000", ...vars });
  }
}

describe("a Workers tick", () => {
  it("delivers and stops once nothing is pending or due", async () => {
    await db.sql`INSERT INTO public.orders (total) VALUES (1)`;
    await deliveredBy(1);
    const result = await tick();
    expect(result).toMatchObject({
      stopped: "idle",
      subrequests: 0,
      lag: { pending_changes: 0, due_deliveries: 0 },
      nextDueAt: null,
      schemaProblem: null,
    });
    expect(result.durationMs).toBeLessThan(5_000);
  });

  it("stops claiming when its budget is spent, and leaves the rest to the next tick", async () => {
    // A transaction that has an id and stays open holds every later commit below the horizon.
    const holder = await db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`SELECT pg_current_xact_id()`;
      await db.sql`INSERT INTO public.orders (total) VALUES (2)`;
      const started = Date.now();
      const result = await tick({ OBSERVERS_TICK_BUDGET_MS: "1000" });
      expect(result.stopped).toBe("budget");
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(result.lag.pending_changes).toBe(1);
      // Work left: the caller (the ticker) is told to come back now.
      expect(result.nextDueAt).not.toBeNull();
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await holder`ROLLBACK`;
      holder.release();
    }
    await deliveredBy(1);
  });

  it("stops claiming at its subrequest limit; what it took on still completes", async () => {
    receiver.reply(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { status: 204 };
    });
    await db.sql`INSERT INTO public.orders (total) SELECT g FROM generate_series(1, 3) g`;
    const deadline = Date.now() + 20_000;
    let stopped = "";
    while (receiver.requests.length < 3) {
      if (Date.now() > deadline) throw new Error(`got ${receiver.requests.length} of 3`);
      const result = await tick({
        OBSERVERS_TICK_MAX_SUBREQUESTS: "1",
        OBSERVERS_CONCURRENCY: "1",
        OBSERVERS_TICK_BUDGET_MS: "2000",
      });
      if (result.subrequests > 0) stopped = result.stopped;
    }
    expect(stopped).toBe("subrequests");
    const after = await tick();
    expect(after.lag).toMatchObject({ pending_changes: 0, due_deliveries: 0 });
  });

  it("reports a retry's time as when work comes due next", async () => {
    await insertObserver(db.sql, {
      name: "flaky",
      entity_type: "Invoice",
      actions: [{ type: "webhook", url: `${receiver.url}/flaky` }],
      retry_config: { max_attempts: 2, backoff_strategy: "fixed", initial_delay_ms: 5000 },
    });
    receiver.reply(() => ({ status: 503 }));
    await db.sql.unsafe(`CREATE TABLE public.invoices (id serial PRIMARY KEY);
      SELECT core.fn_track_table('public.invoices', 'Invoice')`);
    await db.sql`INSERT INTO public.invoices DEFAULT VALUES`;
    const deadline = Date.now() + 20_000;
    let nextDueAt: number | null = null;
    let tickStart = 0;
    let tickEnd = 0;
    while (receiver.requests.length < 1) {
      if (Date.now() > deadline) throw new Error("the first attempt was not made");
      tickStart = Date.now();
      ({ nextDueAt } = await tick({ OBSERVERS_TICK_BUDGET_MS: "2000" }));
      tickEnd = Date.now();
    }
    // The retry, 5 s after the failed attempt, which the last tick made: bounds that hold however
    // slow the machine (compared with "now", a slow tick left less than the 1 s once expected).
    expect(nextDueAt).not.toBeNull();
    expect(nextDueAt as number).toBeGreaterThanOrEqual(tickStart + 5_000);
    expect(nextDueAt as number).toBeLessThanOrEqual(tickEnd + 5_000);
  });

  it("leaves a database without this bundle's migrations alone, and says what to do", async () => {
    expect(await checkSchema(db.client)).toEqual({ current: true, problem: null });
    await db.sql`UPDATE core.tb_schema_migration SET checksum = 'x' WHERE version = 3`;
    expect((await checkSchema(db.client)).problem).toMatch(
      /0003_observers\.sql.*different release/,
    );
    await db.sql`DELETE FROM core.tb_schema_migration WHERE version >= 3`;
    const missing = await checkSchema(db.client);
    expect(missing.problem).toMatch(/not applied: 0003_observers\.sql, .*npm run migrate/);
    const result = await tick();
    expect(result).toMatchObject({ stopped: "schema", eventsProcessed: 0 });
    expect(result.schemaProblem).toBe(missing.problem);
  });
});
