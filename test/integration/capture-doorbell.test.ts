/**
 * Capture's doorbell (migrations/0015_capture_doorbell.sql, src/runtime/capture-doorbell.ts):
 * triggers notify only while no reader is busy, readers silence them while changes keep coming
 * and arm them again when they wait, and a waiting runtime is still woken by a commit.
 */
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";

/** expect.poll waits 1 s unless told: too short for a notification on a loaded machine. */
const POLL_MS = 15_000;

const receiver = useReceiver(() => ({ status: 204 }));
const databases: TestDatabase[] = [];
let db: TestDatabase;
const payloads: string[] = [];
let runtime: ObserverRuntime | null = null;

beforeAll(async () => {
  db = await createTestDatabase("capture_doorbell");
  databases.push(db);
  await createOrdersTable(db.sql);
  await db.sql.unsafe("CREATE TABLE quiet_table (id bigint PRIMARY KEY)");
  await db.sql`SELECT core.fn_track_table('quiet_table', 'Quiet', '{"notify": false}')`;
  await db.sql.listen("fraiseql_observers", (payload) => payloads.push(payload));
});
afterEach(async () => {
  await runtime?.stop();
  runtime = null;
  await db.sql`SELECT core.fn_capture_arm()`;
});
afterAll(async () => {
  for (const each of databases) await each.drop();
});

/** Notifications of capture (payload '') between two markers: delivered in commit order. */
async function captureNotifications(label: string, fn: () => Promise<unknown>): Promise<number> {
  const mark = async (marker: string) => {
    await db.sql`SELECT pg_notify('fraiseql_observers', ${marker})`;
    await expect
      .poll(() => payloads.includes(marker), { interval: 5, timeout: POLL_MS })
      .toBe(true);
  };
  await mark(`${label}:start`);
  await fn();
  await mark(`${label}:end`);
  const between = payloads.slice(
    payloads.indexOf(`${label}:start`) + 1,
    payloads.indexOf(`${label}:end`),
  );
  return between.filter((p) => p === "").length;
}

const insertOrder = (sql: postgres.Sql = db.sql) =>
  sql`INSERT INTO orders (status, total) VALUES ('new', 1)`;

describe("the capture trigger's doorbell", () => {
  it("rings while armed, stays silent while a reader is busy, and never with notify: false", async () => {
    expect(await captureNotifications("armed", () => insertOrder())).toBe(1);
    await db.sql`SELECT core.fn_capture_quiet(60000)`;
    expect(await captureNotifications("quiet", () => insertOrder())).toBe(0);
    await db.sql`SELECT core.fn_capture_arm()`;
    expect(await captureNotifications("armed-again", () => insertOrder())).toBe(1);
    expect(
      await captureNotifications("notify-false", () => db.sql`INSERT INTO quiet_table VALUES (1)`),
    ).toBe(0);
  });

  it("is seen armed by a REPEATABLE READ writer whose snapshot predates the arm", async () => {
    await db.sql`SELECT core.fn_capture_quiet(60000)`;
    const writer = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const count = await captureNotifications("repeatable", () =>
        writer.begin("ISOLATION LEVEL REPEATABLE READ", async (tx) => {
          await tx`SELECT count(*) FROM orders`;
          await db.sql`SELECT core.fn_capture_arm()`;
          await insertOrder(tx as unknown as postgres.Sql);
        }),
      );
      expect(count).toBe(1);
    } finally {
      await writer.end();
    }
  });

  it("arming returns a marker that stays ahead of a writer running at the time, until it ends", async () => {
    const writer = postgres(db.url, { max: 1, onnotice: () => {} });
    const ended = async (marker: string) => {
      const [row] = await db.sql<{ ended: boolean }[]>`
        SELECT pg_snapshot_xmin(pg_current_snapshot()) > ${marker}::xid8 AS ended`;
      return row?.ended;
    };
    try {
      let marker = "";
      await writer.begin(async (tx) => {
        const [own] = await tx`INSERT INTO orders (status) VALUES ('open')
          RETURNING pg_current_xact_id()::text AS xid`;
        const [armed] = await db.sql<{ marker: string }[]>`
          SELECT core.fn_capture_arm()::text AS marker`;
        marker = armed?.marker ?? "";
        expect(BigInt(marker)).toBeGreaterThan(BigInt(own?.xid ?? "0"));
        expect(await ended(marker)).toBe(false);
      });
      // Once it has ended (and whatever else older ran on the server, in any database: the
      // horizon is the server's).
      await expect.poll(() => ended(marker), { timeout: 30_000, interval: 20 }).toBe(true);
    } finally {
      await writer.end();
    }
  });
});

describe("migration 0015 on a database with tables tracked before it", () => {
  it("puts the doorbell into existing capture functions, which still capture and notify", async () => {
    const old = await createTestDatabase("capture_doorbell_upgrade", { migrated: false });
    databases.push(old);
    const migrations = loadMigrations();
    await applyMigrations(
      old.client,
      migrations.filter((m) => m.version < 15),
    );
    await createOrdersTable(old.sql, "tracked_before");
    await applyMigrations(old.client, migrations);
    const [fn] = await old.sql<{ src: string }[]>`
      SELECT prosrc AS src FROM pg_proc
      WHERE proname = core.fn_capture_function_name('tracked_before')
        AND pronamespace = 'core'::regnamespace`;
    expect(fn?.src).toContain("core.sq_capture_quiet_until");
    const heard: string[] = [];
    await old.sql.listen("fraiseql_observers", (payload) => heard.push(payload));
    await old.sql`INSERT INTO tracked_before (status) VALUES ('new')`;
    await old.sql`SELECT pg_notify('fraiseql_observers', 'after-insert')`;
    await expect
      .poll(() => heard.includes("after-insert"), { interval: 5, timeout: POLL_MS })
      .toBe(true);
    expect(heard.slice(0, heard.indexOf("after-insert"))).toEqual([""]);
    const [quiet] = await old.sql`SELECT core.fn_capture_quiet(60000)`;
    expect(quiet).toBeDefined();
    await old.sql`INSERT INTO tracked_before (status) VALUES ('new')`;
    await old.sql`SELECT pg_notify('fraiseql_observers', 'after-quiet')`;
    await expect
      .poll(() => heard.includes("after-quiet"), { interval: 5, timeout: POLL_MS })
      .toBe(true);
    expect(heard.filter((p) => p === "")).toHaveLength(1);
    const [count] = await old.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_entity_change_log`;
    expect(count?.n).toBe(2);
  });
});

describe("a runtime and the doorbell", () => {
  /** A runtime that never polls in a test's lifetime: only notifications wake it. */
  async function startRuntime(listenerId: string): Promise<ObserverRuntime> {
    await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
      SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
      FROM core.tb_entity_change_log`;
    runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment(),
      listenerId,
      pollIntervalMs: 3_600_000,
      shutdownTimeoutMs: 2_000,
    });
    await runtime.start();
    return runtime;
  }
  const quietUntil = async () => {
    const [row] = await db.sql<{ v: string }[]>`
      SELECT last_value::text AS v FROM core.sq_capture_quiet_until`;
    return Number(row?.v);
  };

  it("silences notifications while busy, delivers everything, then is woken by one commit", async () => {
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
    await insertObserver(db.sql, {
      name: "doorbell",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/hook`)],
    });
    await startRuntime("doorbell");
    const producers = Array.from({ length: 4 }, () =>
      postgres(db.url, { max: 1, onnotice: () => {} }),
    );
    const commits = 4 * 400;
    try {
      const notifications = await captureNotifications("busy", () =>
        Promise.all(
          producers.map(async (producer) => {
            for (let i = 0; i < commits / 4; i++) await insertOrder(producer);
          }),
        ),
      );
      // Every commit would notify without the doorbell; a busy runtime silences most of them.
      expect(notifications).toBeLessThan(commits / 2);
    } finally {
      for (const producer of producers) await producer.end();
    }
    await receiver.waitFor(commits);
    // Idle again: the runtime armed the doorbell (a lease running out would leave a time here).
    await eventually(async () => ((await quietUntil()) === 0 ? true : undefined), "re-armed");
    // Its poll is an hour away: only the commit's notification can wake it.
    receiver.requests.length = 0;
    expect(await captureNotifications("idle", () => insertOrder())).toBe(1);
    await receiver.waitFor(1);
  });
});
