/**
 * The Bun and Deno factories' shared core (`createServerObservers`) on PostgreSQL gives the API its
 * own bounded pool whose statements time out: a query held past the timeout answers 503
 * `QUERY_TIMEOUT`, and API requests stuck in PostgreSQL (more of them than the runtime has
 * connections) do not stop the runtime from delivering. The host here serves no HTTP of its own:
 * requests go to the real Hono app, the database and the webhook receiver are real.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createServerObservers,
  type Observers,
} from "../../adapters/hosts/server/server-observers.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, databaseUrl, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { lockTable } from "../support/table-lock.ts";

const ADMIN = "admin-token-for-api-pool-tests";
const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("server_api_pool");
  await createOrdersTable(db.sql);
  await insertObserver(db.sql, {
    name: "to-receiver",
    event_type: "INSERT",
    actions: [webhook(`${receiver.url}/hook`)],
  });
});
afterAll(() => db?.drop());

async function startServer(statementTimeoutMs: number): Promise<Observers> {
  const env = {
    DATABASE_URL: databaseUrl(db.name),
    OBSERVERS_ADMIN_TOKEN: ADMIN,
    OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
    OBSERVERS_MIGRATE: "off",
    OBSERVERS_POLL_INTERVAL_MS: "100",
    OBSERVERS_API_POOL_SIZE: "2",
    OBSERVERS_API_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs),
  };
  const observers = createServerObservers(
    { env, logger: silentLogger, print: () => {} },
    {
      env: () => ({}),
      live: () => ({
        upgrade: () => new Response(null, { status: 404 }),
        revoke: () => {},
        close: () => {},
      }),
      clientAddress: () => "127.0.0.1",
      guardDriverDefects: () => () => {},
    },
  );
  await observers.start();
  return observers;
}

const listKeys = (server: Observers) =>
  server.api.request("/api/keys", { headers: { authorization: `Bearer ${ADMIN}` } });

const createKey = (server: Observers, name: string) =>
  server.api.request("/api/keys", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ name, scope: "read" }),
  });

describe("the API's own pool", () => {
  it("cuts a query off at OBSERVERS_API_STATEMENT_TIMEOUT_MS with 503 QUERY_TIMEOUT", async () => {
    const server = await startServer(300);
    const unlock = await lockTable(db.url, "core.tb_api_key", "ACCESS EXCLUSIVE");
    try {
      const response = await listKeys(server);
      expect(response.status).toBe(503);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      const body = (await response.json()) as { code: string };
      expect(body.code).toBe("QUERY_TIMEOUT");
    } finally {
      await unlock();
      await server.stop();
    }
  });

  it("keeps the runtime delivering while API queries hold every API connection", async () => {
    const server = await startServer(60_000);
    // Key inserts wait for the lock; the runtime never touches the key table.
    const unlock = await lockTable(db.url, "core.tb_api_key", "SHARE");
    let stuck: (Response | Promise<Response>)[] = [];
    try {
      // More waiting API requests than the runtime's pool has connections (10).
      stuck = Array.from({ length: 12 }, (_, i) => createKey(server, `stuck-${i}`));
      await eventually(async () => {
        const rows = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND datname = current_database()`;
        return (rows[0]?.n ?? 0) >= 2 ? true : undefined;
      }, "API queries waiting on the lock");
      await db.sql`INSERT INTO orders (status, total) VALUES ('new', 1)`;
      await eventually(
        () => (receiver.requests.length >= 1 ? true : undefined),
        "the webhook while the API pool is saturated",
      );
      // The API's requests were still waiting the whole time: it has two connections only.
      const [waiting] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND datname = current_database()`;
      expect(waiting?.n).toBe(2);
    } finally {
      await unlock();
      const statuses = await Promise.all(stuck.map(async (r) => (await r).status));
      expect(statuses.every((status) => status === 201)).toBe(true);
      await server.stop();
    }
  });
});
