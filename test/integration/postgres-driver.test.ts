/** adapters/drivers/postgres: the SQL port over postgres.js against a real PostgreSQL. */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createPostgresClient,
  type PostgresClient,
  type PostgresClientOptions,
} from "../../adapters/drivers/postgres/postgres-client.ts";
import { parseJson } from "../../src/events/parse-json.ts";
import type { Logger, LogLevel } from "../../src/ports/logger.ts";
import { createTestDatabase, databaseUrl, type TestDatabase } from "../support/database.ts";

/** expect.poll waits 1 s unless told: too short for a notification on a loaded machine. */
const POLL_MS = 15_000;

let db: TestDatabase;
const clients: PostgresClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase("pgdriver");
  await db.sql`CREATE TABLE kept (id bigint PRIMARY KEY, doc jsonb, at timestamptz DEFAULT now())`;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await db?.drop();
});

function client(options: PostgresClientOptions = {}): PostgresClient {
  const c = createPostgresClient(db.url, { max: 2, ...options });
  clients.push(c);
  return c;
}

function recordingLogger() {
  const records: { level: LogLevel; message: string; fields: unknown }[] = [];
  const logger: Logger = {
    log: (level, message, fields) => records.push({ level, message, fields }),
  };
  return { logger, records };
}

/** The backends of this database's listeners (the client names them "<app>:listen"). */
const listenerBackends = () =>
  db.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity
    WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
const killListeners = () =>
  db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;

describe("query", () => {
  it("binds params; JSON in as text and out as text keeps numbers exact", async () => {
    const sql = client();
    const doc = '{"total": 100.00, "big": 9223372036854775807}';
    await sql.query("INSERT INTO kept (id, doc) VALUES ($1, $2::text::jsonb)", [
      "9223372036854775807",
      doc,
    ]);
    const [row] = await sql.query<{ id: string; doc: string; parsed: unknown; at: unknown }>(
      "SELECT id, doc::text AS doc, doc AS parsed, at FROM kept WHERE id = $1",
      ["9223372036854775807"],
    );
    expect(row?.id).toBe("9223372036854775807");
    expect(row?.doc).toBe('{"big": 9223372036854775807, "total": 100.00}');
    expect(parseJson(row?.doc ?? "")).toEqual({ big: 9223372036854775807n, total: 100 });
    expect(row?.at).toBeInstanceOf(Date);
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it("runs several statements when there are no params, answering the last rows", async () => {
    const sql = client();
    const rows = await sql.query(`
      CREATE TEMP TABLE multi (n int);
      INSERT INTO multi VALUES (1), (2);
      SELECT n FROM multi ORDER BY n;
      CREATE TEMP TABLE IF NOT EXISTS multi (n int)`);
    expect(rows).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await sql.query("SELECT 1 AS a; SELECT 2 AS b", [])).toEqual([{ b: 2 }]);
    expect(await sql.query("SELECT 1 AS a")).toEqual([{ a: 1 }]);
    await expect(sql.query("SELECT $1::int; SELECT 2", [1])).rejects.toThrow();
  });

  it("sends notices to the logger at debug, not to the console", async () => {
    const { logger, records } = recordingLogger();
    const sql = client({ logger });
    await sql.query("CREATE TABLE IF NOT EXISTS kept (id int)");
    expect(records).toContainEqual(
      expect.objectContaining({
        level: "debug",
        fields: expect.objectContaining({ message: 'relation "kept" already exists, skipping' }),
      }),
    );
  });
});

describe("transaction", () => {
  it("commits what fn did when it resolves", async () => {
    const sql = client();
    const result = await sql.transaction(async (tx) => {
      await tx.query("INSERT INTO kept (id) VALUES ($1)", [1]);
      await tx.query("INSERT INTO kept (id) VALUES (2); INSERT INTO kept (id) VALUES (3)");
      return "done";
    });
    expect(result).toBe("done");
    expect(await db.sql`SELECT id FROM kept WHERE id < 10 ORDER BY id`).toEqual([
      { id: "1" },
      { id: "2" },
      { id: "3" },
    ]);
  });

  it("rolls back and rethrows when fn throws, or a statement fails", async () => {
    const sql = client();
    const mine = new Error("not this time");
    await expect(
      sql.transaction(async (tx) => {
        await tx.query("INSERT INTO kept (id) VALUES ($1)", [11]);
        throw mine;
      }),
    ).rejects.toBe(mine);
    await expect(
      sql.transaction(async (tx) => {
        await tx.query("INSERT INTO kept (id) VALUES ($1)", [12]);
        await tx.query("INSERT INTO kept (id) VALUES ($1)", [12]);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await db.sql`SELECT id FROM kept WHERE id IN (11, 12)`).toEqual([]);
  });
});

describe("listen", () => {
  it("delivers notifications, comes back after its backend is killed, and says so", async () => {
    const { logger, records } = recordingLogger();
    const sql = client({ logger });
    const payloads: string[] = [];
    let reconnects = 0;
    const listener = await sql.listen("driver test", {
      onNotify: (payload) => payloads.push(payload),
      onReconnect: () => reconnects++,
    });
    await db.sql`SELECT pg_notify('driver test', 'first')`;
    await expect.poll(() => payloads, { timeout: POLL_MS }).toEqual(["first"]);

    // Refuse new connections while the listener's backend dies: re-listening fails until allowed.
    const admin = postgres(databaseUrl("postgres"), { max: 1, onnotice: () => {} });
    await admin.unsafe(`ALTER DATABASE ${db.name} WITH ALLOW_CONNECTIONS false`);
    try {
      await killListeners();
      await expect
        .poll(() => records.filter((r) => r.message === "re-LISTEN failed; trying again").length, {
          timeout: POLL_MS,
        })
        .toBeGreaterThan(0);
      expect(reconnects).toBe(0);
    } finally {
      await admin.unsafe(`ALTER DATABASE ${db.name} WITH ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await expect.poll(() => reconnects, { timeout: 15_000 }).toBe(1);
    expect(await listenerBackends()).toHaveLength(1);
    await db.sql`SELECT pg_notify('driver test', 'after')`;
    await expect.poll(() => payloads, { timeout: POLL_MS }).toEqual(["first", "after"]);

    await listener.close();
    expect(await listenerBackends()).toEqual([]);
    await db.sql`SELECT pg_notify('driver test', 'too late')`;
    expect(payloads).toEqual(["first", "after"]);
  });

  it("close() during a backoff wait cancels it: no timer left, no reconnection", async () => {
    // Every wait is nearly the full minute, so the reconnect is still pending when we close.
    const sql = client({ listenBackoff: { initialMs: 60_000, maxMs: 60_000 }, random: () => 0.99 });
    let reconnects = 0;
    const listener = await sql.listen("driver test", {
      onNotify: () => {},
      onReconnect: () => reconnects++,
    });
    // From here on, every timer anyone sets is counted (vitest's own polling keeps real ones).
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await killListeners();
      await expect.poll(() => vi.getTimerCount(), { timeout: POLL_MS }).toBe(1);
      await listener.close();
      await sql.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect(await listenerBackends()).toEqual([]);
    expect(reconnects).toBe(0);
  });

  it("client.close() closes its listeners too", async () => {
    const sql = createPostgresClient(db.url, { max: 1 });
    await sql.listen("driver test", { onNotify: () => {} });
    expect(await listenerBackends()).toHaveLength(1);
    await sql.close();
    expect(await listenerBackends()).toEqual([]);
    await expect(sql.listen("driver test", { onNotify: () => {} })).rejects.toThrow(/closed/);
  });
});
