/**
 * The runtime's bounds against a real PostgreSQL: one ingest statement creates at most
 * `ingestMaxDeliveries` deliveries (yet always moves on, even past a change that alone fans out
 * beyond it), and one tenant whose receiver hangs holds at most its share of the attempts, so
 * another tenant's deliveries still go out.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { ingestBatch } from "../../src/runtime/ingest.ts";
import { loadObserverSet } from "../../src/runtime/observer-set.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("runtime_bounds");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});

/** Starts `listenerId` at the end of the change log: earlier tests' changes are not its business. */
async function newListener(listenerId: string): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
}

describe("one ingest statement's size", () => {
  const OBSERVERS = 60;
  const ACTIONS = 2;
  const PER_CHANGE = OBSERVERS * ACTIONS;

  async function fanOut(listenerId: string, changes: number): Promise<void> {
    await newListener(listenerId);
    for (let i = 0; i < OBSERVERS; i++) {
      await insertObserver(db.sql, {
        name: `${listenerId}-${i}`,
        actions: [webhook("https://example.com/a"), webhook("https://example.com/b")],
      });
    }
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${changes}) g`;
    // Each order its own transaction would do too; one statement keeps the test quick.
  }

  function context(listenerId: string, maxDeliveries: number) {
    return {
      sql: db.client,
      listenerId,
      batchSize: 500,
      logger: silentLogger,
      clock: systemClock,
      owner: "bounds-test",
      leaseMs: 30_000,
      // Nothing leased: the deliveries stay due in the table for the assertions.
      room: () => 0,
      maxDeliveries,
      observers: (_revision: string, sql: typeof db.client) => loadObserverSet(sql, silentLogger),
    };
  }

  /**
   * Ingests until `changes` changes are matched; what each statement took. (Other transactions on
   * the server may hold the changes back for a moment: gap-free reading waits for them.)
   */
  async function drain(ingest: ReturnType<typeof context>, changes: number) {
    const sizes: { changes: number; deliveries: number }[] = [];
    let total = 0;
    const deadline = Date.now() + 15_000;
    while (total < changes && Date.now() < deadline) {
      const result = await ingestBatch(ingest);
      if (result.changes === 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      total += result.changes;
      sizes.push({ changes: result.changes, deliveries: result.deliveries });
    }
    return sizes;
  }

  it("cuts the batch so a statement stays under the cap, and still matches every change", async () => {
    await fanOut("cut", 5);
    const sizes = await drain(context("cut", 250), 5);
    // Two changes (240 deliveries) fit under 250, three would not.
    expect(sizes).toEqual([
      { changes: 2, deliveries: 2 * PER_CHANGE },
      { changes: 2, deliveries: 2 * PER_CHANGE },
      { changes: 1, deliveries: PER_CHANGE },
    ]);
    const [row] = await db.sql<{ n: number; distinct_ids: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids FROM core.tb_observer_delivery`;
    expect(row).toEqual({ n: 5 * PER_CHANGE, distinct_ids: 5 * PER_CHANGE });
  });

  it("moves on past a change whose deliveries alone exceed the cap, in a statement of its own", async () => {
    await fanOut("alone", 3);
    const sizes = await drain(context("alone", 100), 3);
    expect(sizes).toEqual([
      { changes: 1, deliveries: PER_CHANGE },
      { changes: 1, deliveries: PER_CHANGE },
      { changes: 1, deliveries: PER_CHANGE },
    ]);
    const [row] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(row?.n).toBe(3 * PER_CHANGE);
  });
});

describe("tenants' share of the attempts", () => {
  let slow: Receiver;
  let fast: Receiver;
  let runtime: ObserverRuntime | undefined;
  let releaseSlow: () => void = () => {};

  beforeEach(async () => {
    const held = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    // Tenant 1's receiver hangs until the test lets it go.
    slow = await startReceiver(async () => {
      await held;
      return { status: 204 };
    });
    fast = await startReceiver(() => ({ status: 204 }));
  });
  afterEach(async () => {
    releaseSlow();
    await runtime?.stop();
    await Promise.all([slow.close(), fast.close()]);
  });

  async function observers(): Promise<void> {
    await insertObserver(db.sql, {
      name: "tenant-1-slow",
      fk_customer_org: 1,
      timeout_ms: 60_000,
      actions: [webhook(`${slow.url}/hook`)],
    });
    await insertObserver(db.sql, {
      name: "tenant-2-fast",
      fk_customer_org: 2,
      actions: [webhook(`${fast.url}/hook`)],
    });
  }

  async function start(listenerId: string, batchSize: number, pollIntervalMs = 100): Promise<void> {
    await newListener(listenerId);
    await observers();
    runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment(),
      listenerId,
      pollIntervalMs,
      batchSize,
      // Each tenant's share is the default: half of the concurrency.
      concurrency: 4,
      leaseMs: 30_000,
      shutdownTimeoutMs: 500,
    });
    await runtime.start();
  }

  it("leaves slots to tenant 2 while tenant 1's receiver hangs", async () => {
    await start("fair", 500);
    // Tenant 1 first, with more deliveries than there are slots in all.
    await db.sql`INSERT INTO orders (total, org) SELECT g, 1 FROM generate_series(1, 10) g`;
    await slow.waitFor(2);
    await db.sql`INSERT INTO orders (total, org) SELECT g, 2 FROM generate_series(1, 6) g`;
    await eventually(
      () => (fast.requests.length >= 6 ? true : undefined),
      "tenant 2's six deliveries",
    );
    // Tenant 1 holds its share (2 of 4) and no more: its other eight wait their turn.
    expect(slow.requests).toHaveLength(2);
    await eventually(async () => {
      const [logged] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_log l
        JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
        WHERE o.name = 'tenant-2-fast' AND l.status = 'success'`;
      return logged?.n === 6 ? true : undefined;
    }, "tenant 2's six successes logged");
    expect(slow.requests).toHaveLength(2);
  });

  it("leaves room in the runtime's window to tenant 2 when tenant 1's backlog exceeds it", async () => {
    // A window of max(4 x 4, 2 x 5) = 16 claimed deliveries, 8 of them tenant 1's at most. No
    // poll in the test's time: notifications and recorded outcomes drive everything.
    await start("window", 5, 600_000);
    await db.sql`INSERT INTO orders (total, org) SELECT g, 1 FROM generate_series(1, 40) g`;
    await slow.waitFor(2);
    await eventually(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE fk_customer_org = 1`;
      return row?.n === 40 ? true : undefined;
    }, "tenant 1's forty deliveries created");
    await db.sql`INSERT INTO orders (total, org) SELECT g, 2 FROM generate_series(1, 6) g`;
    await eventually(
      () => (fast.requests.length >= 6 ? true : undefined),
      "tenant 2's six deliveries",
    );
    expect(slow.requests).toHaveLength(2);
    // Tenant 1's deliveries beyond its share of the window wait in the table, unclaimed.
    const [leased] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_observer_delivery
      WHERE fk_customer_org = 1 AND lease_owner IS NOT NULL AND next_attempt_at > now()`;
    expect(leased?.n).toBeLessThanOrEqual(8);
    // Once its receiver answers, the deliveries it was kept from claiming follow without a poll.
    releaseSlow();
    await eventually(
      () => (slow.requests.length >= 40 ? true : undefined),
      "tenant 1's forty deliveries, after its receiver answers",
    );
  });
});
