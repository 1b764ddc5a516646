/**
 * What the API refuses beyond its configured limits: observers per tenant (race-free under
 * concurrent creates), actions per observer, a backtest's range, rows and concurrent runs per key,
 * and a query cut off by the API's statement_timeout (a 503, not a 500).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { BACKTEST_RANGE, EVALUATED, insertBacktestChanges, PORTABLE } from "../support/changes.ts";
import { createTestDatabase, databaseUrl, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";
import { lockTable } from "../support/table-lock.ts";

const ADMIN = "admin-token-for-limit-tests";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const tokens = { t7: "", t8: "", t9: "", other: "" };
let backtestId = "";

const observer = (name: string, actions = 1) => ({
  name,
  entity_type: "Order",
  actions: Array.from({ length: actions }, (_, i) => webhook(`https://example.com/${i}`)),
});

beforeAll(async () => {
  db = await createTestDatabase("api_limits");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    limits: {
      maxObserversPerTenant: 3,
      maxActionsPerObserver: 2,
      backtestMaxRangeDays: 2,
      backtestMaxRows: 3,
      backtestConcurrencyPerKey: 1,
    },
  });
  call = apiClient(app, ADMIN);
  for (const [name, org] of [
    ["t7", "7"],
    ["t8", "8"],
    ["t9", "9"],
  ] as const) {
    tokens[name] = (
      await insertApiKey(db.client, { name, scope: "admin", fk_customer_org: org })
    ).token;
  }
  tokens.other = (await insertApiKey(db.client, { name: "other", scope: "read" })).token;
  backtestId = await insertObserver(db.sql, {
    name: "backtested",
    condition_expression: PORTABLE,
    actions: [webhook("https://example.com/b")],
  });
  await insertBacktestChanges(db.sql);
});
afterAll(() => db?.drop());

describe("observers per tenant", () => {
  it("refuses the observer past the limit with 422 OBSERVER_LIMIT, per tenant", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await call("POST", "/api/observers", observer(`t7-${i}`), {
        token: tokens.t7,
      });
      expect(response.status).toBe(201);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const refused = await call("POST", "/api/observers", observer("t7-3"), { token: tokens.t7 });
    expect(refused.status).toBe(422);
    const body = await problem(refused, 422);
    expect(body.code).toBe("OBSERVER_LIMIT");
    expect(body.detail).toContain("OBSERVERS_MAX_OBSERVERS_PER_TENANT");
    // Another tenant has its own count.
    const t8 = await call("POST", "/api/observers", observer("t8-0"), { token: tokens.t8 });
    expect(t8.status).toBe(201);
    // Deleted observers do not count.
    expect(
      (await call("DELETE", `/api/observers/${ids[0]}`, undefined, { token: tokens.t7 })).status,
    ).toBe(204);
    const again = await call("POST", "/api/observers", observer("t7-4"), { token: tokens.t7 });
    expect(again.status).toBe(201);
  });

  it("holds under concurrent creates: exactly the limit succeed", async () => {
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call("POST", "/api/observers", observer(`t9-${i}`), { token: tokens.t9 }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 422)).toHaveLength(9);
    const [row] = await db.sql<{ count: string }[]>`
      SELECT count(*)::text AS count FROM core.tb_observer
      WHERE fk_customer_org = 9 AND deleted_at IS NULL`;
    expect(row?.count).toBe("3");
  });
});

describe("actions per observer", () => {
  it("refuses more actions than the limit on create and on a PATCH sending actions", async () => {
    const refused = await call("POST", "/api/observers", observer("many", 3));
    expect(refused.status).toBe(422);
    const body = await problem(refused, 422);
    expect(body.code).toBe("ACTION_LIMIT");
    expect(body.detail).toContain("at most 2 actions");

    const created = await call("POST", "/api/observers", observer("two", 2));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const patch = await call("PATCH", `/api/observers/${id}`, {
      actions: observer("x", 3).actions,
    });
    expect(patch.status).toBe(422);
    expect((await problem(patch, 422)).code).toBe("ACTION_LIMIT");
    const rename = await call("PATCH", `/api/observers/${id}`, { name: "two-renamed" });
    expect(rename.status).toBe(200);
  });
});

describe("backtests", () => {
  it("refuses a range longer than the limit with 422 BACKTEST_RANGE_TOO_LONG", async () => {
    const response = await call("POST", `/api/observers/${backtestId}/backtest`, {
      since: "2026-01-01T00:00:00Z",
      until: "2026-01-03T00:00:01Z",
    });
    const body = await problem(response, 422);
    expect(body.code).toBe("BACKTEST_RANGE_TOO_LONG");
    expect(body.detail).toContain("at most 2 days");
    // Without `until` the range runs to now: far beyond two days here.
    const open = await call("POST", `/api/observers/${backtestId}/backtest`, {
      since: BACKTEST_RANGE.since,
    });
    expect(open.status).toBe(422);
  });

  it("considers at most the row limit, on both paths, and says truncated", async () => {
    for (const [condition, method] of [
      [PORTABLE, "sql"],
      [EVALUATED, "evaluated"],
    ] as const) {
      const response = await call("POST", `/api/observers/${backtestId}/backtest`, {
        ...BACKTEST_RANGE,
        condition_expression: condition,
      });
      expect(response.status).toBe(200);
      const result = (await response.json()) as {
        method: string;
        considered: number;
        fired: number;
        errors: number;
        truncated: boolean;
      };
      // The corpus's first three in-range Order changes by key: fires, false, error.
      expect(result).toMatchObject({ method, considered: 3, fired: 1, errors: 1, truncated: true });
    }
  });

  it("runs at most the limit at once per key: 429 BACKTEST_BUSY with Retry-After", async () => {
    // A lock on the change log holds the first backtest inside PostgreSQL.
    const unlock = await lockTable(db.url, "core.tb_entity_change_log", "ACCESS EXCLUSIVE");
    try {
      const body = { ...BACKTEST_RANGE };
      const first = call("POST", `/api/observers/${backtestId}/backtest`, body);
      await eventually(async () => {
        const rows = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND datname = current_database()`;
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      }, "the first backtest waiting on the lock");
      const second = await call("POST", `/api/observers/${backtestId}/backtest`, body);
      expect(second.status).toBe(429);
      expect(second.headers.get("retry-after")).toBe("2");
      expect((await problem(second, 429)).code).toBe("BACKTEST_BUSY");
      // Another key has its own slot.
      const other = call("POST", `/api/observers/${backtestId}/backtest`, body, {
        token: tokens.other,
      });
      await unlock();
      expect((await first).status).toBe(200);
      expect((await other).status).toBe(200);
      // The slot is free again.
      const third = await call("POST", `/api/observers/${backtestId}/backtest`, body);
      expect(third.status).toBe(200);
    } finally {
      await unlock();
    }
  });
});

describe("statement timeout", () => {
  it("answers 503 QUERY_TIMEOUT when the API's statement_timeout cuts a query off", async () => {
    const timed = createPostgresClient(databaseUrl(db.name), { max: 2, statementTimeoutMs: 300 });
    const app = createObserversApi({
      sql: timed,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
    });
    const timedCall = apiClient(app, ADMIN);
    const unlock = await lockTable(db.url, "core.tb_observer", "ACCESS EXCLUSIVE");
    try {
      const response = await timedCall("GET", "/api/observers");
      const body = await problem(response, 503);
      expect(body.code).toBe("QUERY_TIMEOUT");
      await unlock();
      expect((await timedCall("GET", "/api/observers")).status).toBe(200);
    } finally {
      await Promise.all([unlock(), timed.close()]);
    }
  });
});
