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
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-activity-tests";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const tokens = { t7: "", t8: "", t9: "", read: "" };
const ids: Record<"A" | "B" | "C" | "D" | "E", string> = { A: "", B: "", C: "", D: "", E: "" };
const E1 = randomUUID();
const E2 = randomUUID();
const at = (hhmm: string) => `2024-05-01T${hhmm}:00.000Z`;

interface LogSeed {
  label: string;
  observer: keyof typeof ids | null;
  status: string;
  action?: number | null;
  duration?: number | null;
  time: string;
  tenant?: number | null;
  event?: string;
  trace?: string | null;
}

// The label goes in entity_id, so tests can name rows. Rows without an action_index are condition
// errors (or unreadable changes, without an observer), as src/store/outcomes.ts writes them.
async function insertLog(seed: LogSeed): Promise<void> {
  const observer = seed.observer === null ? null : ids[seed.observer];
  const action = seed.action === undefined ? 0 : seed.action;
  await db.sql`INSERT INTO core.tb_observer_log (fk_observer, delivery_id, event_id, entity_type,
      entity_id, event_type, status, action_index, action_type, started_at, completed_at,
      duration_ms, error_code, error_message, attempt_number, max_attempts, request_payload,
      response_payload, response_status_code, trace_id, fk_customer_org, created_at)
    VALUES ((SELECT pk_observer FROM core.tb_observer WHERE id = ${observer}::uuid),
      ${action === null ? null : randomUUID()}::uuid, ${seed.event ?? randomUUID()}::uuid, 'Order',
      ${seed.label}, 'UPDATE', ${seed.status}, ${action}::integer,
      ${action === null ? null : "webhook"}, ${seed.time}::timestamptz, ${seed.time}::timestamptz,
      ${seed.duration ?? null}::integer, ${seed.status === "success" ? null : "E_TEST"},
      ${seed.status === "success" ? null : `${seed.label} went wrong`}, 1, 3,
      '{"secret":"request-payload-secret"}'::jsonb, '{"secret":"response-payload-secret"}'::jsonb,
      ${seed.status === "success" ? 200 : null}::integer, ${seed.trace ?? null},
      ${seed.tenant ?? null}::bigint, ${seed.time}::timestamptz)`;
}

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

  const seeds = [
    ["A", null, 10, true],
    ["B", 7, 20, true],
    ["C", 8, 5, true],
    ["D", 7, 30, false],
    ["E", 7, 40, true],
  ] as const;
  for (const [name, tenant, priority, enabled] of seeds) {
    ids[name] = await insertObserver(db.sql, {
      name: `obs-${name}`,
      actions: [{ type: "log", message_template: "{{ id }} changed" }],
      fk_customer_org: tenant,
      enabled,
    });
    await db.sql`UPDATE core.tb_observer SET priority = ${priority} WHERE id = ${ids[name]}`;
  }
  const logs: LogSeed[] = [
    {
      label: "a1",
      observer: "A",
      status: "success",
      duration: 100,
      time: at("01:00"),
      event: E1,
      trace: "trace-a",
    },
    { label: "a2", observer: "A", status: "failed", duration: 300, time: at("02:00"), event: E1 },
    { label: "a3", observer: "A", status: "timeout", duration: 500, time: at("03:00") },
    { label: "a4", observer: "A", status: "failed", action: null, time: at("04:00") },
    { label: "a5", observer: "A", status: "success", duration: 200, time: at("05:00"), event: E2 },
    { label: "a6", observer: "A", status: "success", duration: 400, time: at("06:30"), tenant: 7 },
    {
      label: "b1",
      observer: "B",
      status: "success",
      duration: 50,
      time: at("01:30"),
      tenant: 7,
      trace: "trace-b",
    },
    { label: "b2", observer: "B", status: "skipped", time: at("02:30"), tenant: 7 },
    { label: "b3", observer: "B", status: "cancelled", duration: 10, time: at("03:30"), tenant: 7 },
    { label: "c1", observer: "C", status: "failed", duration: 1000, time: at("01:00"), tenant: 8 },
    { label: "e1", observer: "E", status: "success", duration: 80, time: at("02:00"), tenant: 7 },
    {
      label: "unreadable",
      observer: null,
      status: "failed",
      action: null,
      time: at("06:00"),
      tenant: 7,
    },
  ];
  for (const seed of logs) await insertLog(seed);
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${ids.E}`;
  // Dead letters for the summary: tenant 7 one pending and one retrying, no tenant one pending.
  for (const [tenant, status] of [
    [7, "pending"],
    [7, "retrying"],
    [null, "pending"],
  ] as const) {
    await db.sql`INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id,
        action_index, action_type, event_id, object_type, modification_type, change_created_at,
        attempts, max_attempts, status, fk_customer_org)
      SELECT pk_observer, 'obs-B', gen_random_uuid(), 0, 'webhook', gen_random_uuid(), 'Order',
        'UPDATE', now(), 3, 3, ${status}, ${tenant}::bigint
      FROM core.tb_observer WHERE id = ${ids.B}`;
  }
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

async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  return (await response.json()) as {
    code: string;
    detail: string;
    issues?: { path: string; message: string }[];
  };
}

/** The paths named by a 400's issues, sorted. */
async function badParameters(path: string, token: string = ADMIN): Promise<string[]> {
  const body = await problem(await get(path, token), 400);
  expect(body.code).toBe("INVALID_CONFIG");
  return (body.issues ?? []).map((issue) => issue.path).sort();
}

const q = encodeURIComponent;

describe("GET /api/observers/logs", () => {
  it("lists every row newest first, with FraiseQL's fields and ours, and never the payloads", async () => {
    const response = await get("/api/observers/logs?page_size=100");
    const text = await response.clone().text();
    expect(text).not.toContain("request-payload-secret");
    expect(text).not.toContain("response-payload-secret");
    const page = (await response.json()) as LogPage;
    expect(page).toMatchObject({ page: 1, page_size: 100, total_count: 12, total_pages: 1 });
    expect(page.data.map((r) => r.entity_id)).toEqual([
      "a6",
      "unreadable",
      "a5",
      "a4",
      "b3",
      "a3",
      "b2",
      "e1",
      "a2",
      "b1",
      "c1",
      "a1",
    ]);
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
    const window = await ok<LogPage>(
      `/api/observers/logs?since=${q("2024-05-01T02:00:00Z")}&until=${q("2024-05-01T05:00:00Z")}`,
    );
    expect(window.data.map((r) => r.entity_id)).toEqual(["a4", "b3", "a3", "b2", "e1", "a2"]);
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
    expect(await labels("/api/observers/logs", tokens.t7)).toEqual([
      "a6",
      "unreadable",
      "b3",
      "b2",
      "e1",
      "b1",
    ]);
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
    for (const [id, token] of [
      [randomUUID(), ADMIN],
      ["not-a-uuid", ADMIN],
      [ids.E, ADMIN],
      [ids.C, tokens.t7],
      [ids.B, tokens.t8],
      // A global observer is not a tenant's, even where it logged a tenant's change (a6).
      [ids.A, tokens.t7],
    ] as const) {
      const body = await problem(await get(`/api/observers/${id}/logs`, token), 404);
      expect(body.code).toBe("NOT_FOUND");
    }
    // The owner sees them.
    expect(await labels(`/api/observers/${ids.B}/logs`, tokens.t7)).toEqual(["b3", "b2", "b1"]);
    expect(await labels(`/api/observers/${ids.C}/logs`, tokens.t8)).toEqual(["c1"]);
  });
});

const none = {
  total_executions: 0,
  successful_executions: 0,
  failed_executions: 0,
  timeout_executions: 0,
  skipped_executions: 0,
  cancelled_executions: 0,
  success_rate_pct: null,
  avg_duration_ms: null,
  max_duration_ms: null,
  min_duration_ms: null,
  last_execution_at: null,
  condition_errors: 0,
};

type Stats = { observer_id: string; observer_name: string; [key: string]: unknown }[];

describe("GET /api/observers/stats and /{id}/stats", () => {
  it("gives every live observer's exact numbers, in priority order", async () => {
    const stats = await ok<Stats>("/api/observers/stats");
    expect(stats.map((s) => s.observer_name)).toEqual(["obs-C", "obs-A", "obs-B", "obs-D"]);
    expect(stats[0]).toEqual({
      observer_id: ids.C,
      observer_name: "obs-C",
      entity_type: "Order",
      event_type: null,
      enabled: true,
      ...none,
      total_executions: 1,
      failed_executions: 1,
      success_rate_pct: 0,
      avg_duration_ms: 1000,
      max_duration_ms: 1000,
      min_duration_ms: 1000,
      last_execution_at: "2024-05-01T01:00:00.000Z",
    });
    expect(stats[1]).toEqual({
      observer_id: ids.A,
      observer_name: "obs-A",
      entity_type: "Order",
      event_type: null,
      enabled: true,
      total_executions: 5,
      successful_executions: 3,
      failed_executions: 1,
      timeout_executions: 1,
      skipped_executions: 0,
      cancelled_executions: 0,
      success_rate_pct: 60,
      avg_duration_ms: 300,
      max_duration_ms: 500,
      min_duration_ms: 100,
      last_execution_at: "2024-05-01T06:30:00.000Z",
      condition_errors: 1,
    });
    expect(stats[2]).toMatchObject({
      observer_id: ids.B,
      total_executions: 3,
      successful_executions: 1,
      skipped_executions: 1,
      cancelled_executions: 1,
      failed_executions: 0,
      success_rate_pct: 33.33,
      avg_duration_ms: 30,
      max_duration_ms: 50,
      min_duration_ms: 10,
      last_execution_at: "2024-05-01T03:30:00.000Z",
      condition_errors: 0,
    });
    expect(stats[3]).toEqual({
      observer_id: ids.D,
      observer_name: "obs-D",
      entity_type: "Order",
      event_type: null,
      enabled: false,
      ...none,
    });
  });

  it("counts only the since/until window", async () => {
    const stats = await ok<Stats>(
      `/api/observers/stats?since=${q("2024-05-01T04:00:00+02:00")}&until=${q("2024-05-01T05:00:00Z")}`,
    );
    const byName = Object.fromEntries(stats.map((s) => [s.observer_name, s]));
    expect(byName["obs-A"]).toMatchObject({
      total_executions: 2,
      successful_executions: 0,
      failed_executions: 1,
      timeout_executions: 1,
      success_rate_pct: 0,
      avg_duration_ms: 400,
      max_duration_ms: 500,
      min_duration_ms: 300,
      last_execution_at: "2024-05-01T03:00:00.000Z",
      condition_errors: 1,
    });
    expect(byName["obs-B"]).toMatchObject({
      total_executions: 2,
      skipped_executions: 1,
      cancelled_executions: 1,
      avg_duration_ms: 10,
    });
    expect(byName["obs-C"]).toMatchObject(none);
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
    expect(empty).toEqual([expect.objectContaining({ observer_id: ids.D, ...none })]);
  });

  it("scopes a tenant key to its tenant's observers and rows", async () => {
    const seven = await ok<Stats>("/api/observers/stats", tokens.t7);
    expect(seven.map((s) => s.observer_id)).toEqual([ids.B, ids.D]);
    expect(seven[0]).toMatchObject({ total_executions: 3, successful_executions: 1 });
    const eight = await ok<Stats>("/api/observers/stats", tokens.t8);
    expect(eight.map((s) => s.observer_id)).toEqual([ids.C]);
    expect(await ok<Stats>("/api/observers/stats", tokens.t9)).toEqual([]);
    const mine = await ok<Stats>(`/api/observers/${ids.B}/stats`, tokens.t7);
    expect(mine.map((s) => s.total_executions)).toEqual([3]);
  });

  it("answers 404 for an unknown, non-UUID, deleted or other tenant's observer", async () => {
    for (const [id, token] of [
      [randomUUID(), ADMIN],
      ["not-a-uuid", ADMIN],
      [ids.E, ADMIN],
      [ids.C, tokens.t7],
      [ids.A, tokens.t7],
      [ids.B, tokens.t8],
    ] as const) {
      const body = await problem(await get(`/api/observers/${id}/stats`, token), 404);
      expect(body.code).toBe("NOT_FOUND");
    }
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
  it("totals everything for the admin token", async () => {
    expect(await ok("/api/observers/stats/summary")).toEqual({
      observers: { total: 4, enabled: 3 },
      executions: { total: 10, successful: 5, failed: 2, timeout: 1, skipped: 1, cancelled: 1 },
      success_rate_pct: 50,
      avg_duration_ms: 293.33,
      p95_duration_ms: 820,
      condition_errors: 2,
      dead_letters: { pending: 2, retrying: 1 },
      last_execution_at: "2024-05-01T06:30:00.000Z",
      since: null,
      until: null,
    });
  });

  it("totals a tenant key's tenant only", async () => {
    expect(await ok("/api/observers/stats/summary", tokens.t7)).toEqual({
      observers: { total: 2, enabled: 1 },
      executions: { total: 5, successful: 3, failed: 0, timeout: 0, skipped: 1, cancelled: 1 },
      success_rate_pct: 60,
      avg_duration_ms: 135,
      p95_duration_ms: 368,
      condition_errors: 1,
      dead_letters: { pending: 1, retrying: 1 },
      last_execution_at: "2024-05-01T06:30:00.000Z",
      since: null,
      until: null,
    });
    expect(await ok("/api/observers/stats/summary", tokens.t9)).toEqual({
      observers: { total: 0, enabled: 0 },
      executions: { total: 0, successful: 0, failed: 0, timeout: 0, skipped: 0, cancelled: 0 },
      success_rate_pct: null,
      avg_duration_ms: null,
      p95_duration_ms: null,
      condition_errors: 0,
      dead_letters: { pending: 0, retrying: 0 },
      last_execution_at: null,
      since: null,
      until: null,
    });
  });

  it("totals a window and echoes it in UTC", async () => {
    expect(
      await ok(
        `/api/observers/stats/summary?since=${q("2024-05-01T04:00:00+02:00")}&until=${q("2024-05-01T05:00:00Z")}`,
      ),
    ).toEqual({
      observers: { total: 4, enabled: 3 },
      executions: { total: 5, successful: 1, failed: 1, timeout: 1, skipped: 1, cancelled: 1 },
      success_rate_pct: 20,
      avg_duration_ms: 222.5,
      p95_duration_ms: 289,
      condition_errors: 1,
      dead_letters: { pending: 2, retrying: 1 },
      last_execution_at: "2024-05-01T03:30:00.000Z",
      since: "2024-05-01T02:00:00.000Z",
      until: "2024-05-01T05:00:00.000Z",
    });
    expect(await badParameters("/api/observers/stats/summary?since=now")).toEqual(["since"]);
    expect(
      await badParameters(`/api/observers/stats/summary?until=${q("9999-12-31T23:59:59-14:00")}`),
    ).toEqual(["until"]);
    expect(
      await badParameters(`/api/observers/stats?since=${q("0000-01-01T00:00:00+01:00")}`),
    ).toEqual(["since"]);
  });
});
