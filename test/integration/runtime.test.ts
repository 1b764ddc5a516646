/**
 * The runtime in-process against a real PostgreSQL: changes committed to a tracked table become
 * webhooks at a real receiver, with the log, retries and dead letters in the database.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Clock, systemClock } from "../../src/ports/clock.ts";
import {
  createObserverRuntime,
  type ObserverRuntime,
  type ObserverRuntimeOptions,
} from "../../src/runtime/index.ts";
import { retryDeadLetter } from "../../src/store/dlq-replay.ts";
import { testEnvironment } from "../support/actions.ts";
import { trackedClock } from "../support/clock.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
let runtime: ObserverRuntime;

beforeAll(async () => {
  db = await createTestDatabase("runtime");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

// Each test starts with no observers and no pending deliveries.
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});

/** A runtime on a fresh listener over the shared database. */
async function startRuntime(
  listenerId: string,
  clock: Clock = systemClock,
  pollIntervalMs = 200,
  extra: Partial<ObserverRuntimeOptions> = {},
): Promise<ObserverRuntime> {
  // Start the new listener at the end of the log: earlier tests' changes are not its business.
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
  runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment({ clock }),
    listenerId,
    pollIntervalMs,
    leaseMs: 5_000,
    shutdownTimeoutMs: 2_000,
    ...extra,
  });
  await runtime.start();
  return runtime;
}
afterEach(() => runtime?.stop());

const bodies = () => receiver.requests.map((r) => JSON.parse(r.text));

describe("the runtime", () => {
  it("delivers an INSERT as a webhook and logs the attempt", async () => {
    await insertObserver(db.sql, {
      name: "on-insert",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntime("insert");
    const [order] =
      await db.sql`INSERT INTO orders (status, total, org) VALUES ('new', 42, 7) RETURNING id`;
    const [request] = await receiver.waitFor(1);
    const body = JSON.parse(request?.text ?? "");
    expect(body).toMatchObject({
      entity_type: "Order",
      entity_id: String(order?.id),
      event_type: "INSERT",
      op: "c",
      before: null,
      after: { status: "new", total: 42, org: 7 },
      tenant_id: "7",
      observer: { name: "on-insert" },
      attempt: 1,
    });
    expect(request?.headers["webhook-id"]).toBe(body.id);
    const log = await eventually(async () => {
      const rows = await db.sql`SELECT status, attempt_number, max_attempts, response_status_code,
        delivery_id::text, event_id::text, entity_type, fk_customer_org::int AS org, duration_ms
        FROM core.tb_observer_log WHERE delivery_id = ${body.id}`;
      return rows.length > 0 ? rows : undefined;
    }, "the log row");
    expect(log).toEqual([
      expect.objectContaining({
        status: "success",
        attempt_number: 1,
        max_attempts: 3,
        response_status_code: 204,
        event_id: body.event_id,
        entity_type: "Order",
        org: 7,
      }),
    ]);
    await eventually(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
      return row?.n === 0 ? true : undefined;
    }, "the delivery row to be removed");
  });

  it("fires an UPDATE observer only when its condition holds, and every observer of the entity", async () => {
    const hook = webhook(`${receiver.url}/hook`);
    await insertObserver(db.sql, {
      name: "shipped",
      event_type: "UPDATE",
      condition_expression: "field_changed_to('status', 'shipped') && total > 100",
      actions: [hook],
    });
    await insertObserver(db.sql, { name: "any-update", event_type: "UPDATE", actions: [hook] });
    await startRuntime("conditions");
    await db.sql`INSERT INTO orders (status, total) VALUES ('packing', 50), ('packing', 500)`;
    await db.sql`UPDATE orders SET status = 'shipped' WHERE status = 'packing'`;
    // Two updates: "any-update" fires twice, "shipped" once (total 500 only).
    const requests = await receiver.waitFor(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(requests).toHaveLength(3);
    const names = bodies()
      .map((b) => `${b.observer.name}:${b.after.total}`)
      .sort();
    expect(names).toEqual(["any-update:50", "any-update:500", "shipped:500"]);
  });

  it("retries a failing receiver and logs every attempt under one webhook-id", async () => {
    let calls = 0;
    receiver.reply(() => (++calls <= 2 ? { status: 503 } : { status: 200, body: "ok" }));
    await insertObserver(db.sql, {
      name: "flaky",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/flaky`)],
    });
    await startRuntime("retries");
    await db.sql`INSERT INTO orders (status) VALUES ('new')`;
    const requests = await receiver.waitFor(3);
    const ids = new Set(requests.map((r) => r.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    const log = await eventually(async () => {
      const rows =
        await db.sql`SELECT status, attempt_number, response_status_code, next_retry_at IS NOT NULL AS retry
        FROM core.tb_observer_log WHERE delivery_id = ${[...ids][0] as string} ORDER BY attempt_number`;
      return rows.length === 3 ? rows : undefined;
    }, "three log rows");
    expect(log.map((r) => [r.status, r.attempt_number, r.response_status_code, r.retry])).toEqual([
      ["failed", 1, 503, true],
      ["failed", 2, 503, true],
      ["success", 3, 200, false],
    ]);
  });

  it("records an answer whose body holds a NUL byte, which PostgreSQL text cannot store", async () => {
    receiver.reply(() => ({ status: 400, body: 'bad\u0000input "quoted" \\ {braces}, commas' }));
    await insertObserver(db.sql, {
      name: "nul-answer",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/nul`)],
      retry_config: {
        max_attempts: 1,
        backoff_strategy: "fixed",
        initial_delay_ms: 10,
        max_delay_ms: 10,
      },
    });
    await startRuntime("nul-answer");
    await db.sql`INSERT INTO orders (status) VALUES ('new')`;
    await receiver.waitFor(1);
    const [row] = await eventually(async () => {
      const rows =
        await db.sql`SELECT status, response_status_code, response_payload ->> 'excerpt' AS excerpt
        FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
        WHERE o.name = 'nul-answer'`;
      return rows.length > 0 ? rows : undefined;
    }, "the attempt's log row");
    expect(row).toEqual({
      status: "failed",
      response_status_code: 400,
      excerpt: 'bad\ufffdinput "quoted" \\ {braces}, commas',
    });
    const [dead] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq d
      JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.name = 'nul-answer'`;
    expect(dead?.n).toBe(1);
  });

  it("dead-letters a permanent failure and replays it, with the same webhook-id, once fixed", async () => {
    receiver.reply(() => ({ status: 410 }));
    await insertObserver(db.sql, {
      name: "gone",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/gone`)],
    });
    await startRuntime("dlq");
    await db.sql`INSERT INTO orders (status) VALUES ('new')`;
    const dead = await eventually(async () => {
      const [row] = await db.sql`SELECT id::text, delivery_id::text, status, attempts, error_code,
        response_status_code, object_type FROM core.tb_observer_dlq WHERE observer_name = 'gone'`;
      return row;
    }, "a dead letter");
    expect(dead).toMatchObject({
      status: "pending",
      attempts: 1,
      response_status_code: 410,
      object_type: "Order",
    });
    expect(receiver.requests).toHaveLength(1);

    receiver.reply(() => ({ status: 204 }));
    expect(await retryDeadLetter(db.client, dead.id)).toBe(true);
    runtime.wake();
    const requests = await receiver.waitFor(2);
    expect(requests[1]?.headers["webhook-id"]).toBe(dead.delivery_id);
    await eventually(async () => {
      const rows = await db.sql`SELECT 1 FROM core.tb_observer_dlq WHERE id = ${dead.id}`;
      return rows.length === 0 ? true : undefined;
    }, "the dead letter to be resolved");
    expect(await retryDeadLetter(db.client, dead.id)).toBe(false);
  });

  it("delivers a change whose transaction commits after a later one", async () => {
    await insertObserver(db.sql, {
      name: "late",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/late`)],
    });
    await startRuntime("late-commit");
    const early = await db.sql.reserve();
    try {
      await early`BEGIN`;
      await early`INSERT INTO orders (status) VALUES ('early')`;
      await db.sql`INSERT INTO orders (status) VALUES ('later')`;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await early`COMMIT`;
    } finally {
      early.release();
    }
    await receiver.waitFor(2);
    expect(
      bodies()
        .map((b) => b.after.status)
        .sort(),
    ).toEqual(["early", "later"]);
    const [lower] =
      await db.sql`SELECT min(pk_entity_change_log)::int AS pk FROM core.tb_entity_change_log
      WHERE object_data -> 'after' ->> 'status' = 'early'`;
    const [higher] =
      await db.sql`SELECT min(pk_entity_change_log)::int AS pk FROM core.tb_entity_change_log
      WHERE object_data -> 'after' ->> 'status' = 'later'`;
    expect(lower?.pk).toBeLessThan(higher?.pk);
  });

  it("looks again soon when a running transaction held a notified change back", async () => {
    await insertObserver(db.sql, {
      name: "held-back",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/held`)],
    });
    // A poll this slow means only the runtime's own look-again can deliver within the test.
    await startRuntime("held-back", systemClock, 600_000);
    const blocker = await db.sql.reserve();
    try {
      // A transaction with an xid, touching no tracked table: it holds the horizon back and its
      // end sends no notification.
      await blocker`BEGIN`;
      await blocker`SELECT pg_current_xact_id()`;
      await db.sql`INSERT INTO orders (status) VALUES ('held')`;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.requests).toHaveLength(0);
      await blocker`COMMIT`;
    } finally {
      blocker.release();
    }
    const [request] = await receiver.waitFor(1);
    expect(JSON.parse(request?.text ?? "{}").after.status).toBe("held");
  });

  it("reloads observers written with plain SQL, without a restart", async () => {
    await startRuntime("reload");
    await insertObserver(db.sql, {
      name: "added-later",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/added`)],
    });
    await eventually(
      async () => ((await runtime.health()).observer_count === 1 ? true : undefined),
      "the reload",
    );
    await db.sql`INSERT INTO orders (status) VALUES ('new')`;
    const [request] = await receiver.waitFor(1);
    expect(JSON.parse(request?.text ?? "").observer.name).toBe("added-later");
  });

  it("logs a change it cannot read and a condition it cannot evaluate, and keeps going", async () => {
    await insertObserver(db.sql, {
      name: "needs-field",
      event_type: "INSERT",
      condition_expression: "missing_field == 1",
      actions: [webhook(`${receiver.url}/never`)],
    });
    await insertObserver(db.sql, {
      name: "all-inserts",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/ok`)],
    });
    await startRuntime("failures");
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_data)
      VALUES ('Order', 'EXPLODE', '{}')`;
    await db.sql`INSERT INTO orders (status) VALUES ('fine')`;
    const [request] = await receiver.waitFor(1);
    expect(request?.path).toBe("/ok");
    const rows = await eventually(async () => {
      const r =
        await db.sql`SELECT error_code, fk_observer IS NULL AS no_observer FROM core.tb_observer_log
        WHERE status = 'failed' AND error_code IN ('INVALID_CHANGE_EVENT', 'CONDITION_EVALUATION') ORDER BY error_code`;
      return r.length === 2 ? r : undefined;
    }, "two failure log rows");
    expect(rows.map((r) => [r.error_code, r.no_observer])).toEqual([
      ["CONDITION_EVALUATION", false],
      ["INVALID_CHANGE_EVENT", true],
    ]);
    const health = await runtime.health();
    expect(health).toMatchObject({ running: true, observer_count: 2 });
    expect(health.errors).toBeGreaterThanOrEqual(2);
  });

  it("stops gracefully: running attempts finish, nothing stays leased", async () => {
    receiver.reply(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { status: 204 };
    });
    await insertObserver(db.sql, {
      name: "slow",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/slow`)],
    });
    await startRuntime("shutdown");
    await db.sql`INSERT INTO orders (status) SELECT 'bulk' FROM generate_series(1, 20)`;
    await receiver.waitFor(1);
    await runtime.stop();
    const [leased] =
      await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE lease_owner IS NOT NULL`;
    expect(leased?.n).toBe(0);
    const [remaining] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    const [logged] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer WHERE o.name = 'slow' AND l.status = 'success'`;
    expect((remaining?.n ?? 0) + (logged?.n ?? 0)).toBe(20);
    expect((await runtime.health()).running).toBe(false);
  });

  it("takes over a crashed runtime's delivery when its lease runs out, with no new change to wake it", async () => {
    await insertObserver(db.sql, {
      name: "orphaned",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/orphaned`)],
    });
    // A runtime that matched the change (the new listener starts past it), then died holding
    // the delivery's lease for another 300 ms.
    await db.sql`INSERT INTO orders (status) VALUES ('orphan')`;
    const [orphan] = await db.sql`
      INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index,
        lease_owner, next_attempt_at)
      SELECT gen_random_uuid(), o.pk_observer, max(c.pk_entity_change_log), 0, 'runtime-dead',
        now() + interval '300 milliseconds'
      FROM core.tb_observer o, core.tb_entity_change_log c
      WHERE o.name = 'orphaned' AND o.deleted_at IS NULL GROUP BY o.pk_observer
      RETURNING id::text AS id`;
    await startRuntime("takeover");
    const [request] = await receiver.waitFor(1);
    expect(request?.headers["webhook-id"]).toBe(orphan?.id);
    await eventually(async () => {
      const [left] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery
        WHERE id = ${orphan?.id as string}::uuid`;
      return left?.n === 0 ? true : undefined;
    }, "the delivery to be recorded");
  });

  it("vacuums its delivery table itself when told to (the default where autovacuum is off)", async () => {
    const vacuums = async () => {
      const [row] = await db.sql`SELECT vacuum_count::int AS n FROM pg_stat_user_tables
        WHERE relid = 'core.tb_observer_delivery'::regclass`;
      return row?.n ?? 0;
    };
    const before = await vacuums();
    await insertObserver(db.sql, {
      name: "vacuumed",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/vacuumed`)],
    });
    await startRuntime("vacuum", systemClock, 200, { vacuumIntervalMs: 100 });
    await db.sql`INSERT INTO orders (status) SELECT 'churn' FROM generate_series(1, 50)`;
    await receiver.waitFor(50);
    await eventually(
      async () => ((await vacuums()) >= before + 2 ? true : undefined),
      "two vacuums of the delivery table",
    );
  });

  it("leaves no timer and no connection of its own behind when stopped", async () => {
    const clock = trackedClock();
    await insertObserver(db.sql, {
      name: "tidy",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/tidy`)],
    });
    await startRuntime("tidy", clock);
    await db.sql`INSERT INTO orders (status) SELECT 'tidy' FROM generate_series(1, 5)`;
    await receiver.waitFor(5);
    const listening = () => db.sql`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
    expect((await listening())[0]?.n).toBe(1);
    expect(clock.outstanding).toBeGreaterThan(0);
    await runtime.stop();
    expect(clock.outstanding).toBe(0);
    await eventually(
      async () => ((await listening())[0]?.n === 0 ? true : undefined),
      "the LISTEN connection to close",
    );
  });
});
