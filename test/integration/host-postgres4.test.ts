/**
 * A host whose own postgres.js is version 4 (what `npm install postgres` gives since 4.0), passed
 * as `sql` without a cast: the wrapper's queries, multi-statement text, transactions and LISTEN on
 * a postgres.js 4 pool; SQLSTATE codes read from its errors; what our connections beside it
 * cannot honour refused up front; and `createObservers` end to end (a change wakes the runtime
 * through LISTEN, its webhook reaches a local receiver, a duplicate name answers 409, `stop()`
 * leaves the host's pool open), with the API on a bounded pool of our own beside the host's whose
 * statements time out (test/support/host-api-pool.ts). The same checks with postgres.js 3 are in
 * host-factory.test.ts; the whole suite runs over a postgres.js 4 pool with `TEST_POSTGRES_JS=4`
 * (test/support/database.ts).
 */
import { readFile } from "node:fs/promises";
import postgres from "postgres4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wrapPostgresSql } from "../../adapters/drivers/postgres/index.ts";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { sqlState } from "../../src/store/common.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { checkApiPoolBesideHost, HOST_APPLICATION_NAME } from "../support/host-api-pool.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

const ADMIN = "postgres4-admin-token-0123456789";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("host_postgres4");
});
afterAll(() => db?.drop());

/** The host's pool, as a host on postgres.js 4 would open it. */
function hostPool(options: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  return postgres(db.url, { max: 2, onnotice: () => {}, ...options });
}

describe("wrapPostgresSql over postgres.js 4", () => {
  it("is postgres.js 4", async () => {
    // Its exports map hides package.json from imports.
    const manifest = new URL("../../node_modules/postgres4/package.json", import.meta.url);
    const { version } = JSON.parse(await readFile(manifest, "utf8")) as { version: string };
    expect(version).toMatch(/^4\./);
  });

  it("runs queries, several statements at once, and transactions rolled back on a throw", async () => {
    const sql = hostPool();
    const client = wrapPostgresSql(sql);
    try {
      const [row] = await client.query<{ n: number; s: string }>(
        "SELECT $1::int + 1 AS n, $2::text AS s",
        [1, "é"],
      );
      expect(row).toEqual({ n: 2, s: "é" });
      // The simple protocol: the last statement's rows.
      const rows = await client.query<{ x: number }>("CREATE TEMP TABLE t4 (x int); SELECT 7 AS x");
      expect(rows).toEqual([{ x: 7 }]);
      const last = await client.query<{ b: number }>("SELECT 1 AS a; SELECT 2 AS b");
      expect(last).toEqual([{ b: 2 }]);

      await client.query("CREATE TABLE pg4_tx (x int)");
      const thrown = await client
        .transaction(async (tx) => {
          await tx.query("INSERT INTO pg4_tx VALUES ($1)", [1]);
          throw new Error("undo");
        })
        .catch((error: unknown) => error);
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as Error).message).toBe("undo");
      const committed = await client.transaction(async (tx) => {
        await tx.query("INSERT INTO pg4_tx VALUES ($1)", [2]);
        return "done";
      });
      expect(committed).toBe("done");
      const kept = await db.sql`SELECT x FROM pg4_tx ORDER BY x`;
      expect(kept.map((r) => r.x)).toEqual([2]);
    } finally {
      await client.close();
      await sql.end();
    }
  });

  it("hands the core PostgreSQL's SQLSTATE on a failed statement", async () => {
    const sql = hostPool();
    const client = wrapPostgresSql(sql);
    try {
      const division = await client.query("SELECT 1 / $1::int", [0]).catch((e: unknown) => e);
      expect(sqlState(division)).toBe("22012");
      const inTx = await client
        .transaction((tx) => tx.query("SELECT * FROM no_such_table_pg4"))
        .catch((e: unknown) => e);
      expect(sqlState(inTx)).toBe("42P01");
    } finally {
      await client.close();
      await sql.end();
    }
  });

  it("listens on a connection of its own, and closing it leaves the pool open", async () => {
    const sql = hostPool({ connection: { application_name: "host-app" } });
    const client = wrapPostgresSql(sql);
    const heard: string[] = [];
    const listener = await client.listen("pg4_channel", {
      onNotify: (payload) => heard.push(payload),
    });
    const listening = await db.sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
    expect(listening.length).toBe(1);
    await client.transaction(async (tx) => {
      await tx.query("SELECT pg_notify($1, $2)", ["pg4_channel", "hello"]);
    });
    await eventually(() => (heard.length > 0 ? true : undefined), "the notification");
    expect(heard).toEqual(["hello"]);
    await listener.close();
    await client.close();
    const [row] = await sql`SELECT 41 + 1 AS answer`;
    expect(row?.answer).toBe(42);
    await sql.end();
  });

  it("refuses what the LISTEN connection could not honour, naming the option", async () => {
    const cases: [postgres.Options<Record<string, postgres.PostgresType>>, RegExp][] = [
      [{ transform: postgres.camel }, /`transform`/],
      [{ require_auth: "scram-sha-256" }, /`require_auth`/],
      [{ channel_binding: "require" }, /`channel_binding`/],
      [{ user: () => "postgres" }, /`user`/],
    ];
    for (const [options, message] of cases) {
      const sql = hostPool(options);
      expect(() => wrapPostgresSql(sql)).toThrow(message);
      await sql.end();
    }
  });
});

describe("createObservers({ sql }) with postgres.js 4", () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver(() => ({ status: 204 }));
  });
  afterAll(() => receiver?.close());

  it("delivers a change woken by LISTEN, answers 409 for a duplicate name, and stop() leaves the pool open", async () => {
    const sql = hostPool();
    const observers = createObservers({
      sql,
      env: {
        OBSERVERS_ADMIN_TOKEN: ADMIN,
        OBSERVERS_MIGRATE: "off",
        OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
        // An hour: the change below can only be picked up because its NOTIFY woke the runtime.
        OBSERVERS_POLL_INTERVAL_MS: "3600000",
      },
      logger: silentLogger,
    });
    const call = (method: string, path: string, body?: unknown) =>
      observers.api.request(path, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    try {
      await createOrdersTable(db.sql, "orders_pg4");
      await observers.start();
      const observer = {
        name: "pg4-hook",
        entity_type: "Order",
        event_type: "insert",
        actions: [{ type: "webhook", url: `${receiver.url}/hooks/pg4` }],
      };
      const created = await call("POST", "/api/observers", observer);
      expect(created.status).toBe(201);
      // A unique violation (23505) on the host's pool is the API's conflict.
      const duplicate = await call("POST", "/api/observers", observer);
      expect(duplicate.status).toBe(409);
      expect(((await duplicate.json()) as { code: string }).code).toBe("CONFLICT");

      const [order] = await db.sql`INSERT INTO orders_pg4 (status, total) VALUES ('new', 12.5)
        RETURNING id::text AS id`;
      const [request] = await eventually(
        () => (receiver.requests.length > 0 ? receiver.requests : undefined),
        "the webhook",
      );
      expect(request?.method).toBe("POST");
      expect(request?.path).toBe("/hooks/pg4");
      expect(request?.text).toContain(String(order?.id));
      await eventually(async () => {
        const [row] =
          await db.sql`SELECT l.status, l.response_status_code FROM core.tb_observer_log l
          JOIN core.tb_observer o ON o.pk_observer = l.fk_observer WHERE o.name = 'pg4-hook'`;
        return row?.status === "success" ? row : undefined;
      }, "the attempt logged as a success");
    } finally {
      await observers.stop();
    }
    const [row] = await sql`SELECT 41 + 1 AS answer`;
    expect(row?.answer).toBe(42);
    const listening = await db.sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name = 'fraiseql-observers:listen'`;
    expect(listening.length).toBe(0);
    await sql.end();
  });

  it("gives the API a bounded pool of its own beside the host's, whose statements time out", async () => {
    const sql = hostPool({ connection: { application_name: HOST_APPLICATION_NAME } });
    try {
      await checkApiPoolBesideHost(sql, db);
    } finally {
      await sql.end();
    }
  });
});
