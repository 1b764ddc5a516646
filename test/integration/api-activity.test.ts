/**
 * Logs and statistics over HTTP (`GET /api/observers/logs`, `/{id}/logs`, `/stats`,
 * `/stats/summary`, `/{id}/stats`): every filter, pagination, bad values as 400s naming the
 * parameter, exact numbers over known log rows, and tenant scoping by API key.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { listLogs } from "../../src/store/logs.ts";
import { observerStats, statsSummary } from "../../src/store/stats.ts";
import {
  type ActivitySeed,
  ALL_NEWEST_FIRST,
  E1,
  E2,
  expectedObserverStats,
  NO_EXECUTIONS,
  PAYLOAD_SECRETS,
  SUMMARY,
  seedActivity,
  TENANT_7_NEWEST_FIRST,
  WINDOW,
  WINDOW_NEWEST_FIRST,
  WINDOW_STATS,
  WINDOW_WITH_OFFSET,
} from "../support/activity-seed.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-activity-tests";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const tokens = { t7: "", t8: "", t9: "", read: "" };
let ids: ActivitySeed["ids"];

beforeAll(async () => {
  db = await createTestDatabase("api_activity");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
  });
  call = apiClient(app, ADMIN);
  for (const [name, tenant] of [
    ["t7", "7"],
    ["t8", "8"],
    ["t9", "9"],
  ] as const) {
    tokens[name] = (
      await insertApiKey(db.client, { name, scope: "admin", fk_customer_org: tenant })
    ).token;
  }
  tokens.read = (await insertApiKey(db.client, { name: "reader", scope: "read" })).token;
  ({ ids } = await seedActivity(db));
});
afterAll(() => db?.drop());

interface LogPage {
  data: { entity_id: string | null; observer_id: string | null; [key: string]: unknown }[];
  page: number;
  page_size: number;
  total_count: number;
  total_pages: number;
}

async function get(path: string, token: string = ADMIN): Promise<Response> {
  return call("GET", path, undefined, { token });
}

async function ok<T>(path: string, token: string = ADMIN): Promise<T> {
  const response = await get(path, token);
  expect(response.status, `GET ${path}`).toBe(200);
  return (await response.json()) as T;
}

async function labels(path: string, token: string = ADMIN): Promise<(string | null)[]> {
  return (await ok<LogPage>(path, token)).data.map((row) => row.entity_id);
}

/** The paths named by a 400's issues, sorted. */
async function badParameters(path: string, token: string = ADMIN): Promise<string[]> {
  const body = await problem(await get(path, token), 400);
  expect(body.code).toBe("INVALID_CONFIG");
  return (body.issues ?? []).map((issue) => issue.path).sort();
}

/**
 * GETs `path` (200), which must answer exactly what the store answers for the same query
 * (`fromStore`, run on the same database).
 */
async function sameAsStore<T>(
  path: string,
  fromStore: () => Promise<unknown>,
  token = ADMIN,
): Promise<T> {
  const body = await ok<T>(path, token);
  expect(body).toEqual(await fromStore());
  return body;
}

/** Answers 404 for an unknown, non-UUID, deleted or other tenant's observer at `path(id)`. */
async function notFoundForOthers(path: (id: string) => string): Promise<void> {
  for (const [id, token] of [
    [randomUUID(), ADMIN],
    ["not-a-uuid", ADMIN],
    [ids.E, ADMIN],
    [ids.C, tokens.t7],
    [ids.B, tokens.t8],
    // A global observer is not a tenant's, even where it logged a tenant's change (a6).
    [ids.A, tokens.t7],
  ] as const) {
    const body = await problem(await get(path(id), token), 404);
    expect(body.code).toBe("NOT_FOUND");
  }
}

const q = encodeURIComponent;
/** A since/until pair as a query string. */
const range = (window: { since: string; until: string }) =>
  `since=${q(window.since)}&until=${q(window.until)}`;

describe("GET /api/observers/logs", () => {
  it("lists every row newest first, with FraiseQL's fields and ours, and never the payloads", async () => {
    const response = await get("/api/observers/logs?page_size=100");
    const text = await response.clone().text();
    for (const secret of PAYLOAD_SECRETS) expect(text).not.toContain(secret);
    const page = (await response.json()) as LogPage;
    expect(page).toEqual(await listLogs(db.client, { page: 1, pageSize: 100 }));
    expect(page).toMatchObject({ page: 1, page_size: 100, total_count: 12, total_pages: 1 });
    expect(page.data.map((r) => r.entity_id)).toEqual(ALL_NEWEST_FIRST);
    const a1 = page.data.find((r) => r.entity_id === "a1");
    expect(a1).toMatchObject({
      observer_id: ids.A,
      event_id: E1,
      entity_type: "Order",
      event_type: "UPDATE",
      status: "success",
      action_index: 0,
      action_type: "webhook",
      duration_ms: 100,
      response_status_code: 200,
      trace_id: "trace-a",
      fk_customer_org: null,
      created_at: "2024-05-01T01:00:00.000Z",
    });
    for (const row of page.data) {
      expect(row).not.toHaveProperty("request_payload");
      expect(row).not.toHaveProperty("response_payload");
    }
  });

  it("uses the default page size of 20 and pages with page and page_size", async () => {
    expect(await ok<LogPage>("/api/observers/logs")).toMatchObject({
      page: 1,
      page_size: 20,
      total_count: 12,
      total_pages: 1,
    });
    const third = await ok<LogPage>("/api/observers/logs?page=3&page_size=5");
    expect(third).toMatchObject({ page: 3, page_size: 5, total_count: 12, total_pages: 3 });
    expect(third.data.map((r) => r.entity_id)).toEqual(["c1", "a1"]);
    const beyond = await ok<LogPage>("/api/observers/logs?page=9&page_size=5");
    expect(beyond).toMatchObject({ page: 9, total_count: 12, total_pages: 3, data: [] });
    const second = await ok<LogPage>(`/api/observers/logs?observer_id=${ids.A}&page=2&page_size=5`);
    expect(second).toMatchObject({ total_count: 6, total_pages: 2 });
    expect(second.data.map((r) => r.entity_id)).toEqual(["a1"]);
  });

  it("filters by observer_id, status, event_id and trace_id, alone and together", async () => {
    expect(await labels(`/api/observers/logs?observer_id=${ids.A}`)).toEqual([
      "a6",
      "a5",
      "a4",
      "a3",
      "a2",
      "a1",
    ]);
    // A deleted observer's rows are still its rows.
    expect(await labels(`/api/observers/logs?observer_id=${ids.E}`)).toEqual(["e1"]);
    expect(await labels(`/api/observers/logs?observer_id=${randomUUID()}`)).toEqual([]);
    expect(await labels("/api/observers/logs?status=failed")).toEqual([
      "unreadable",
      "a4",
      "a2",
      "c1",
    ]);
    expect(await labels("/api/observers/logs?status=cancelled")).toEqual(["b3"]);
    expect(await labels("/api/observers/logs?status=pending")).toEqual([]);
    expect(await labels(`/api/observers/logs?event_id=${E1}`)).toEqual(["a2", "a1"]);
    expect(await labels(`/api/observers/logs?event_id=${E2}`)).toEqual(["a5"]);
    expect(await labels("/api/observers/logs?trace_id=trace-b")).toEqual(["b1"]);
    expect(await labels("/api/observers/logs?trace_id=nope")).toEqual([]);
    expect(
      await labels(`/api/observers/logs?observer_id=${ids.A}&status=success&page_size=100`),
    ).toEqual(["a6", "a5", "a1"]);
    expect(await labels(`/api/observers/logs?event_id=${E1}&status=failed`)).toEqual(["a2"]);
  });

  it("filters by a half-open since/until window, offsets included", async () => {
    const window = await sameAsStore<LogPage>(`/api/observers/logs?${range(WINDOW)}`, () =>
      listLogs(db.client, { page: 1, pageSize: 20, ...WINDOW }),
    );
    expect(window.data.map((r) => r.entity_id)).toEqual(WINDOW_NEWEST_FIRST);
    expect(window.total_count).toBe(6);
    // 08:00+02:00 is 06:00Z, and since is inclusive.
    expect(await labels(`/api/observers/logs?since=${q("2024-05-01T08:00:00+02:00")}`)).toEqual([
      "a6",
      "unreadable",
    ]);
    // until is exclusive: b1 at 01:30 is out.
    expect(await labels(`/api/observers/logs?until=${q("2024-05-01T01:30:00Z")}`)).toEqual([
      "c1",
      "a1",
    ]);
    expect(
      await labels(
        `/api/observers/logs?observer_id=${ids.A}&since=${q("2024-05-01T03:00:00Z")}&until=${q("2024-05-01T05:00:01Z")}`,
      ),
    ).toEqual(["a5", "a4", "a3"]);
  });

  it("answers 400 naming each bad parameter", async () => {
    expect(await badParameters("/api/observers/logs?status=bogus")).toEqual(["status"]);
    expect(await badParameters("/api/observers/logs?observer_id=not-a-uuid")).toEqual([
      "observer_id",
    ]);
    expect(await badParameters("/api/observers/logs?event_id=42")).toEqual(["event_id"]);
    expect(await badParameters("/api/observers/logs?since=yesterday")).toEqual(["since"]);
    // No time zone: it would depend on the server's.
    expect(await badParameters(`/api/observers/logs?until=${q("2024-05-01T00:00:00")}`)).toEqual([
      "until",
    ]);
    expect(await badParameters(`/api/observers/logs?since=${q("2024-02-30T00:00:00Z")}`)).toEqual([
      "since",
    ]);
    expect(
      await badParameters(
        `/api/observers/logs?since=${q("2024-05-02T00:00:00Z")}&until=${q("2024-05-01T00:00:00Z")}`,
      ),
    ).toEqual(["since"]);
    // Valid ISO 8601, but outside what PostgreSQL reads (year 0; year 10000 once in UTC).
    expect(await badParameters(`/api/observers/logs?since=${q("0000-01-01T00:00:00Z")}`)).toEqual([
      "since",
    ]);
    expect(
      await badParameters(`/api/observers/logs?until=${q("9999-12-31T23:59:59-14:00")}`),
    ).toEqual(["until"]);
    expect(
      await labels(`/api/observers/logs?until=${q("9999-12-31T23:59:59+14:00")}`),
    ).toHaveLength(12);
    expect(await badParameters("/api/observers/logs?page=0&page_size=101")).toEqual([
      "page",
      "page_size",
    ]);
    expect(await badParameters("/api/observers/logs?page=two")).toEqual(["page"]);
    const body = await problem(await get("/api/observers/logs?status=bogus"), 400);
    expect(body.detail).toMatch(/^invalid query parameter status: /);
  });

  it("shows a tenant key only its tenant's rows", async () => {
    expect(await labels("/api/observers/logs", tokens.t7)).toEqual(TENANT_7_NEWEST_FIRST);
    expect(await labels("/api/observers/logs", tokens.t8)).toEqual(["c1"]);
    expect(await labels("/api/observers/logs", tokens.t9)).toEqual([]);
    expect(await labels(`/api/observers/logs?observer_id=${ids.C}`, tokens.t7)).toEqual([]);
    expect(await labels(`/api/observers/logs?event_id=${E1}`, tokens.t7)).toEqual([]);
    const seven = await ok<LogPage>("/api/observers/logs?page_size=100", tokens.t7);
    expect(new Set(seven.data.map((r) => r.fk_customer_org))).toEqual(new Set([7]));
    // A read key (no tenant) reads everything.
    expect((await ok<LogPage>("/api/observers/logs", tokens.read)).total_count).toBe(12);
  });
});

describe("GET /api/observers/{id}/logs", () => {
  it("lists one observer's rows, with the same filters", async () => {
    const page = await ok<LogPage>(`/api/observers/${ids.A}/logs`);
    expect(page).toMatchObject({ page: 1, page_size: 20, total_count: 6, total_pages: 1 });
    expect(page.data.map((r) => r.entity_id)).toEqual(["a6", "a5", "a4", "a3", "a2", "a1"]);
    expect(await labels(`/api/observers/${ids.A}/logs?status=failed`)).toEqual(["a4", "a2"]);
    expect(await labels(`/api/observers/${ids.A}/logs?event_id=${E1}`)).toEqual(["a2", "a1"]);
    expect(await labels(`/api/observers/${ids.A}/logs?trace_id=trace-a`)).toEqual(["a1"]);
    expect(
      await labels(
        `/api/observers/${ids.A}/logs?since=${q("2024-05-01T02:00:00Z")}&until=${q("2024-05-01T04:00:00Z")}`,
      ),
    ).toEqual(["a3", "a2"]);
    const second = await ok<LogPage>(`/api/observers/${ids.A}/logs?page=2&page_size=4`);
    expect(second).toMatchObject({ page: 2, page_size: 4, total_count: 6, total_pages: 2 });
    expect(second.data.map((r) => r.entity_id)).toEqual(["a2", "a1"]);
    expect(await labels(`/api/observers/${ids.D}/logs`)).toEqual([]);
  });

  it("answers 400 naming a bad parameter", async () => {
    expect(await badParameters(`/api/observers/${ids.A}/logs?status=nope`)).toEqual(["status"]);
    expect(await badParameters(`/api/observers/${ids.A}/logs?since=tomorrow`)).toEqual(["since"]);
    expect(await badParameters(`/api/observers/${ids.A}/logs?event_id=x`)).toEqual(["event_id"]);
    expect(await badParameters(`/api/observers/${ids.A}/logs?page_size=0`)).toEqual(["page_size"]);
  });

  it("answers 404 for an unknown, non-UUID, deleted or other tenant's observer", async () => {
    await notFoundForOthers((id) => `/api/observers/${id}/logs`);
    // The owner sees them.
    expect(await labels(`/api/observers/${ids.B}/logs`, tokens.t7)).toEqual(["b3", "b2", "b1"]);
    expect(await labels(`/api/observers/${ids.C}/logs`, tokens.t8)).toEqual(["c1"]);
  });
});

type Stats = { observer_id: string; observer_name: string; [key: string]: unknown }[];

describe("GET /api/observers/stats and /{id}/stats", () => {
  it("gives every live observer's exact numbers, in priority order", async () => {
    const stats = await sameAsStore<Stats>("/api/observers/stats", () => observerStats(db.client));
    expect(stats.map((s) => s.observer_name)).toEqual(["obs-C", "obs-A", "obs-B", "obs-D"]);
    expect(stats).toEqual(expectedObserverStats(ids));
  });

  it("counts only the since/until window", async () => {
    const stats = await sameAsStore<Stats>(
      `/api/observers/stats?${range(WINDOW_WITH_OFFSET)}`,
      () => observerStats(db.client, WINDOW),
    );
    const byName = Object.fromEntries(stats.map((s) => [s.observer_name, s]));
    expect(byName["obs-A"]).toMatchObject(WINDOW_STATS["obs-A"]);
    expect(byName["obs-B"]).toMatchObject(WINDOW_STATS["obs-B"]);
    expect(byName["obs-C"]).toMatchObject(WINDOW_STATS["obs-C"]);
  });

  it("gives one observer's numbers as a list of one", async () => {
    const one = await ok<Stats>(`/api/observers/${ids.A}/stats`);
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({
      observer_id: ids.A,
      total_executions: 5,
      successful_executions: 3,
      condition_errors: 1,
      success_rate_pct: 60,
    });
    const windowed = await ok<Stats>(
      `/api/observers/${ids.A}/stats?since=${q("2024-05-01T05:00:00Z")}`,
    );
    expect(windowed[0]).toMatchObject({
      total_executions: 2,
      successful_executions: 2,
      success_rate_pct: 100,
      avg_duration_ms: 300,
      min_duration_ms: 200,
      max_duration_ms: 400,
    });
    const empty = await ok<Stats>(`/api/observers/${ids.D}/stats`);
    expect(empty).toEqual([expect.objectContaining({ observer_id: ids.D, ...NO_EXECUTIONS })]);
  });

  it("scopes a tenant key to its tenant's observers and rows", async () => {
    const seven = await sameAsStore<Stats>(
      "/api/observers/stats",
      () => observerStats(db.client, { tenant: "7" }),
      tokens.t7,
    );
    expect(seven.map((s) => s.observer_id)).toEqual([ids.B, ids.D]);
    expect(seven[0]).toMatchObject({ total_executions: 3, successful_executions: 1 });
    const eight = await ok<Stats>("/api/observers/stats", tokens.t8);
    expect(eight.map((s) => s.observer_id)).toEqual([ids.C]);
    expect(await ok<Stats>("/api/observers/stats", tokens.t9)).toEqual([]);
    const mine = await ok<Stats>(`/api/observers/${ids.B}/stats`, tokens.t7);
    expect(mine.map((s) => s.total_executions)).toEqual([3]);
  });

  it("answers 404 for an unknown, non-UUID, deleted or other tenant's observer", async () => {
    await notFoundForOthers((id) => `/api/observers/${id}/stats`);
  });

  it("answers 400 naming a bad window", async () => {
    expect(await badParameters("/api/observers/stats?until=soon")).toEqual(["until"]);
    expect(
      await badParameters(
        `/api/observers/stats?since=${q("2024-05-01T06:00:00Z")}&until=${q("2024-05-01T05:00:00Z")}`,
      ),
    ).toEqual(["since"]);
    expect(await badParameters(`/api/observers/${ids.A}/stats?since=2024-05-01`)).toEqual([
      "since",
    ]);
  });
});

describe("GET /api/observers/stats/summary", () => {
  const summary = "/api/observers/stats/summary";

  it("totals everything for the admin token", async () => {
    expect(await sameAsStore(summary, () => statsSummary(db.client))).toEqual(SUMMARY.all);
  });

  it("totals a tenant key's tenant only", async () => {
    const seven = () => statsSummary(db.client, { tenant: "7" });
    expect(await sameAsStore(summary, seven, tokens.t7)).toEqual(SUMMARY.tenant7);
    const nine = () => statsSummary(db.client, { tenant: "9" });
    expect(await sameAsStore(summary, nine, tokens.t9)).toEqual(SUMMARY.empty);
  });

  it("totals a window and echoes it in UTC", async () => {
    const window = () => statsSummary(db.client, WINDOW_WITH_OFFSET);
    expect(await sameAsStore(`${summary}?${range(WINDOW_WITH_OFFSET)}`, window)).toEqual(
      SUMMARY.window,
    );
    expect(await badParameters("/api/observers/stats/summary?since=now")).toEqual(["since"]);
    expect(
      await badParameters(`/api/observers/stats/summary?until=${q("9999-12-31T23:59:59-14:00")}`),
    ).toEqual(["until"]);
    expect(
      await badParameters(`/api/observers/stats?since=${q("0000-01-01T00:00:00+01:00")}`),
    ).toEqual(["since"]);
  });
});
