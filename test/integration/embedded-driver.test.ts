/** adapters/drivers/embedded: the SQL port over PGlite, in memory, and its PostgreSQL socket server. */
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmbeddedClient,
  type EmbeddedClient,
  type EmbeddedSocket,
  startEmbeddedSocket,
} from "../../adapters/drivers/embedded/index.ts";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import { normalizeChangeEvent } from "../../src/events/normalize.ts";
import { applyMigrations } from "../../src/store/migrate.ts";

/** expect.poll waits 1 s unless told: too short for a notification on a loaded machine. */
const POLL_MS = 15_000;

const run = promisify(execFile);
const migrations = loadMigrations();
let client: EmbeddedClient;
let socket: EmbeddedSocket | undefined;
const notified: string[] = [];

// PGlite starts and migrates in WebAssembly: seconds, more on a loaded machine than the 10 s a
// hook gets by default (seen timing out there).
beforeAll(async () => {
  client = await createEmbeddedClient({ memory: true });
  await client.listen("fraiseql_observers", { onNotify: (payload) => notified.push(payload) });
}, 60_000);
afterAll(async () => {
  await socket?.close();
  await client?.close();
});

const changes = (entity: string) =>
  client.query<Record<string, unknown>>(
    `SELECT id, pk_entity_change_log, object_type, modification_type, object_id,
       object_data::text AS object_data, fk_customer_org, created_at, transaction_id::text AS transaction_id
     FROM core.tb_entity_change_log WHERE object_type = $1 ORDER BY pk_entity_change_log`,
    [entity],
  );

/** A connection to the socket server: one at a time, so a pool of one. */
function connect(onnotify?: (channel: string, payload: string) => void): postgres.Sql {
  if (!socket) throw new Error("the socket server is not started");
  const options = { max: 1, onnotice: () => {}, ...(onnotify ? { onnotify } : {}) };
  return postgres(socket.url, options as postgres.Options<Record<string, never>>);
}

describe("PGlite in memory", () => {
  it("takes every migration, once", async () => {
    const names = migrations.map((m) => m.name);
    expect(await applyMigrations(client, migrations)).toEqual({ applied: names });
    expect(await applyMigrations(client, migrations)).toEqual({ applied: [] });
    const tables = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'core' ORDER BY 1",
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(["tb_entity_change_log", "tb_observer_delivery", "tb_api_key"]),
    );
  });

  it("answers like postgres.js: BIGINT as text, several statements, transactions", async () => {
    const [row] = await client.query(
      "SELECT 9223372036854775807::int8 AS big, $1::text::jsonb::text AS doc",
      ['{"total": 100.00}'],
    );
    expect(row).toEqual({ big: "9223372036854775807", doc: '{"total": 100.00}' });
    expect(
      await client.query(
        "CREATE TABLE kv (k text PRIMARY KEY); SELECT 1 AS one; CREATE INDEX ON kv (k)",
      ),
    ).toEqual([{ one: 1 }]);
    const failure = new Error("roll back");
    await expect(
      client.transaction(async (tx) => {
        await tx.query("INSERT INTO kv VALUES ($1)", ["gone"]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    await client.transaction((tx) => tx.query("INSERT INTO kv VALUES ($1)", ["kept"]));
    expect(await client.query("SELECT k FROM kv")).toEqual([{ k: "kept" }]);
  });

  it("captures changes of a tracked table and wakes its listener", async () => {
    await client.query(`CREATE TABLE orders (id bigint PRIMARY KEY, org int, status text);
      SELECT core.fn_track_table('orders', 'Order', '{"tenant_column": "org"}')`);
    const before = notified.length;
    await client.query("INSERT INTO orders VALUES ($1, $2, $3)", [1, 7, "new"]);
    await client.query("UPDATE orders SET status = 'shipped'");
    await client.query("DELETE FROM orders");
    const events = (await changes("Order")).map((row) => normalizeChangeEvent(row));
    expect(events.map((e) => [e.event_type, e.entity_id, e.tenant_id])).toEqual([
      ["INSERT", "1", "7"],
      ["UPDATE", "1", "7"],
      ["DELETE", "1", "7"],
    ]);
    expect(events[1]?.changes).toEqual({ status: { old: "new", new: "shipped" } });
    expect(events[0]?.transaction_id).toMatch(/^\d+$/);
    expect(notified.slice(before)).toEqual(["", "", ""]);
  });
});

describe("the socket server", () => {
  it("lets postgres.js write to a tracked table the runtime then sees, and wakes it", async () => {
    socket = await startEmbeddedSocket(client, { port: 0 });
    expect(socket.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const seenBySocket: string[] = [];
    const sql = connect((channel) => seenBySocket.push(channel));
    try {
      const before = notified.length;
      await sql`INSERT INTO orders ${sql({ id: 2, org: 8, status: "via socket" })}`;
      const [row] = (await changes("Order")).filter((r) => r.object_id === "2");
      expect(normalizeChangeEvent(row)).toMatchObject({
        event_type: "INSERT",
        after: { id: 2, org: 8, status: "via socket" },
        tenant_id: "8",
      });
      // The capture's wake-up reaches the runtime's listener, not the client that wrote.
      await expect.poll(() => notified.length, { timeout: POLL_MS }).toBe(before + 1);
      await sql`LISTEN elsewhere`;
      await sql`SELECT pg_notify('elsewhere', 'for the client')`;
      expect(seenBySocket).toEqual(["elsewhere"]);
    } finally {
      await sql.end();
    }
  });

  it("keeps the runtime out of a client's open transaction until it ends", async () => {
    const sql = connect();
    try {
      let runtimeRead: unknown;
      let runtimeDone = false;
      await sql.begin(async (tx) => {
        await tx`INSERT INTO kv VALUES ('client, uncommitted')`;
        const read = client.query("SELECT count(*) AS n FROM kv").then((rows) => {
          runtimeDone = true;
          runtimeRead = rows[0];
        });
        void read;
        await tx`SELECT 1`;
        // Two round trips later the runtime's read still waits: it may not see uncommitted work.
        expect(runtimeDone).toBe(false);
      });
      await expect.poll(() => runtimeDone, { timeout: POLL_MS }).toBe(true);
      expect(runtimeRead).toEqual({ n: "2" });
    } finally {
      await sql.end();
    }
  });

  it("keeps a client out of a runtime transaction, and rolls back one the client leaves open", async () => {
    const sql = connect();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let clientDone = false;
    const runtime = client
      .transaction(async (tx) => {
        await tx.query("INSERT INTO kv VALUES ('runtime, rolled back')");
        await held;
        throw new Error("runtime rolls back");
      })
      .catch(() => {});
    const write = sql`INSERT INTO kv VALUES ('client, committed')`.then(() => {
      clientDone = true;
    });
    // Time for the client's insert to slip into the runtime's transaction, were it let in.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(clientDone).toBe(false);
    release();
    await Promise.all([runtime, write]);

    // A client that dies inside a transaction: its work is rolled back, the runtime goes on.
    const reserved = await sql.reserve();
    await reserved`BEGIN`;
    await reserved`INSERT INTO kv VALUES ('client, abandoned')`;
    await sql.end({ timeout: 0 });
    const rows = await client.query<{ k: string }>("SELECT k FROM kv ORDER BY k");
    expect(rows.map((r) => r.k)).toEqual(["client, committed", "client, uncommitted", "kept"]);
  });

  it("serves several clients, one exchange or transaction at a time, beside the runtime", async () => {
    const a = connect();
    const b = connect();
    try {
      await b`SELECT 1`;
      let bDone = false;
      let bWrite: Promise<unknown> = Promise.resolve();
      await a.begin(async (tx) => {
        await tx`INSERT INTO kv VALUES ('a, in a transaction')`;
        bWrite = b`INSERT INTO kv VALUES ('b, autocommit')`.then(() => {
          bDone = true;
        });
        // Round trips of A's in which B's INSERT would slip into A's transaction, were it let in.
        for (let i = 0; i < 20 && !bDone; i++) await tx`SELECT 1`;
        expect(bDone).toBe(false);
      });
      await bWrite;
      expect(await client.query("SELECT count(*) AS n FROM kv")).toEqual([{ n: "5" }]);

      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const [mine] = await client.query<{ n: number }>("SELECT $1::int AS n", [i]);
          const [theirs] = await (i % 2 ? a : b)`SELECT ${i}::int AS n`;
          return [mine?.n, theirs?.n];
        }),
      );
      expect(results).toEqual(Array.from({ length: 50 }, (_, i) => [i, i]));
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it("answers psql", async () => {
    const url = socket?.url ?? "";
    const { stdout } = await run("psql", [url, "-XAtc", "SELECT count(*) FROM kv"]);
    expect(stdout).toBe("5\n");
  });

  it("frees its port on close", async () => {
    const open = socket;
    socket = undefined;
    await open?.close();
    const port = Number(new URL(open?.url ?? "").port);
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => probe.close(resolve));
    expect(await client.query("SELECT count(*) AS n FROM kv")).toEqual([{ n: "5" }]);
  });
});
