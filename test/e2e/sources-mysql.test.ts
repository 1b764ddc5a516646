/**
 * A MariaDB table tracked through `/api/sources` fires observers end to end, with real processes:
 * a MariaDB of this file's own (binlog on), the Bun server as users run it, a webhook receiver.
 * Exact values in before/after (DECIMAL, BIGINT beyond 2^53, DATETIME, TIMESTAMP, JSON, BLOB,
 * NULL), a multi-row statement, a rolled-back transaction (nothing), ALTER TABLE (the new column
 * appears), kill -9 of the server mid-stream then a new server (nothing lost, nothing written
 * twice), and a MariaDB killed and restarted (the error shows, then reading resumes). Over TLS
 * too: the MariaDB offers it, and a user that must use it (REQUIRE SSL) is read with
 * `ssl-mode=verify-identity` and the CA in `ssl-ca-env`, on Bun and on Deno. The URL's password
 * never appears in a response or the server's output.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type MariaDbServer, startMariaDb } from "../support/mariadb-server.ts";
import { eventually } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const PASSWORD = "e2e-s3cret-passw0rd";
const CA_ENV = "OBSERVERS_SECRET_MARIA_CA";

let maria: MariaDbServer;
let db: TestDatabase;
let receiver: Receiver;
let url: string;
/** A user that must use TLS, by the name its certificate holds, with verify-identity. */
let tlsUrl: string;
let env: Record<string, string>;
const servers: ServerProcess[] = [];
let sourceId = "";

interface Hook {
  entity_id: string;
  event_type: string;
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const hooks = () => receiver.requests.map((r) => JSON.parse(r.text) as Hook);
const hooksOf = (id: string) => hooks().filter((h) => h.entity_id === id);

async function server(runtime: "bun" | "deno" = "bun"): Promise<ServerProcess> {
  const started = await startServer(env, { runtime });
  servers.push(started);
  return started;
}

async function sourceState(s: ServerProcess) {
  const response = await s.api(`/api/sources/${sourceId}`);
  const text = await response.text();
  expect(text).not.toContain(PASSWORD);
  return JSON.parse(text) as {
    state: {
      connected: boolean;
      reading: boolean;
      position: Record<string, unknown> | null;
      last_error: { code: string } | null;
      changes_captured: number;
    };
  };
}

beforeAll(async () => {
  [maria, db, receiver] = await Promise.all([
    startMariaDb(undefined, { tls: "offered" }),
    createTestDatabase("sources_e2e"),
    startReceiver(),
  ]);
  url = await maria.createUser("observer", PASSWORD);
  const secure = await maria.createUser("secure", PASSWORD);
  await maria.query("ALTER USER 'secure'@'%' REQUIRE SSL");
  tlsUrl = `${secure.replace("@127.0.0.1:", "@localhost:")}?ssl-mode=verify-identity&ssl-ca-env=${CA_ENV}`;
  await maria.query(`CREATE DATABASE app;
    CREATE TABLE app.orders (id BIGINT PRIMARY KEY, amount DECIMAL(30,10), big BIGINT,
      at DATETIME(3), ts TIMESTAMP(6) NULL, doc JSON, bin BLOB, note VARCHAR(50));
    CREATE TABLE app.other (id INT PRIMARY KEY);
    CREATE TABLE app.secure (id INT PRIMARY KEY, note VARCHAR(50))`);
  env = {
    DATABASE_URL: db.url,
    OBSERVERS_SOURCE_KEY: "e2e-source-key-0123456789abcdef0123456789",
    OBSERVERS_SOURCE_LEASE_MS: "1500",
    // Deliveries the killed server had leased are taken over this soon.
    OBSERVERS_LEASE_MS: "2000",
    OBSERVERS_POLL_INTERVAL_MS: "100",
    LOG_LEVEL: "info",
    [CA_ENV]: maria.caPem ?? "",
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill9()));
  for (const s of servers) expect(s.output()).not.toContain(PASSWORD);
  await Promise.all([maria?.close(), db?.drop(), receiver?.close()]);
});

describe("a MariaDB table tracked through /api/sources", () => {
  let first: ServerProcess;

  it("is created through the API and starts at the binlog's head", async () => {
    first = await server();
    const observer = await first.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "orders-hook",
        entity_type: "Order",
        actions: [{ type: "webhook", url: `${receiver.url}/orders` }],
        retry_config: { max_attempts: 10, initial_delay_ms: 50, max_delay_ms: 200 },
      }),
    });
    expect(observer.status).toBe(201);
    const created = await first.api("/api/sources", {
      method: "POST",
      body: JSON.stringify({
        name: "shop",
        kind: "mysql",
        url,
        start: "now",
        tables: [{ table: "app.orders", entity_type: "Order" }],
      }),
    });
    const text = await created.text();
    expect(created.status, text).toBe(201);
    expect(text).not.toContain(PASSWORD);
    sourceId = (JSON.parse(text) as { id: string }).id;
    await eventually(async () => {
      const { state } = await sourceState(first);
      return state.position !== null && state.connected ? true : undefined;
    }, "the source connected");
    // Its entity type now counts as captured: no warning on a new observer of it.
    const again = await first.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "orders-log",
        entity_type: "Order",
        actions: [{ type: "log", message_template: "{{ id }}" }],
      }),
    });
    expect(JSON.stringify(await again.json())).not.toContain("no table is tracked");
  }, 60_000);

  it("delivers inserts, updates and deletes with exact values", async () => {
    await maria.query(`INSERT INTO app.orders VALUES (1, 12345678901234567890.0123456789,
      9007199254740993, '2024-02-29 23:59:58.125', '2024-03-01 12:00:00.000001',
      '{"k": [1, "two", null, {"x": true}]}', X'00FF7F80', NULL)`);
    await maria.query("UPDATE app.orders SET note = 'paid', amount = amount + 1 WHERE id = 1");
    await maria.query("DELETE FROM app.orders WHERE id = 1");
    // Deliveries are unordered (the observer's default): they may arrive in any order.
    const got = await eventually(() => {
      const found = hooksOf("1");
      return found.length >= 3 ? found : undefined;
    }, "three webhooks for order 1");
    const ofType = (type: string) => got.find((hook) => hook.event_type === type);
    const [insert, update, remove] = [ofType("INSERT"), ofType("UPDATE"), ofType("DELETE")];
    const row = {
      id: 1,
      amount: "12345678901234567890.0123456789",
      big: "9007199254740993",
      at: "2024-02-29T23:59:58.125",
      ts: "2024-03-01T12:00:00.000001Z",
      doc: { k: [1, "two", null, { x: true }] },
      bin: "AP9/gA==",
      note: null,
    };
    expect(insert).toMatchObject({ event_type: "INSERT", before: null, after: row });
    const paid = { ...row, amount: "12345678901234567891.0123456789", note: "paid" };
    expect(update).toMatchObject({ event_type: "UPDATE", before: row, after: paid });
    expect(remove).toMatchObject({ event_type: "DELETE", before: paid, after: null });
  }, 30_000);

  it("reads a source over TLS (verify-identity, the CA from ssl-ca-env): inserts and updates delivered", async () => {
    const observer = await first.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "secure-hook",
        entity_type: "Secure",
        actions: [{ type: "webhook", url: `${receiver.url}/secure` }],
        retry_config: { max_attempts: 10, initial_delay_ms: 50, max_delay_ms: 200 },
      }),
    });
    expect(observer.status).toBe(201);
    const created = await first.api("/api/sources", {
      method: "POST",
      body: JSON.stringify({
        name: "secure",
        kind: "mysql",
        url: tlsUrl,
        tables: [{ table: "app.secure", entity_type: "Secure" }],
      }),
    });
    const text = await created.text();
    expect(created.status, text).toBe(201);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain("ssl-mode");
    const secureId = (JSON.parse(text) as { id: string }).id;
    await eventually(async () => {
      const response = await first.api(`/api/sources/${secureId}`);
      const body = (await response.json()) as { state: { connected: boolean } };
      return body.state.connected ? true : undefined;
    }, "the TLS source connected");
    await maria.query("INSERT INTO app.secure VALUES (8001, 'sealed')");
    await maria.query("UPDATE app.secure SET note = 'opened' WHERE id = 8001");
    const got = await eventually(() => {
      const found = hooksOf("8001");
      return found.length >= 2 ? found : undefined;
    }, "two webhooks for secure row 8001");
    expect(got.find((hook) => hook.event_type === "UPDATE")).toMatchObject({
      before: { id: 8001, note: "sealed" },
      after: { id: 8001, note: "opened" },
    });
    // The later tests count this server's sources: this one goes.
    expect((await first.api(`/api/sources/${secureId}`, { method: "DELETE" })).status).toBe(204);
  }, 60_000);

  it("delivers each row of a multi-row statement, nothing of a rolled-back transaction or another table", async () => {
    await maria.query("BEGIN; INSERT INTO app.orders (id) VALUES (900); ROLLBACK");
    await maria.query("INSERT INTO app.other VALUES (901)");
    await maria.query("INSERT INTO app.orders (id, note) VALUES (10, 'a'), (11, 'b'), (12, 'c')");
    await eventually(
      () => (["10", "11", "12"].every((id) => hooksOf(id).length === 1) ? true : undefined),
      "the three rows",
    );
    expect(hooksOf("900")).toEqual([]);
    expect(hooksOf("901")).toEqual([]);
  }, 30_000);

  it("follows ALTER TABLE: a new column appears in later events", async () => {
    await maria.query("ALTER TABLE app.orders ADD COLUMN priority INT NOT NULL DEFAULT 3");
    await maria.query("UPDATE app.orders SET priority = 9 WHERE id = 10");
    const [update] = await eventually(() => {
      const found = hooksOf("10").filter((h) => h.event_type === "UPDATE");
      return found.length > 0 ? found : undefined;
    }, "the update after ALTER");
    expect(update?.before).toMatchObject({ id: 10, note: "a", priority: 3 });
    expect(update?.after).toMatchObject({ id: 10, note: "a", priority: 9 });
  }, 30_000);

  it("survives kill -9 of the server mid-stream: nothing lost, nothing written twice", async () => {
    const ids = Array.from({ length: 150 }, (_, i) => 1000 + i);
    let written = 0;
    let killed = false;
    const writing = (async () => {
      for (let i = 0; i < ids.length; i += 5) {
        // Never more than three statements ahead of what the server delivered, until it is
        // killed: however slow the machine, it dies with rows still to come (a writer free to run
        // ahead could finish before the first webhook arrived, on a loaded machine).
        const behind = ids[i - 15];
        while (!killed && behind !== undefined && hooksOf(String(behind)).length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const values = ids.slice(i, i + 5).map((id) => `(${id}, 'k')`);
        await maria.query(`INSERT INTO app.orders (id, note) VALUES ${values.join(", ")}`);
        written += 5;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await eventually(() => (hooksOf("1010").length > 0 ? true : undefined), "some written");
    await first.kill9();
    killed = true;
    // Killed mid-stream: rows were still being written.
    expect(written).toBeLessThan(ids.length);
    await writing;
    const second = await server();
    await eventually(
      () => (ids.every((id) => hooksOf(String(id)).length > 0) ? true : undefined),
      "every row delivered",
      60_000,
    );
    // Each row is one change-log row: the position was written with the changes.
    const rows = await db.sql<{ object_id: string; n: number }[]>`
      SELECT object_id, count(*)::int AS n FROM core.tb_entity_change_log
      WHERE object_type = 'Order' AND object_id::bigint >= 1000 GROUP BY object_id`;
    expect(rows.length).toBe(ids.length);
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    const { state } = await sourceState(second);
    expect(state.reading).toBe(true);
  }, 90_000);

  it("survives a MariaDB restart: the error shows, then reading resumes", async () => {
    const current = servers.at(-1) as ServerProcess;
    await maria.kill9();
    const failed = await eventually(async () => {
      const { state } = await sourceState(current);
      return state.last_error !== null && !state.connected ? state : undefined;
    }, "the error on the source");
    expect(["SOURCE_CONNECTION_LOST", "SOURCE_UNREACHABLE"]).toContain(failed.last_error?.code);
    // The CLI's status says which source fails, and why (the code: the message is in the API).
    const status = (args: string[]) =>
      runCli(["status", "--base-url", current.url, "--admin-token", current.token, ...args]);
    const failing = await eventually(async () => {
      const out = await status(["--format", "json"]);
      const sources = JSON.parse(out.stdout).sources as { last_error_code: string | null }[];
      return sources?.[0]?.last_error_code ? out : undefined;
    }, "the failing source in status");
    expect(failing.code).toBe(0);
    expect((await status([])).stdout).toMatch(/sources: +shop \(mysql\) failing: SOURCE_/);
    await maria.restart();
    await maria.query("INSERT INTO app.orders (id, note) VALUES (5000, 'after restart')");
    await eventually(() => (hooksOf("5000").length > 0 ? true : undefined), "the row", 60_000);
    const { state } = await sourceState(current);
    expect(state.last_error).toBeNull();
    const health = await fetch(`${current.url}/api/observers/runtime/health`);
    const body = (await health.json()) as { sources?: { name: string; connected: boolean }[] };
    expect(body.sources).toEqual([expect.objectContaining({ name: "shop", connected: true })]);
    expect((await status([])).stdout).toMatch(/sources: +shop \(mysql\) connected, \d+ changes/);
    const metrics = await (await current.api("/metrics")).text();
    expect(metrics).toContain('fraiseql_observer_source_connected{source="shop"} 1');
    expect(metrics).toMatch(/fraiseql_observer_source_changes_total\{source="shop"\} [1-9]/);
    expect(metrics).toMatch(
      /fraiseql_observer_source_errors_total\{source="shop",code="SOURCE_(CONNECTION_LOST|UNREACHABLE)"\} [1-9]/,
    );
  }, 90_000);

  it("stops reading a deleted source", async () => {
    const current = servers.at(-1) as ServerProcess;
    expect((await current.api(`/api/sources/${sourceId}`, { method: "DELETE" })).status).toBe(204);
    await eventually(async () => {
      const health = await fetch(`${current.url}/api/observers/runtime/health`);
      const body = (await health.json()) as { sources?: unknown[] };
      return body.sources?.length === 0 ? true : undefined;
    }, "the reader stopped");
    await maria.query("INSERT INTO app.orders (id) VALUES (6000)");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_entity_change_log
      WHERE object_id = '6000'`;
    expect(row?.n).toBe(0);
  }, 30_000);

  it("runs on the Deno server too, over TLS", async () => {
    // Only the Deno server runs: it takes the new source's lease.
    for (const s of servers) await s.kill9();
    const deno = await server("deno");
    const created = await deno.api("/api/sources", {
      method: "POST",
      body: JSON.stringify({
        name: "shop-deno",
        kind: "mysql",
        url: tlsUrl,
        tables: [{ table: "app.orders", entity_type: "Order" }],
      }),
    });
    expect(created.status).toBe(201);
    sourceId = ((await created.json()) as { id: string }).id;
    await eventually(
      async () => {
        const { state } = await sourceState(deno);
        return state.connected ? true : undefined;
      },
      "the source connected on Deno",
      30_000,
    );
    await maria.query("INSERT INTO app.orders (id, amount) VALUES (7000, 0.1)");
    const [hook] = await eventually(() => {
      const found = hooksOf("7000");
      return found.length > 0 ? found : undefined;
    }, "the row through Deno");
    expect(hook?.after).toMatchObject({ id: 7000, amount: "0.1000000000" });
  }, 60_000);
});
