/**
 * One bad record never stops the pipeline: a delivery whose change row is gone, and an outcome
 * row the database refuses, end on their own (logged with a clear code) while every other
 * delivery is made once, recorded, and not made again after a restart. The real runtime against
 * a real PostgreSQL and a real receiver.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import {
  createObserverRuntime,
  type ObserverRuntime,
  type ObserverRuntimeOptions,
} from "../../src/runtime/index.ts";
import { retryDeadLetter } from "../../src/store/dlq-replay.ts";
import type { OutcomeRecord } from "../../src/store/outcomes.ts";
import { recordOutcomesIsolating } from "../../src/store/quarantine.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { logOnlyRecord } from "../support/outcomes.ts";
import { freePort, NOTHING_LISTENS } from "../support/ports.ts";
import { useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
const runtimes: ObserverRuntime[] = [];

const SHUTDOWN_TIMEOUT_MS = 2_000;
const LEASE_MS = 1_000;
/**
 * Generous waits: delivery follows the server-wide horizon, which other test files' (and other
 * processes') open transactions on the shared server can hold back for a while.
 */
const WAIT_MS = 30_000;
const TEST_MS = 120_000;

beforeAll(async () => {
  db = await createTestDatabase("bad_record");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
// Generous: on a pipeline held up by one record, a stop takes its timeout and then some.
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.stop();
}, 60_000);

/** A runtime on `listenerId`; the listener starts at the end of the log the first time. */
async function startRuntime(
  listenerId: string,
  extra: Partial<ObserverRuntimeOptions> = {},
): Promise<ObserverRuntime> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log
    ON CONFLICT (listener_id) DO NOTHING`;
  const runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment(
      process.env.DEBUG_BAD
        ? { logger: { log: (...a: unknown[]) => console.log(JSON.stringify(a)) } }
        : {},
    ),
    listenerId,
    pollIntervalMs: 100,
    leaseMs: LEASE_MS,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
    ...extra,
  });
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
}

async function stopRuntime(runtime: ObserverRuntime): Promise<void> {
  runtimes.splice(runtimes.indexOf(runtime), 1);
  await runtime.stop();
}

/** Requests per webhook-id: every delivery must have been made exactly once. */
function requestsById(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of receiver.requests) {
    const id = String(request.headers["webhook-id"]);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function logRows(observer: string) {
  return db.sql<
    {
      status: string;
      error_code: string | null;
      error_message: string | null;
      entity_id: string | null;
      delivery_id: string;
      event_id: string;
    }[]
  >`SELECT l.status, l.error_code, l.error_message, l.entity_id, l.delivery_id::text, l.event_id::text
    FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
    WHERE o.name = ${observer} ORDER BY l.pk_observer_log`;
}

async function deliveriesLeft(): Promise<number> {
  const [row] = await db.sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
  return row?.n ?? -1;
}

/** Inserts one order per status in one statement; returns their ids as text. */
async function insertOrders(statuses: string[]): Promise<string[]> {
  const rows = await db.sql<{ id: string }[]>`INSERT INTO orders (status, total)
    SELECT s, 1 FROM unnest(${statuses}::text[]) AS s RETURNING id::text`;
  return rows.map((r) => r.id);
}

/** Waits until a claim, a flush and a poll or two of `runtime` have certainly passed. */
async function letItRun(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe("one bad record never stops the pipeline", () => {
  it(
    "ends a delivery whose change row is gone with CHANGE_MISSING, and delivers everything else once",
    async () => {
      await insertObserver(db.sql, {
        name: "missing",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/hook`)],
        // Fixed: the default exponential backoff has full jitter, so the retry could come due
        // (and fail again, maybe twice, dead-lettering) before the first runtime stops.
        retry_config: {
          max_attempts: 3,
          backoff_strategy: "fixed",
          initial_delay_ms: 3_000,
          max_delay_ms: 3_000,
        },
      });
      // The receiver refuses the first attempt of the 'doomed' order: it waits to be retried.
      receiver.reply((request) =>
        JSON.parse(request.text).after?.status === "doomed" ? { status: 503 } : { status: 204 },
      );
      const first = await startRuntime("missing");
      const [doomed] = await insertOrders(["doomed"]);
      const [failed] = await eventually(
        async () => {
          const rows = await logRows("missing");
          return rows.length > 0 ? rows : undefined;
        },
        "the failed first attempt",
        WAIT_MS,
      );
      expect(failed).toMatchObject({ status: "failed", entity_id: doomed });
      await stopRuntime(first);
      const [waiting] = await db.sql<{ fk: string; leased: boolean }[]>`
      SELECT fk_entity_change_log::text AS fk, lease_owner IS NOT NULL AS leased
      FROM core.tb_observer_delivery`;
      expect(waiting?.leased).toBe(false);

      // Someone purges the change row by hand while its retry waits.
      await db.sql`DELETE FROM core.tb_entity_change_log WHERE pk_entity_change_log = ${waiting?.fk ?? "0"}::bigint`;
      receiver.requests.length = 0;
      receiver.reply(() => ({ status: 204 }));

      const second = await startRuntime("missing");
      const ids = await insertOrders(["a", "b", "c"]);
      // The retry comes due while the new runtime runs; later changes follow it.
      await eventually(
        async () => {
          const rows = await logRows("missing");
          return rows.some((r) => r.error_code === "CHANGE_MISSING") ? true : undefined;
        },
        "the delivery without its change to end",
        WAIT_MS,
      );
      ids.push(...(await insertOrders(["d", "e"])));
      const rows = await eventually(
        async () => {
          const all = await logRows("missing");
          return all.filter((r) => r.status === "success").length === ids.length ? all : undefined;
        },
        "every other delivery to be logged",
        WAIT_MS,
      );
      expect(rows.filter((r) => r.status === "success").map((r) => r.entity_id)).toEqual(
        expect.arrayContaining(ids),
      );
      const missing = rows.filter((r) => r.error_code === "CHANGE_MISSING");
      expect(missing).toEqual([
        expect.objectContaining({
          status: "failed",
          delivery_id: failed?.delivery_id,
          event_id: failed?.event_id,
          error_message: expect.stringMatching(/change-log row \d+ is gone/),
        }),
      ]);
      // The action never ran on the missing change: only the good orders reached the receiver.
      expect(receiver.requests.map((r) => JSON.parse(r.text).entity_id).sort()).toEqual(
        [...ids].sort(),
      );
      await eventually(
        async () => ((await deliveriesLeft()) === 0 ? true : undefined),
        "no delivery left",
        WAIT_MS,
      );
      await stopRuntime(second);

      // After a restart (and past any lease the old runtime could have left), nothing runs again.
      const third = await startRuntime("missing");
      const [marker] = await insertOrders(["after-restart"]);
      await eventually(
        async () => {
          const all = await logRows("missing");
          return all.some((r) => r.entity_id === marker && r.status === "success")
            ? true
            : undefined;
        },
        "the restarted runtime to deliver a new change",
        WAIT_MS,
      );
      await letItRun(LEASE_MS * 2);
      expect([...requestsById().values()].every((n) => n === 1)).toBe(true);
      expect(receiver.requests).toHaveLength(ids.length + 1);
      expect(
        (await logRows("missing")).filter((r) => r.error_code === "CHANGE_MISSING"),
      ).toHaveLength(1);
      await stopRuntime(third);
    },
    TEST_MS,
  );

  it(
    "replays a dead letter from its own copy after the change row is gone",
    async () => {
      receiver.reply(() => ({ status: 410 }));
      await insertObserver(db.sql, {
        name: "replayed",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/hook`)],
      });
      const runtime = await startRuntime("replayed");
      const [order] = await insertOrders(["replay-me"]);
      const dead = await eventually(
        async () => {
          const [row] = await db.sql<{ id: string; delivery_id: string; fk: string }[]>`
        SELECT id::text, delivery_id::text, fk_entity_change_log::text AS fk
        FROM core.tb_observer_dlq WHERE observer_name = 'replayed'`;
          return row;
        },
        "a dead letter",
        WAIT_MS,
      );
      await db.sql`DELETE FROM core.tb_entity_change_log WHERE pk_entity_change_log = ${dead.fk}::bigint`;
      receiver.reply(() => ({ status: 204 }));
      expect(await retryDeadLetter(db.client, dead.id)).toBe(true);
      runtime.wake();
      const [, replay] = await receiver.waitFor(2);
      expect(replay?.headers["webhook-id"]).toBe(dead.delivery_id);
      expect(JSON.parse(replay?.text ?? "")).toMatchObject({
        entity_id: order,
        after: { status: "replay-me" },
      });
      await eventually(
        async () => {
          const rows = await db.sql`SELECT 1 FROM core.tb_observer_dlq WHERE id = ${dead.id}::uuid`;
          return rows.length === 0 ? true : undefined;
        },
        "the dead letter to be resolved",
        WAIT_MS,
      );
      expect((await logRows("replayed")).map((r) => r.error_code)).not.toContain("CHANGE_MISSING");
    },
    TEST_MS,
  );

  it(
    "logs a delivery created before deliveries kept their event id under the nil UUID",
    async () => {
      await insertObserver(db.sql, {
        name: "legacy",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/hook`)],
      });
      // As a delivery written before migration 0008 looks, for a change since purged.
      await db.sql`INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index, fk_customer_org)
      SELECT gen_random_uuid(), pk_observer, 987654321, 0, 7 FROM core.tb_observer WHERE name = 'legacy'`;
      await startRuntime("legacy");
      const [row] = await eventually(
        async () => {
          const rows = await db.sql<{ event_id: string; org: number; error_message: string }[]>`
        SELECT l.event_id::text, l.fk_customer_org::int AS org, l.error_message
        FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
        WHERE o.name = 'legacy' AND l.error_code = 'CHANGE_MISSING'`;
          return rows.length > 0 ? rows : undefined;
        },
        "the CHANGE_MISSING row",
        WAIT_MS,
      );
      expect(row).toMatchObject({ event_id: "00000000-0000-0000-0000-000000000000", org: 7 });
      expect(row?.error_message).toContain("change-log row 987654321 is gone");
      expect(receiver.requests).toHaveLength(0);
      await eventually(
        async () => ((await deliveriesLeft()) === 0 ? true : undefined),
        "no delivery left",
        WAIT_MS,
      );
    },
    TEST_MS,
  );

  it(
    "quarantines an outcome row the database refuses, records all the others, and stops in time",
    async () => {
      await insertObserver(db.sql, {
        name: "refused",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/hook`)],
      });
      // A constraint someone added to the log that refuses exactly one order's row (SQLSTATE 23514).
      const [poison] = await db.sql<
        { id: string }[]
      >`SELECT (COALESCE(max(id), 0) + 1000)::text AS id FROM orders`;
      const poisonId = poison?.id ?? "";
      await db.sql.unsafe(
        `ALTER TABLE core.tb_observer_log ADD CONSTRAINT test_refuses_one_row
       CHECK (entity_id IS DISTINCT FROM '${poisonId}') NOT VALID`,
      );
      try {
        const runtime = await startRuntime("refused");
        const before = await insertOrders(["a", "b", "c", "d"]);
        await db.sql`INSERT INTO orders (id, status, total) OVERRIDING SYSTEM VALUE
        VALUES (${poisonId}::bigint, 'poison', 1)`;
        const after = await insertOrders(["e", "f", "g", "h"]);
        const good = [...before, ...after];
        const rows = await eventually(
          async () => {
            const all = await logRows("refused");
            return all.length === good.length + 1 ? all : undefined;
          },
          "every outcome to be recorded",
          WAIT_MS,
        );
        expect(
          rows
            .filter((r) => r.error_code === null)
            .map((r) => r.entity_id)
            .sort(),
        ).toEqual([...good].sort());
        const quarantined = rows.filter((r) => r.error_code === "OUTCOME_QUARANTINED");
        expect(quarantined).toEqual([
          expect.objectContaining({
            status: "failed",
            entity_id: null,
            error_message: expect.stringMatching(/status success.*test_refuses_one_row/),
          }),
        ]);
        const poisonRequest = receiver.requests.find(
          (r) => JSON.parse(r.text).entity_id === poisonId,
        );
        expect(quarantined[0]?.delivery_id).toBe(poisonRequest?.headers["webhook-id"]);
        await eventually(
          async () => ((await deliveriesLeft()) === 0 ? true : undefined),
          "no delivery left",
          WAIT_MS,
        );

        // Stop returns within its shutdown bound (generously: the timeout plus a margin).
        const started = Date.now();
        await stopRuntime(runtime);
        expect(Date.now() - started).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3_000);

        // And nothing is made again after a restart.
        const restarted = await startRuntime("refused");
        const [marker] = await insertOrders(["after-restart"]);
        await eventually(
          async () => {
            const all = await logRows("refused");
            return all.some((r) => r.entity_id === marker) ? true : undefined;
          },
          "the restarted runtime to deliver a new change",
          WAIT_MS,
        );
        await letItRun(LEASE_MS * 2);
        expect([...requestsById().values()].every((n) => n === 1)).toBe(true);
        expect(receiver.requests).toHaveLength(good.length + 2);
        await stopRuntime(restarted);
      } finally {
        await db.sql`ALTER TABLE core.tb_observer_log DROP CONSTRAINT test_refuses_one_row`;
      }
    },
    TEST_MS,
  );
});

describe("recordOutcomesIsolating", () => {
  const record = (entityId: string) => logOnlyRecord({ entity_id: entityId });

  it("splits a batch around the rows the database refuses and records the rest", async () => {
    await db.sql.unsafe(
      `ALTER TABLE core.tb_observer_log ADD CONSTRAINT test_refuses_two
       CHECK (entity_id NOT IN ('bad-1', 'bad-2')) NOT VALID`,
    );
    try {
      const names = Array.from({ length: 20 }, (_, i) => `ok-${i}`);
      names.splice(3, 0, "bad-1");
      names.splice(15, 0, "bad-2");
      const batch = names.map((n) => record(n));
      const result = await recordOutcomesIsolating(db.client, "test", batch);
      expect(result.failure).toBeNull();
      expect(result.recorded).toHaveLength(20);
      expect(result.quarantined.map((q) => q.record.entity_id)).toEqual(["bad-1", "bad-2"]);
      const stored = await db.sql<{ entity_id: string | null; error_code: string }[]>`
        SELECT entity_id, error_code FROM core.tb_observer_log
        WHERE event_id = ANY(${batch.map((r) => r.event_id)}::uuid[])`;
      expect(
        stored
          .filter((r) => r.error_code === "TEST")
          .map((r) => r.entity_id)
          .sort(),
      ).toEqual([...names].filter((n) => n.startsWith("ok-")).sort());
      expect(stored.filter((r) => r.error_code === "OUTCOME_QUARANTINED")).toHaveLength(2);
    } finally {
      await db.sql`ALTER TABLE core.tb_observer_log DROP CONSTRAINT test_refuses_two`;
    }
  });

  it("sets aside a row a trigger refuses, unless the database refuses every row", async () => {
    // A trigger raising a plain exception (P0001) may refuse one row or every row.
    const stubborn = crypto.randomUUID();
    await db.sql.unsafe(`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.entity_id = 'trigger-bad' OR NEW.delivery_id = '${stubborn}'
          OR current_setting('test.refuse_all', true) = 'on' THEN
          RAISE EXCEPTION 'refused by a trigger';
        END IF;
        RETURN NEW;
      END $$`);
    await db.sql.unsafe(`CREATE TRIGGER test_refuse BEFORE INSERT ON core.tb_observer_log
      FOR EACH ROW EXECUTE FUNCTION test_refuse()`);
    try {
      // Its minimal row is accepted: the trigger refused that record, which is quarantined.
      const bad = record("trigger-bad");
      const batch = [record("t-1"), bad, record("t-2"), record("t-3")];
      const first = await recordOutcomesIsolating(db.client, "test", batch);
      expect(first.failure).toBeNull();
      expect(first.recorded.map((r) => r.entity_id)).toEqual(["t-1", "t-2", "t-3"]);
      expect(first.quarantined).toEqual([expect.objectContaining({ how: "logged", record: bad })]);

      // Refused even as a minimal row, before anything else was written: judged after the others.
      const refused = { ...record("stubborn"), delivery_id: stubborn };
      const second = await recordOutcomesIsolating(db.client, "test", [
        refused,
        record("t-4"),
        record("t-5"),
      ]);
      expect(second.failure).toBeNull();
      expect(second.recorded.map((r) => r.entity_id)).toEqual(["t-4", "t-5"]);
      // A log-only record has no delivery to park: the runtime's log line is all that is left.
      expect(second.quarantined).toEqual([
        expect.objectContaining({ how: "unrecorded", record: refused }),
      ]);

      // A trigger refusing every row: the batch comes back whole, nothing is set aside.
      await db.sql.unsafe(`ALTER DATABASE ${db.name} SET test.refuse_all = 'on'`);
      const refusing = createPostgresClient(db.url, { max: 1 });
      try {
        const all = [record("u-1"), record("u-2"), record("u-3")];
        const third = await recordOutcomesIsolating(refusing, "test", all);
        expect(third.recorded).toEqual([]);
        expect(third.quarantined).toEqual([]);
        expect(third.failure?.unwritten).toEqual(all);
      } finally {
        await refusing.close();
        await db.sql.unsafe(`ALTER DATABASE ${db.name} RESET test.refuse_all`);
      }
    } finally {
      await db.sql.unsafe("DROP TRIGGER test_refuse ON core.tb_observer_log");
      await db.sql.unsafe("DROP FUNCTION test_refuse()");
    }
  });

  it("parks the delivery when not even the quarantine row can be written", async () => {
    const observer = await insertObserver(db.sql, {
      name: "parked",
      actions: [webhook(receiver.url)],
    });
    const deliveryId = crypto.randomUUID();
    const [delivery] = await db.sql<{ pk: string }[]>`
      INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index, lease_owner, next_attempt_at)
      SELECT ${deliveryId}::uuid, pk_observer, 1, 0, 'test', now() + interval '1 minute'
      FROM core.tb_observer WHERE id = ${observer}::uuid
      RETURNING pk_observer_delivery::text AS pk`;
    await db.sql.unsafe(
      `ALTER TABLE core.tb_observer_log ADD CONSTRAINT test_refuses_delivery
       CHECK (delivery_id IS DISTINCT FROM '${deliveryId}') NOT VALID`,
    );
    try {
      const done: OutcomeRecord = {
        ...record("parked"),
        pk: delivery?.pk ?? null,
        disposition: "done",
        status: "success",
        delivery_id: deliveryId,
      };
      const result = await recordOutcomesIsolating(db.client, "test", [record("fine"), done]);
      expect(result.failure).toBeNull();
      expect(result.recorded.map((r) => r.entity_id)).toEqual(["fine"]);
      expect(result.quarantined).toEqual([expect.objectContaining({ how: "parked" })]);
      const [parked] = await db.sql<{ owner: string; never: boolean }[]>`
        SELECT lease_owner AS owner, next_attempt_at = 'infinity' AS never
        FROM core.tb_observer_delivery WHERE id = ${deliveryId}::uuid`;
      expect(parked).toEqual({ owner: "quarantined", never: true });
    } finally {
      await db.sql`ALTER TABLE core.tb_observer_log DROP CONSTRAINT test_refuses_delivery`;
    }
  });

  it("hands a batch back whole when the database cannot be reached (nothing quarantined)", async () => {
    const port = await freePort();
    const unreachable = createPostgresClient(
      `postgres://postgres@${NOTHING_LISTENS}:${port}/none`,
      {
        max: 1,
        connectTimeoutSeconds: 2,
      },
    );
    try {
      const batch = [record("x"), record("y")];
      const result = await recordOutcomesIsolating(unreachable, "test", batch);
      expect(result.recorded).toEqual([]);
      expect(result.quarantined).toEqual([]);
      expect(result.failure?.unwritten).toEqual(batch);
    } finally {
      await unreachable.close();
    }
  });
});
