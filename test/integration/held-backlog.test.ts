/**
 * A backlog held behind an open circuit (docs/delivery.md, "Gentle with struggling receivers"):
 * each probe costs a bounded number of put-backs, not one per held delivery. Only a few held
 * deliveries stay due at the next probe; the others are parked until the circuit closes, which
 * wakes them all: after the recovery every delivery arrives exactly once, none charged for waiting.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deliveriesDeferred } from "../../src/metrics/destinations.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { HELD_DUE_AT_PROBE, HELD_PARK_MS } from "../../src/store/deferred-deliveries.ts";
import { resetDestination } from "../../src/store/destination-health.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;
let runtimes: ObserverRuntime[] = [];
let receiver: Receiver | undefined;

beforeAll(async () => {
  db = await createTestDatabase("held_backlog");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`DELETE FROM core.tb_observer_destination`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  runtimes = [];
  await receiver?.close();
  receiver = undefined;
});

const RUNTIMES = 2;
const BACKLOG = 500;
const deferredByCircuit = deliveriesDeferred.labels("circuit");

async function startRuntimes(listenerId: string, probeDelayMs = 20): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
  for (let i = 0; i < RUNTIMES; i++) {
    const runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment(),
      listenerId,
      pollIntervalMs: 20,
      concurrency: 16,
      perDestination: 4,
      leaseMs: 10_000,
      shutdownTimeoutMs: 500,
      // Probes every few tens of milliseconds: many probe cycles while the backlog waits.
      circuits: {
        failureThreshold: 1,
        probeDelayMs,
        maxProbeDelayMs: probeDelayMs * 2,
        disableAfterMs: 0,
      },
      circuitCacheMs: 10,
    });
    runtimes.push(runtime);
    await runtime.start();
  }
}

async function openCount(): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`
    SELECT COALESCE(max(open_count), 0)::int AS n FROM core.tb_observer_destination`;
  return row?.n ?? 0;
}

/** Held deliveries due within the next minute (not parked): those a probe cycle claims. */
async function dueSoon(): Promise<{ held: number; dueSoon: number }> {
  const [row] = await db.sql<{ held: number; due_soon: number }[]>`
    SELECT count(*) FILTER (WHERE held_destination IS NOT NULL)::int AS held,
      count(*) FILTER (WHERE next_attempt_at < now() + interval '1 minute')::int AS due_soon
    FROM core.tb_observer_delivery`;
  return { held: row?.held ?? 0, dueSoon: row?.due_soon ?? 0 };
}

describe("a large backlog behind an open circuit", () => {
  it("costs each probe a bounded number of put-backs, and is delivered exactly once after the recovery", async () => {
    let down = true;
    const delivered = new Map<string, number>();
    receiver = await startReceiver((request) => {
      if (down) return { status: 503 };
      const id = String(request.headers["webhook-id"]);
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
      return { status: 204 };
    });
    await insertObserver(db.sql, {
      name: "held-backlog",
      retry_config: { max_attempts: 100, initial_delay_ms: 10, max_delay_ms: 20 },
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntimes("held-backlog");
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${BACKLOG}) g`;

    // Every delivery created and (all but the probes' own) held for the open circuit.
    await eventually(
      async () => {
        const counts = await dueSoon();
        return counts.held >= BACKLOG - 2 && (await openCount()) >= 2 ? counts : undefined;
      },
      "the backlog held behind the open circuit",
      30_000,
    );

    // Several probe cycles: the put-backs they cost do not grow with the backlog.
    const probesBefore = await openCount();
    const deferredBefore = deferredByCircuit.value;
    let maxDueSoon = 0;
    await eventually(
      async () => {
        maxDueSoon = Math.max(maxDueSoon, (await dueSoon()).dueSoon);
        return (await openCount()) >= probesBefore + 10 ? true : undefined;
      },
      "ten more failed probes",
      30_000,
    );
    const probes = (await openCount()) - probesBefore;
    const putBacks = deferredByCircuit.value - deferredBefore;
    // Without parking every held delivery came due at each probe: BACKLOG put-backs per probe.
    // With it, a few per destination (per server writing at once), re-checked while a probe runs.
    expect(putBacks / probes).toBeLessThan(BACKLOG / 20);
    expect(maxDueSoon).toBeLessThanOrEqual(RUNTIMES * (HELD_DUE_AT_PROBE + 4 * 2));
    expect(maxDueSoon).toBeGreaterThan(0);

    // The recovery: a probe succeeds, closing the circuit wakes the parked backlog at once.
    down = false;
    await eventually(
      async () => {
        const [left] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
        return left?.n === 0 && delivered.size === BACKLOG ? true : undefined;
      },
      "the whole backlog delivered",
      30_000,
    );
    expect([...delivered.values()].every((n) => n === 1)).toBe(true);
    // Waiting was not charged: the logged failed attempts are those made (the first failures
    // in flight, and the probes), each delivered by its next attempt.
    const [log] = await db.sql<{ failed: number; succeeded: number; charged: number }[]>`
      SELECT count(*) FILTER (WHERE status <> 'success')::int AS failed,
        count(*) FILTER (WHERE status = 'success')::int AS succeeded,
        count(*) FILTER (WHERE status = 'success' AND attempt_number > 1)::int AS charged
      FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
      WHERE o.deleted_at IS NULL`;
    expect(log?.succeeded).toBe(BACKLOG);
    expect(log?.charged).toBeLessThanOrEqual(RUNTIMES * 4 + 4);
    expect(await dueSoon()).toEqual({ held: 0, dueSoon: 0 });
  });

  it("still probes when every delivery due for the probe is gone (cancelled), then delivers the parked rest", async () => {
    let down = true;
    const delivered = new Map<string, number>();
    receiver = await startReceiver((request) => {
      if (down) return { status: 503 };
      const id = String(request.headers["webhook-id"]);
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
      return { status: 204 };
    });
    await insertObserver(db.sql, {
      name: "held-gone",
      retry_config: { max_attempts: 100, initial_delay_ms: 10, max_delay_ms: 20 },
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntimes("held-gone");
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 100) g`;
    await eventually(
      async () => {
        const counts = await dueSoon();
        return counts.held >= 98 && (await openCount()) >= 2 ? counts : undefined;
      },
      "the backlog held behind the open circuit",
      30_000,
    );
    // The runtimes stop (so nothing is leased), everything not parked is removed, and they start
    // again: the probe finds nothing due but the parked backlog.
    await Promise.all(runtimes.map((r) => r.stop()));
    runtimes = [];
    const gone = await db.sql<{ n: number }[]>`
      WITH gone AS (DELETE FROM core.tb_observer_delivery
        WHERE next_attempt_at < now() + interval '1 minute' RETURNING 1)
      SELECT count(*)::int AS n FROM gone`;
    const [parked] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(gone[0]?.n).toBeGreaterThan(0);
    expect(parked?.n).toBeGreaterThan(80);
    await db.sql`DELETE FROM core.tb_observer_checkpoint WHERE listener_id = 'held-gone'`;
    down = false;
    await startRuntimes("held-gone");
    // An overdue probe wakes one parked delivery; its success closes the circuit and wakes all.
    await eventually(
      async () => {
        const [left] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
        return left?.n === 0 && delivered.size === parked?.n ? true : undefined;
      },
      "the parked backlog delivered",
      20_000,
    );
    expect([...delivered.values()].every((n) => n === 1)).toBe(true);
  });

  it("is woken at once, parked deliveries too, by an operator's reset", async () => {
    let down = true;
    const delivered = new Map<string, number>();
    receiver = await startReceiver((request) => {
      if (down) return { status: 503 };
      const id = String(request.headers["webhook-id"]);
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
      return { status: 204 };
    });
    await insertObserver(db.sql, {
      name: "held-reset",
      retry_config: { max_attempts: 100, initial_delay_ms: 10, max_delay_ms: 20 },
      actions: [webhook(`${receiver.url}/hook`)],
    });
    // No probe during the test (the first is 5 to 10 minutes away): only the reset wakes them.
    await startRuntimes("held-reset", 10 * 60_000);
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 60) g`;
    const parked = await eventually(async () => {
      const [row] = await db.sql<{ held: number; parked: number }[]>`
          SELECT count(*) FILTER (WHERE held_destination IS NOT NULL)::int AS held,
            count(*) FILTER (WHERE next_attempt_at > now() + ${HELD_PARK_MS / 2} * interval '1 millisecond')::int AS parked
          FROM core.tb_observer_delivery`;
      return row && row.held >= 59 ? row.parked : undefined;
    }, "the backlog held behind the open circuit");
    expect(parked).toBeGreaterThan(40);
    const [row] = await db.sql<{ id: string }[]>`
      SELECT id::text AS id FROM core.tb_observer_destination`;
    down = false;
    expect(await resetDestination(db.client, row?.id ?? "")).not.toBeNull();
    await eventually(async () => {
      const [left] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
      return left?.n === 0 && delivered.size === 60 ? true : undefined;
    }, "the whole backlog delivered after the reset");
    expect([...delivered.values()].every((n) => n === 1)).toBe(true);
  });
});
