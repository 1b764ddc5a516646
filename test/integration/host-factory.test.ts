/**
 * `createObservers` (adapters/hosts/bun, the core shared with Deno in server-observers.ts) in
 * process, over real PostgreSQL and embedded PGlite: the API exists before `start()` and answers
 * 503 until then; invalid settings and a missing admin credential are `ConfigError`s naming the
 * variable; the host's postgres.js pool is wrapped (queries, transactions, LISTEN on a connection
 * of its own) and left open by `stop()`, while the API runs on a bounded pool of our own beside it
 * whose statements time out (test/support/host-api-pool.ts); embedded mode prints its bootstrap
 * token through `print`.
 * The Bun and Deno hosts themselves run in test/e2e/{bun,deno}-host.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wrapPostgresSql } from "../../adapters/drivers/postgres/index.ts";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import type { ActionDefinition } from "../../src/actions/types.ts";
import { ConfigError } from "../../src/errors.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { checkApiPoolBesideHost, HOST_APPLICATION_NAME } from "../support/host-api-pool.ts";
import { createOrdersTable, eventually, insertObserver } from "../support/observers.ts";

const ADMIN = "factory-admin-token-0123456789";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("host_factory");
});
afterAll(() => db?.drop());

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("no ConfigError");
}

describe("createObservers", () => {
  it("names every invalid variable, and refuses sql with databaseUrl", () => {
    const error = configError(() =>
      createObservers({ env: { PORT: "nope", OBSERVERS_ADMIN_TOKEN: "short" } }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      "OBSERVERS_ADMIN_TOKEN",
      "PORT",
    ]);
    const sql = postgres(db.url, { max: 1 });
    expect(
      configError(() => createObservers({ sql, databaseUrl: db.url, env: {} })).issues[0]?.path,
    ).toBe("databaseUrl");
    return sql.end();
  });

  it("serves 503 before start(), runs on the host's pool, and leaves it open on stop()", async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    const observers = createObservers({
      sql,
      env: { OBSERVERS_ADMIN_TOKEN: ADMIN, OBSERVERS_MIGRATE: "off" },
      logger: silentLogger,
    });
    const list = () =>
      observers.api.request("/api/observers", { headers: { authorization: `Bearer ${ADMIN}` } });
    const before = await list();
    expect(before.status).toBe(503);
    expect(((await before.json()) as { code: string }).code).toBe("NOT_RUNNING");

    await observers.start();
    await expect(observers.start()).rejects.toThrow("already");
    expect((await list()).status).toBe(200);
    // The runtime listens beside the host's pool.
    await eventually(async () => {
      const rows = await db.sql`SELECT 1 FROM pg_stat_activity
        WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
      return rows.length > 0 ? true : undefined;
    }, "the LISTEN connection");

    await observers.stop();
    expect((await list()).status).toBe(503);
    const [row] = await sql`SELECT 41 + 1 AS answer`;
    expect(row?.answer).toBe(42);
    const listening = await db.sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
    expect(listening.length).toBe(0);
    await sql.end();
  });

  it("gives the API a bounded pool of its own beside the host's, whose statements time out", async () => {
    const sql = postgres(db.url, {
      max: 2,
      onnotice: () => {},
      connection: { application_name: HOST_APPLICATION_NAME },
    });
    try {
      await checkApiPoolBesideHost(sql, db);
    } finally {
      await sql.end();
    }
  });

  it("start() throws the ConfigError when PostgreSQL mode has no admin token or key", async () => {
    const observers = createObservers({
      databaseUrl: db.url,
      env: { OBSERVERS_MIGRATE: "off" },
      logger: silentLogger,
      print: () => {},
    });
    const error = await observers.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.path).toBe("OBSERVERS_ADMIN_TOKEN");
    await observers.stop();
    // Its own pools are closed after the failed start.
    const rows = await db.sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name LIKE 'fraiseql-observers%'`;
    expect(rows.length).toBe(0);
  });

  it("prints the bootstrap token through print on embedded PGlite", {
    timeout: 60_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "observers-factory-"));
    const printed: string[] = [];
    const observers = createObservers({
      env: { OBSERVERS_DATA_DIR: dataDir, OBSERVERS_EMBEDDED_PORT: "0" },
      logger: silentLogger,
      print: (text) => printed.push(text),
    });
    try {
      await observers.start({ url: "http://127.0.0.1:9999" });
      const all = printed.join("\n");
      const token = /copy it now\.\n\n\s+(\S+)/.exec(all)?.[1];
      expect(all).toContain("http://127.0.0.1:9999/api/observers");
      expect(token).toBeDefined();
      const response = await observers.api.request("/api/observers", {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
    } finally {
      await observers.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("createObservers({ actions })", () => {
  it("runs the host's own action type", async () => {
    const database = await createTestDatabase("host_factory_actions");
    const ran: string[] = [];
    const note: ActionDefinition<{ type: "note"; text: string }> = {
      type: "note",
      schema: v.strictObject({ type: v.literal("note"), text: v.string() }),
      destination: () => "note",
      async run({ config, event }) {
        ran.push(`${config.text} ${event.entity_id}`);
        return { message: "noted" };
      },
    };
    const observers = createObservers({
      databaseUrl: database.url,
      env: { OBSERVERS_ADMIN_TOKEN: ADMIN, OBSERVERS_POLL_INTERVAL_MS: "100" },
      actions: [note as ActionDefinition],
      logger: silentLogger,
    });
    try {
      await createOrdersTable(database.sql);
      await insertObserver(database.sql, {
        name: "host-note",
        event_type: "INSERT",
        actions: [{ type: "note", text: "order" }],
      });
      await observers.start();
      const [row] = await database.sql`INSERT INTO orders (status) VALUES ('x') RETURNING id::text`;
      await eventually(() => (ran.length > 0 ? true : undefined), "the custom action");
      expect(ran).toEqual([`order ${row?.id}`]);
    } finally {
      await observers.stop();
      await database.drop();
    }
  });
});

describe("wrapPostgresSql", () => {
  it("refuses a pool that transforms rows", () => {
    const sql = postgres(db.url, { transform: postgres.camel });
    expect(() => wrapPostgresSql(sql)).toThrow(/transform/);
    return sql.end();
  });

  it("runs queries, transactions and LISTEN, and closing it leaves the pool open", async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    const client = wrapPostgresSql(sql);
    const heard: string[] = [];
    const listener = await client.listen("host_factory_test", {
      onNotify: (payload) => heard.push(payload),
    });
    await client.transaction(async (tx) => {
      await tx.query("SELECT pg_notify($1, $2)", ["host_factory_test", "hello"]);
    });
    await eventually(() => (heard.length > 0 ? true : undefined), "the notification");
    expect(heard).toEqual(["hello"]);
    await listener.close();
    await client.close();
    const [row] = await client.query<{ n: number }>("SELECT $1::int + 1 AS n", [1]);
    expect(row?.n).toBe(2);
    await sql.end();
  });
});
