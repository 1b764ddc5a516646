/**
 * `rate_limit_per_second` held across two runtimes on one database (docs/delivery.md): the shared
 * bucket never grants more than rate × elapsed + burst, the receiver never sees much more than a
 * second's rate plus the burst in any one-second window, deliveries over the rate wait without
 * spending attempts, and every one arrives.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;
let runtimes: ObserverRuntime[] = [];
let receiver: Receiver | undefined;

beforeAll(async () => {
  db = await createTestDatabase("rate_limit");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
afterEach(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  runtimes = [];
  await receiver?.close();
});

describe("rate_limit_per_second with two runtimes", () => {
  it("grants no more than rate × elapsed + burst, and delivers everything without spending attempts", async () => {
    const RATE = 10;
    const CHANGES = 35;
    const arrivals: number[] = [];
    receiver = await startReceiver(() => {
      arrivals.push(Date.now());
      return { status: 204 };
    });
    await insertObserver(db.sql, {
      name: "limited",
      actions: [webhook(`${receiver.url}/hook`, { rate_limit_per_second: RATE })],
    });
    for (let i = 0; i < 2; i++) {
      const runtime = createObserverRuntime({
        sql: db.client,
        environment: testEnvironment(),
        pollIntervalMs: 50,
        leaseMs: 10_000,
        shutdownTimeoutMs: 500,
      });
      runtimes.push(runtime);
      await runtime.start();
    }
    await db.sql`INSERT INTO orders (total) SELECT g FROM generate_series(1, ${CHANGES}) g`;
    await eventually(
      () =>
        new Set(receiver?.requests.map((r) => r.headers["webhook-id"])).size === CHANGES
          ? true
          : undefined,
      "every delivery",
      30_000,
    );
    const [bucket] = await db.sql<{ granted: number; elapsed_s: number }[]>`
      SELECT granted_total::int AS granted,
        extract(epoch FROM refilled_at - created_at)::float8 AS elapsed_s
      FROM core.tb_observer_rate_limit`;
    expect(bucket).toBeDefined();
    const burst = RATE;
    // Every request was granted a token; the bucket granted no more than it refilled.
    expect(bucket?.granted).toBeGreaterThanOrEqual(CHANGES);
    expect(bucket?.granted).toBeLessThanOrEqual(RATE * (bucket?.elapsed_s ?? 0) + burst);
    // At the receiver: in any one-second window, about a second's rate plus the burst at most.
    for (const start of arrivals) {
      const inWindow = arrivals.filter((t) => t >= start && t < start + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(RATE + burst + RATE / 2);
    }
    // Waiting for a token is not an attempt: every delivery succeeded on its first.
    const [log] = await db.sql<{ n: number; first: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE attempt_number = 1 AND status = 'success')::int AS first
      FROM core.tb_observer_log`;
    expect(log).toEqual({ n: CHANGES, first: CHANGES });
  });
});
