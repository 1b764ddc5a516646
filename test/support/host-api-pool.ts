/**
 * What `createObservers({ sql })` promises the API beside a host's postgres.js pool, checked the
 * same way for a host on postgres.js 3 (host-factory.test.ts) and one on 4
 * (host-postgres4.test.ts): API queries run on a pool of our own named `fraiseql-observers:api`,
 * bounded by `OBSERVERS_API_POOL_SIZE`, never on the host's connections; they are cut off at
 * `OBSERVERS_API_STATEMENT_TIMEOUT_MS` with 503 `QUERY_TIMEOUT`; `stop()` closes our connections
 * and leaves the host's pool open, on the very backend it had.
 */
import { expect } from "vitest";
import type { PostgresJsSql } from "../../adapters/drivers/postgres/index.ts";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { TestDatabase } from "./database.ts";
import { eventually } from "./observers.ts";
import { lockTable } from "./table-lock.ts";

/** The `application_name` the host's pool must be opened with, to tell its connections apart. */
export const HOST_APPLICATION_NAME = "host-app";

const ADMIN = "host-api-pool-admin-token-0123456789";
const API_POOL_SIZE = 2;

/** The backends of the test database by `application_name`, and which of them wait on a lock. */
async function backends(db: TestDatabase, applicationName: string) {
  return db.sql<{ pid: number; waiting: boolean }[]>`
    SELECT pid, wait_event_type IS NOT DISTINCT FROM 'Lock' AS waiting FROM pg_stat_activity
    WHERE datname = ${db.name} AND application_name = ${applicationName}`;
}

function observersOn(sql: PostgresJsSql, statementTimeoutMs: number) {
  const observers = createObservers({
    sql,
    env: {
      OBSERVERS_ADMIN_TOKEN: ADMIN,
      OBSERVERS_MIGRATE: "off",
      OBSERVERS_API_POOL_SIZE: String(API_POOL_SIZE),
      OBSERVERS_API_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs),
    },
    logger: silentLogger,
  });
  // Reads core.tb_api_key, which the runtime never touches: locking it stops API queries only.
  const listKeys = () =>
    observers.api.request("/api/keys", { headers: { authorization: `Bearer ${ADMIN}` } });
  return { observers, listKeys };
}

/**
 * Runs the checks of the file comment on `sql`, a host pool opened on `db` with
 * `connection: { application_name: HOST_APPLICATION_NAME }`; leaves it open.
 */
export async function checkApiPoolBesideHost(sql: PostgresJsSql, db: TestDatabase): Promise<void> {
  // The host's pool holds a connection before the observers exist.
  await sql.unsafe("SELECT 1");
  const hostBefore = (await backends(db, HOST_APPLICATION_NAME)).map((b) => b.pid);
  expect(hostBefore.length).toBeGreaterThan(0);

  // API queries wait on our own connections, as many as the pool size, none on the host's.
  const patient = observersOn(sql, 60_000);
  await patient.observers.start();
  let unlock = await lockTable(db.url, "core.tb_api_key", "ACCESS EXCLUSIVE");
  let stuck: (Response | Promise<Response>)[] = [];
  try {
    stuck = Array.from({ length: API_POOL_SIZE + 2 }, () => patient.listKeys());
    await eventually(async () => {
      const waiting = (await backends(db, "fraiseql-observers:api")).filter((b) => b.waiting);
      return waiting.length >= API_POOL_SIZE ? true : undefined;
    }, "API queries waiting on the lock on fraiseql-observers:api connections");
    expect((await backends(db, "fraiseql-observers:api")).length).toBe(API_POOL_SIZE);
    expect((await backends(db, HOST_APPLICATION_NAME)).filter((b) => b.waiting)).toEqual([]);
  } finally {
    await unlock();
    const statuses = await Promise.all(stuck.map(async (r) => (await r).status));
    expect(statuses).toEqual(stuck.map(() => 200));
    await patient.observers.stop();
  }

  // A statement past OBSERVERS_API_STATEMENT_TIMEOUT_MS is cut off: 503 QUERY_TIMEOUT.
  const hasty = observersOn(sql, 300);
  await hasty.observers.start();
  unlock = await lockTable(db.url, "core.tb_api_key", "ACCESS EXCLUSIVE");
  try {
    const response = await hasty.listKeys();
    expect(response.status).toBe(503);
    expect(((await response.json()) as { code: string }).code).toBe("QUERY_TIMEOUT");
  } finally {
    await unlock();
    await hasty.observers.stop();
  }

  // stop() closed our connections (API pool and LISTEN); the host's pool is open, same backend.
  await eventually(async () => {
    const rows = await db.sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = ${db.name} AND application_name LIKE 'fraiseql-observers%'`;
    return rows.length === 0 ? true : undefined;
  }, "our connections to close after stop()");
  const [row] = (await sql.unsafe("SELECT 41 + 1 AS answer")) as readonly { answer: number }[];
  expect(row?.answer).toBe(42);
  const hostAfter = (await backends(db, HOST_APPLICATION_NAME)).map((b) => b.pid);
  expect(hostAfter).toEqual(expect.arrayContaining(hostBefore));
}
