/**
 * Time, for every action (docs/time.md), against a real PostgreSQL: `delay_ms` and
 * `run_at_template` make a delivery wait in core.tb_observer_delivery until its time, the webhook
 * is stamped with that time (and its signature verifies), `debounce` collapses a burst into one
 * delivery of the last change, and what cannot be worked out at run time is dead-lettered with
 * its reason. Due times are the database's (`next_attempt_at` against `now()`), so these tests
 * run on the real clock and assert due times from the rows, never elapsed wall-clock time; the
 * fake clock drives schedules (time-schedules.test.ts), whose ticks the runtime's clock decides.
 */
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/ports/clock.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 204 }));
const SECRET = `whsec_${btoa("a secret of enough bytes for HMAC")}`;
let db: TestDatabase;
let runtime: ObserverRuntime | undefined;

beforeAll(async () => {
  db = await createTestDatabase("time_actions");
  await createOrdersTable(db.sql);
  await db.sql.unsafe(`CREATE TABLE public.reminders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    remind_at text
  )`);
  await db.sql.unsafe(`SELECT core.fn_track_table('public.reminders', 'Reminder', '{}')`);
});
afterAll(() => db?.drop());

beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

async function startRuntime(listenerId: string): Promise<ObserverRuntime> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
  runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment({ clock: systemClock }),
    listenerId,
    // Long: a delayed delivery must be claimed by the runtime's due timer, not found by a poll.
    pollIntervalMs: 60_000,
    leaseMs: 5_000,
    shutdownTimeoutMs: 2_000,
  });
  await runtime.start();
  return runtime;
}

/** The pending delivery rows of observer `name`: due time and creation time, epoch ms. */
async function pending(name: string) {
  return db.sql<{ due: number; created: number; key: string | null; id: string }[]>`
    SELECT (extract(epoch FROM d.next_attempt_at) * 1000)::float8 AS due,
      (extract(epoch FROM d.created_at) * 1000)::float8 AS created, d.debounce_key AS key,
      d.id::text AS id
    FROM core.tb_observer_delivery d JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
    WHERE o.name = ${name} AND d.lease_owner IS NULL`;
}

async function deadLetters(name: string) {
  return eventually(async () => {
    const rows = await db.sql`SELECT error_code, error_message, attempts
      FROM core.tb_observer_dlq WHERE observer_name = ${name}`;
    return rows.length > 0 ? rows : undefined;
  }, `a dead letter of ${name}`);
}

describe("delay_ms", () => {
  it("keeps the delivery in the table until due, then sends it stamped with its due time", async () => {
    await insertObserver(db.sql, {
      name: "delayed",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/delayed`, { delay_ms: 3_000, signing_secret: SECRET })],
    });
    await startRuntime("delayed");
    await db.sql`INSERT INTO orders (status) VALUES ('late')`;
    const [row] = await eventually(async () => {
      const rows = await pending("delayed");
      return rows.length === 1 ? rows : undefined;
    }, "the waiting delivery");
    // Due exactly delay_ms after it was created (one statement, one now()).
    expect(Math.round((row?.due ?? 0) - (row?.created ?? 0))).toBe(3_000);
    const [request] = await receiver.waitFor(1);
    // Not sent before it was due (a lower bound: a slow machine only makes it later).
    expect(request?.receivedAt).toBeGreaterThanOrEqual(Math.floor(row?.due ?? Infinity));
    const timestamp = Number(request?.headers["webhook-timestamp"]);
    expect(timestamp).toBe(Math.floor((row?.due ?? 0) / 1000));
    // The signature covers that timestamp: the Standard Webhooks library verifies it (its
    // 5-minute tolerance included), as any receiver would.
    const verified = new Webhook(SECRET).verify(request?.text ?? "", {
      "webhook-id": String(request?.headers["webhook-id"]),
      "webhook-timestamp": String(request?.headers["webhook-timestamp"]),
      "webhook-signature": String(request?.headers["webhook-signature"]),
    }) as { after: { status: string } };
    expect(verified.after.status).toBe("late");
  });
});

describe("due times of one batch", () => {
  it("claims each when it comes due, not only the soonest (no poll for a minute)", async () => {
    await insertObserver(db.sql, {
      name: "sooner",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/sooner`, { delay_ms: 500 })],
    });
    await insertObserver(db.sql, {
      name: "later",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/later`, { delay_ms: 1_500 })],
    });
    await startRuntime("due-times");
    await db.sql`INSERT INTO orders (status) VALUES ('twice')`;
    // Both created in one ingest statement; the poll is a minute away: the due timer claims each.
    const requests = await receiver.waitFor(2);
    expect(requests.map((r) => r.path).sort()).toEqual(["/later", "/sooner"]);
  });
});

describe("run_at_template", () => {
  it("runs at the instant the change names, stamped with it", async () => {
    await insertObserver(db.sql, {
      name: "remind",
      entity_type: "Reminder",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/remind`, { run_at_template: "{{ after.remind_at }}" })],
    });
    await startRuntime("run-at");
    const at = new Date(Date.now() + 2_500);
    await db.sql`INSERT INTO reminders (remind_at) VALUES (${at.toISOString()})`;
    // The waiting row is not looked for: on a loaded machine (or behind another test's open
    // transaction holding the change log back) it may be created and sent before a poll sees it.
    const [request] = await receiver.waitFor(1);
    // Not before the instant the change names (a lower bound: a slow machine only makes it later).
    expect(request?.receivedAt).toBeGreaterThanOrEqual(at.getTime());
    expect(Number(request?.headers["webhook-timestamp"])).toBe(Math.floor(at.getTime() / 1000));
  });

  it("dead-letters a change whose template renders no instant, saying so", async () => {
    await insertObserver(db.sql, {
      name: "remind-bad",
      entity_type: "Reminder",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/bad`, { run_at_template: "{{ after.remind_at }}" })],
    });
    await startRuntime("run-at-bad");
    await db.sql`INSERT INTO reminders (remind_at) VALUES ('next tuesday')`;
    const [dead] = await deadLetters("remind-bad");
    expect(dead).toMatchObject({ error_code: "INVALID_RUN_AT", attempts: 1 });
    expect(dead?.error_message).toContain('"next tuesday", which is not an instant');
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("debounce", () => {
  it("collapses 5 updates in 200 ms into one delivery of the last state", async () => {
    await insertObserver(db.sql, {
      name: "bounce",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/bounce`, { debounce: { window_ms: 2_000 } })],
    });
    await insertObserver(db.sql, {
      name: "bounce-other",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/plain`)],
    });
    await startRuntime("debounce");
    const [order] = await db.sql`INSERT INTO orders (status) VALUES ('s0') RETURNING id`;
    const [other] = await db.sql`INSERT INTO orders (status) VALUES ('o0') RETURNING id`;
    for (let i = 1; i <= 5; i++) {
      await db.sql`UPDATE orders SET status = ${`s${i}`} WHERE id = ${order?.id}`;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await db.sql`UPDATE orders SET status = 'o1' WHERE id = ${other?.id}`;
    // Six updates, every one to /plain; two keys (one per order) to /bounce.
    await receiver.waitFor(8);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const bounced = receiver.requests
      .filter((r) => r.path === "/bounce")
      .map((r) => JSON.parse(r.text));
    expect(bounced.map((b) => b.after.status).sort()).toEqual(["o1", "s5"]);
    expect(receiver.requests.filter((r) => r.path === "/plain")).toHaveLength(6);
    expect(await pending("bounce")).toEqual([]);
  });

  it("never lets a steady stream push the delivery past max_wait_ms after its first change", async () => {
    await insertObserver(db.sql, {
      name: "bounce-capped",
      event_type: "UPDATE",
      actions: [
        webhook(`${receiver.url}/capped`, { debounce: { window_ms: 60_000, max_wait_ms: 60_000 } }),
      ],
    });
    await startRuntime("debounce-cap");
    const [order] = await db.sql`INSERT INTO orders (status) VALUES ('c0') RETURNING id`;
    await db.sql`UPDATE orders SET status = 'c1' WHERE id = ${order?.id}`;
    const [first] = await eventually(async () => {
      const rows = await pending("bounce-capped");
      return rows.length === 1 ? rows : undefined;
    }, "the debounced delivery");
    await db.sql`UPDATE orders SET status = 'c2' WHERE id = ${order?.id}`;
    const [second] = await eventually(async () => {
      const rows = await pending("bounce-capped");
      return rows.length === 1 && rows[0]?.id !== first?.id ? rows : undefined;
    }, "the delivery to carry the second change");
    // Replaced in place: still one row, carrying the later change, and never pushed past the cap.
    expect(second?.created).toBe(first?.created);
    expect(second?.due).toBe(first?.due);
    expect(second?.key).toBe(`/${order?.id}`);
  });

  it("dead-letters a change whose key renders empty, saying so", async () => {
    await insertObserver(db.sql, {
      name: "bounce-empty",
      event_type: "UPDATE",
      actions: [
        webhook(`${receiver.url}/empty`, {
          debounce: { window_ms: 100, key_template: "{{ after.missing_column }}" },
        }),
      ],
    });
    await startRuntime("debounce-empty");
    const [order] = await db.sql`INSERT INTO orders (status) VALUES ('e0') RETURNING id`;
    await db.sql`UPDATE orders SET status = 'e1' WHERE id = ${order?.id}`;
    const [dead] = await deadLetters("bounce-empty");
    expect(dead).toMatchObject({ error_code: "INVALID_DEBOUNCE_KEY" });
    expect(dead?.error_message).toContain("rendered an empty key");
  });
});
