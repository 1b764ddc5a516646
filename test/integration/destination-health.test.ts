/**
 * Endpoint health against a real PostgreSQL and real HTTP receivers (docs/delivery.md): an outage
 * spends a bounded number of attempts (the circuit opens after the threshold; deliveries waiting
 * for it are not charged), loses nothing, and only one probe runs at a time across two runtimes on
 * the same database; a destination failing longer than the configured time is disabled, its
 * deliveries held, and delivered once it is reset.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import type { CircuitSettings } from "../../src/store/destination-health.ts";
import { resetDestination } from "../../src/store/destination-health.ts";
import { heldForObserver } from "../../src/store/destination-views.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;
let runtimes: ObserverRuntime[] = [];
let receiver: Receiver | undefined;

beforeAll(async () => {
  db = await createTestDatabase("destination_health");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`DELETE FROM core.tb_observer_destination`;
  await db.sql`DELETE FROM core.tb_observer_dlq`;
  await db.sql`DELETE FROM core.tb_observer_log`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  runtimes = [];
  await receiver?.close();
  receiver = undefined;
});

/** A loopback address only the "refusing connections" test binds (Linux routes 127/8 to lo). */
const REFUSING_HOST = "127.0.0.77";
const MANY_RETRIES = { max_attempts: 100, initial_delay_ms: 20, max_delay_ms: 50 };

/** Starts `count` runtimes on the test database, sharing `listenerId`. */
async function startRuntimes(
  count: number,
  listenerId: string,
  circuits: Partial<CircuitSettings>,
  { perDestination = 4, circuitCacheMs = 20, logger = silentLogger } = {},
): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
  for (let i = 0; i < count; i++) {
    const runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment({ logger }),
      listenerId,
      pollIntervalMs: 50,
      concurrency: 16,
      perDestination,
      leaseMs: 10_000,
      shutdownTimeoutMs: 500,
      circuits,
      circuitCacheMs,
    });
    runtimes.push(runtime);
    await runtime.start();
  }
}

async function destinationRow() {
  const [row] = await db.sql<
    {
      id: string;
      state: string;
      open_count: number;
      consecutive_failures: number;
      disabled_reason: string | null;
    }[]
  >`SELECT id::text AS id, state, open_count, consecutive_failures, disabled_reason
    FROM core.tb_observer_destination`;
  return row;
}

/** Successful log rows per delivery, and the attempts logged in all. */
async function logSummary() {
  const [row] = await db.sql<{ attempts: number; failed: number; delivered: number }[]>`
    SELECT count(*)::int AS attempts, count(*) FILTER (WHERE status <> 'success')::int AS failed,
      count(DISTINCT delivery_id) FILTER (WHERE status = 'success')::int AS delivered
    FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
    WHERE o.deleted_at IS NULL`;
  return row ?? { attempts: 0, failed: 0, delivered: 0 };
}

describe("a receiver's outage, two runtimes on one database", () => {
  it("opens the circuit, probes one at a time, spends a bounded number of attempts and loses nothing", async () => {
    const THRESHOLD = 3;
    const CHANGES = 40;
    let down = true;
    let running = 0;
    let maxRunning = 0;
    let probesSeen = 0;
    let counting = false;
    receiver = await startReceiver(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (counting) probesSeen++;
      // Slow enough that two probes at once would overlap.
      await new Promise((resolve) => setTimeout(resolve, 30));
      running--;
      return { status: down ? 503 : 204 };
    });
    await insertObserver(db.sql, {
      name: "outage",
      retry_config: MANY_RETRIES,
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntimes(2, "outage", {
      failureThreshold: THRESHOLD,
      probeDelayMs: 50,
      maxProbeDelayMs: 200,
      disableAfterMs: 0,
    });
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${CHANGES}) g`;

    // The circuit opens, and a first probe fails (so both runtimes have seen it open).
    await eventually(async () => {
      const row = await destinationRow();
      return row?.state === "open" && row.open_count >= 2 ? true : undefined;
    }, "the circuit open, a probe failed");
    await eventually(() => (running === 0 ? true : undefined), "no request in flight");
    maxRunning = 0;
    counting = true;
    await eventually(async () => {
      const row = await destinationRow();
      return row && row.open_count >= 5 ? true : undefined;
    }, "three more probes");
    counting = false;
    // Probes only, one at a time across both runtimes.
    expect(maxRunning).toBe(1);
    expect(probesSeen).toBeGreaterThanOrEqual(3);
    const during = await logSummary();
    // Bounded: the threshold, what was already running on both runtimes, and the probes. Far
    // fewer than the 40 deliveries times their retries.
    const row = await destinationRow();
    expect(during.failed).toBeLessThanOrEqual(THRESHOLD + 2 * 4 + (row?.open_count ?? 0) + 2);
    const [pending] = await db.sql<{ n: number; charged: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE attempt > 1)::int AS charged
      FROM core.tb_observer_delivery`;
    expect(pending?.n).toBeGreaterThan(CHANGES / 2);
    // Pending deliveries were not charged: only those actually tried have a higher attempt.
    expect(pending?.charged).toBeLessThanOrEqual(during.failed);

    down = false;
    await eventually(async () => {
      const summary = await logSummary();
      return summary.delivered === CHANGES ? summary : undefined;
    }, "every delivery after the recovery");
    const [left] = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(left?.n).toBe(0);
    const [dead] = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
    expect(dead?.n).toBe(0);
    expect((await destinationRow())?.state).toBe("closed");
    // Waiting was not logged as failed attempts.
    const after = await logSummary();
    expect(after.attempts).toBe(after.failed + CHANGES);
  });

  it("treats a receiver refusing connections the same way, and delivers once it listens", async () => {
    // A port nobody listens on, then a server on it. On a loopback address of its own: between
    // the two, any process of the machine binding 127.0.0.1 might be given the port (every other
    // test server listens there), and would answer in the outage's place.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, REFUSING_HOST, resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await insertObserver(db.sql, {
      name: "refused",
      retry_config: MANY_RETRIES,
      actions: [webhook(`http://${REFUSING_HOST}:${port}/hook`)],
    });
    await startRuntimes(2, "refused", {
      failureThreshold: 2,
      probeDelayMs: 50,
      maxProbeDelayMs: 100,
      disableAfterMs: 0,
    });
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 20) g`;
    await eventually(async () => {
      const row = await destinationRow();
      return row?.state === "open" && row.open_count >= 3 ? true : undefined;
    }, "the circuit open, probes failing");
    const during = await logSummary();
    const row = await destinationRow();
    // The threshold, what was running on both runtimes, the probes.
    expect(during.failed).toBeLessThanOrEqual(2 + 2 * 4 + (row?.open_count ?? 0) + 2);
    const ids = new Set<string>();
    const server: Server = createServer((req, res) => {
      ids.add(String(req.headers["webhook-id"]));
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(port, REFUSING_HOST, resolve));
    try {
      await eventually(() => (ids.size === 20 ? true : undefined), "all twenty deliveries");
      await eventually(async () => {
        const [left] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
        return left?.n === 0 ? true : undefined;
      }, "the table drained");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("the attempt after the one that opens the circuit", () => {
  it("is not made, though a shared read started before the failure's write lands", async () => {
    receiver = await startReceiver(() => ({ status: 503 }));
    await insertObserver(db.sql, {
      name: "no-attempt-after-opening",
      retry_config: MANY_RETRIES,
      actions: [webhook(`${receiver.url}/hook`)],
    });
    // One slot per destination: the other nine deliveries wait for the first one's slot, and
    // each is admitted after a fresh shared read (20 ms cache), which may not show the failure yet.
    await startRuntimes(
      1,
      "no-attempt-after-opening",
      { failureThreshold: 1, probeDelayMs: 600_000, maxProbeDelayMs: 600_000, disableAfterMs: 0 },
      { perDestination: 1 },
    );
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 10) g`;
    await eventually(async () => {
      const [row] = await db.sql<{ held: number }[]>`
        SELECT count(*) FILTER (WHERE held_destination IS NOT NULL)::int AS held
        FROM core.tb_observer_delivery`;
      return row?.held === 10 ? true : undefined;
    }, "all ten deliveries held for the open circuit");
    expect(receiver.requests.length).toBe(1);
  });
});

describe("a failure below the threshold, then a success", () => {
  it("resets the count without logging a circuit that never opened as closed", async () => {
    let fail = true;
    receiver = await startReceiver(() => ({ status: fail ? 503 : 204 }));
    await insertObserver(db.sql, {
      name: "one-failure",
      retry_config: { max_attempts: 5, backoff_strategy: "fixed", initial_delay_ms: 20 },
      actions: [webhook(`${receiver.url}/hook`)],
    });
    const lines: string[] = [];
    await startRuntimes(
      1,
      "one-failure",
      { failureThreshold: 5, disableAfterMs: 0 },
      { logger: { log: (_level, message) => lines.push(message) } },
    );
    await db.sql`INSERT INTO orders (total) VALUES (1)`;
    await receiver.waitFor(1);
    fail = false;
    await eventually(async () => {
      const row = await destinationRow();
      return row?.consecutive_failures === 0 ? true : undefined;
    }, "the failure count reset by the success");
    expect((await destinationRow())?.state).toBe("closed");
    expect(lines.filter((line) => line.startsWith("destination circuit"))).toEqual([]);
  });
});

describe("a receiver answering 429 with Retry-After", () => {
  it("is not probed before the time it asked for", async () => {
    receiver = await startReceiver(() => ({ status: 429, headers: { "retry-after": "600" } }));
    await insertObserver(db.sql, {
      name: "retry-after",
      retry_config: MANY_RETRIES,
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntimes(1, "retry-after", {
      failureThreshold: 1,
      probeDelayMs: 20,
      maxProbeDelayMs: 40,
      disableAfterMs: 0,
    });
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 3) g`;
    const [row] = await eventually(async () => {
      const rows = await db.sql<{ wait_s: number }[]>`
        SELECT extract(epoch FROM next_probe_at - opened_at)::float8 AS wait_s
        FROM core.tb_observer_destination WHERE state = 'open'`;
      return rows.length > 0 ? rows : undefined;
    }, "the circuit open");
    // Ten minutes, not the 20–40 ms probe delay.
    expect(row?.wait_s).toBeGreaterThanOrEqual(599);
    const seen = receiver.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests.length).toBe(seen);
  });
});

describe("probes during a long outage", () => {
  it.each([
    ["single", {}],
    ["batched", { batch: { max_size: 5, max_wait_ms: 50 } }],
  ])(
    "never spend a delivery's attempts: far more failed probes than attempts, no dead letter (%s)",
    async (kind, extra) => {
      const CHANGES = 5;
      let down = true;
      receiver = await startReceiver(() => ({ status: down ? 503 : 204 }));
      await insertObserver(db.sql, {
        name: "long-outage",
        retry_config: { max_attempts: 2, initial_delay_ms: 20, max_delay_ms: 50 },
        actions: [webhook(`${receiver.url}/hook`, extra)],
      });
      // One runtime, opening at the first failure: no attempt but the first ones and the probes
      // (two runtimes may retry in the instant before they see the other's failures).
      await startRuntimes(1, `long-outage-${kind}`, {
        failureThreshold: 1,
        probeDelayMs: 20,
        maxProbeDelayMs: 40,
        disableAfterMs: 0,
      });
      await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${CHANGES}) g`;
      // Many more failed probes than the deliveries have attempts (5 × 2).
      await eventually(async () => {
        const row = await destinationRow();
        return row && row.open_count >= 3 * CHANGES * 2 ? true : undefined;
      }, "thirty failed probes");
      const [dead] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
      expect(dead?.n).toBe(0);
      const [pending] = await db.sql<{ n: number; over: number }[]>`
        SELECT count(*)::int AS n, count(*) FILTER (WHERE attempt > 2)::int AS over
        FROM core.tb_observer_delivery`;
      expect(pending).toEqual({ n: CHANGES, over: 0 });

      down = false;
      await eventually(async () => {
        const summary = await logSummary();
        return summary.delivered === CHANGES ? true : undefined;
      }, "every delivery after the recovery");
      const [after] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
      expect(after?.n).toBe(0);
    },
  );
});

describe("a probe that failed", () => {
  it.each([
    ["single", {}],
    ["batched", { batch: { max_size: 5, max_wait_ms: 50 } }],
  ])(
    "waits held for its destination: the observer's held counts every waiting delivery (%s)",
    async (kind, extra) => {
      const CHANGES = 3;
      let probed = false;
      // The first requests open the circuit; the probe is asked to wait ten minutes, so the
      // failed probe's deliveries sit in the table for the rest of the test.
      receiver = await startReceiver(() =>
        probed ? { status: 503, headers: { "retry-after": "600" } } : { status: 503 },
      );
      const observer = await insertObserver(db.sql, {
        name: `failed-probe-${kind}`,
        retry_config: MANY_RETRIES,
        actions: [webhook(`${receiver.url}/hook`, extra)],
      });
      await startRuntimes(1, `failed-probe-${kind}`, {
        failureThreshold: 1,
        probeDelayMs: 20,
        maxProbeDelayMs: 40,
        disableAfterMs: 0,
      });
      await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${CHANGES}) g`;
      await eventually(async () => {
        const row = await destinationRow();
        if (row?.state === "open") probed = true;
        return row && row.open_count >= 2 ? true : undefined;
      }, "a failed probe");
      // Settled: nothing leased, every delivery waiting for the probe ten minutes away.
      await eventually(async () => {
        const [row] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM core.tb_observer_delivery
          WHERE lease_owner IS NULL AND next_attempt_at > now() + interval '5 minutes'`;
        return row?.n === CHANGES ? true : undefined;
      }, "every delivery waiting for the next probe");
      const held = await heldForObserver(db.client, observer);
      expect(held).toEqual([expect.objectContaining({ state: "open", deliveries: CHANGES })]);
    },
  );
});

describe("a destination failing for longer than the configured time", () => {
  it("is disabled with a reason, holds its deliveries (no dead letters, no requests), and delivers them once reset", async () => {
    let down = true;
    receiver = await startReceiver(() => ({ status: down ? 503 : 204 }));
    await insertObserver(db.sql, {
      name: "disabled",
      retry_config: MANY_RETRIES,
      actions: [webhook(`${receiver.url}/hook`)],
    });
    // A tiny setting stands for days: the second failure is already "too long" after the first.
    await startRuntimes(1, "disabled", {
      failureThreshold: 2,
      probeDelayMs: 20,
      maxProbeDelayMs: 40,
      disableAfterMs: 1,
    });
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, 10) g`;
    const row = await eventually(async () => {
      const r = await destinationRow();
      return r?.disabled_reason ? r : undefined;
    }, "the destination disabled");
    expect(row.disabled_reason).toMatch(/OBSERVERS_DESTINATION_DISABLE_AFTER_MS/);
    expect(row.disabled_reason).toMatch(/HTTP 503/);
    // Attempts already running when it was disabled (admitted before the failure that disabled
    // it) finish first, and fail: waited for, or one could arrive, or succeed, after `before`.
    await eventually(async () => {
      const [running] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE lease_owner IS NOT NULL`;
      return running?.n === 0 ? true : undefined;
    }, "no attempt running");
    // The receiver recovers, but a disabled destination is not probed: nothing goes out.
    down = false;
    const before = receiver.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(receiver.requests.length).toBe(before);
    const [held] = await db.sql<{ n: number; held: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE held_destination IS NOT NULL)::int AS held
      FROM core.tb_observer_delivery`;
    expect(held?.n).toBe(10);
    const [dead] = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
    expect(dead?.n).toBe(0);

    expect(await resetDestination(db.client, row.id)).not.toBeNull();
    runtimes[0]?.wake();
    await eventually(async () => {
      const summary = await logSummary();
      return summary.delivered === 10 ? true : undefined;
    }, "the held deliveries after the reset");
    expect((await destinationRow())?.disabled_reason).toBeNull();
  });
});
