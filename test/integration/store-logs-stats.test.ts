/**
 * The store's log listing and statistics on a real PostgreSQL: every filter, the time window,
 * pagination, tenant scoping, and exact numbers over a known set of log rows.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, NotFoundError } from "../../src/errors.ts";
import { listLogs } from "../../src/store/logs.ts";
import { observerStats, statsSummary } from "../../src/store/stats.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";

let db: TestDatabase;
const ids: Record<"A" | "B" | "C" | "D" | "E", string> = { A: "", B: "", C: "", D: "", E: "" };
const pks: Record<string, number> = {};
const E1 = randomUUID();
const E2 = randomUUID();
const DELIVERY = randomUUID();
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

// The label goes in entity_id, so tests can name rows.
async function insertLog(seed: LogSeed): Promise<void> {
  const observer = seed.observer === null ? null : ids[seed.observer];
  const action = seed.action === undefined ? 0 : seed.action;
  await db.sql`INSERT INTO core.tb_observer_log (fk_observer, delivery_id, event_id, entity_type,
      entity_id, event_type, status, action_index, action_type, started_at, completed_at,
      duration_ms, error_code, error_message, attempt_number, max_attempts, request_payload,
      response_payload, response_status_code, trace_id, fk_customer_org, created_at)
    VALUES ((SELECT pk_observer FROM core.tb_observer WHERE id = ${observer}::uuid),
      ${action === null ? null : DELIVERY}::uuid, ${seed.event ?? randomUUID()}::uuid, 'Order',
      ${seed.label}, 'UPDATE', ${seed.status}, ${action}::integer,
      ${action === null ? null : "webhook"}, ${seed.time}::timestamptz, ${seed.time}::timestamptz,
      ${seed.duration ?? null}::integer, ${seed.status === "success" ? null : "E_TEST"},
      ${seed.status === "success" ? null : `${seed.label} went wrong`}, 1, 3,
      '{"secret":"request"}'::jsonb, '{"secret":"response"}'::jsonb,
      ${seed.status === "success" ? 200 : null}::integer, ${seed.trace ?? null},
      ${seed.tenant ?? null}::bigint, ${seed.time}::timestamptz)`;
}

beforeAll(async () => {
  db = await createTestDatabase("store_logs_stats");
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
      actions: [{ type: "log" }],
      fk_customer_org: tenant,
      enabled,
    });
    const [row] = await db.sql`UPDATE core.tb_observer SET priority = ${priority}
      WHERE id = ${ids[name]} RETURNING pk_observer::int AS pk`;
    pks[name] = row?.pk as number;
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
      VALUES (${pks.B as number}, 'obs-B', gen_random_uuid(), 0, 'webhook', gen_random_uuid(),
        'Order', 'UPDATE', now(), 3, 3, ${status}, ${tenant}::bigint)`;
  }
});
afterAll(() => db?.drop());

const labels = (page: { data: { entity_id: string | null }[] }) =>
  page.data.map((r) => r.entity_id);
const all = { page: 1, pageSize: 100 };

async function configIssue(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues.map((i) => i.path);
}

describe("listLogs", () => {
  it("lists every row newest first, with FraiseQL's fields and ours, and no payloads", async () => {
    const page = await listLogs(db.client, all);
    expect(page).toMatchObject({ page: 1, page_size: 100, total_count: 12, total_pages: 1 });
    expect(labels(page)).toEqual([
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
    const a2 = page.data.find((r) => r.entity_id === "a2");
    expect(a2).toEqual({
      pk_observer_log: expect.any(Number),
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      fk_observer: pks.A,
      observer_id: ids.A,
      delivery_id: DELIVERY,
      event_id: E1,
      entity_type: "Order",
      entity_id: "a2",
      event_type: "UPDATE",
      status: "failed",
      action_index: 0,
      action_type: "webhook",
      started_at: "2024-05-01T02:00:00.000Z",
      completed_at: "2024-05-01T02:00:00.000Z",
      duration_ms: 300,
      error_code: "E_TEST",
      error_message: "a2 went wrong",
      attempt_number: 1,
      max_attempts: 3,
      next_retry_at: null,
      response_status_code: null,
      trace_id: null,
      fk_customer_org: null,
      created_at: "2024-05-01T02:00:00.000Z",
    });
    for (const row of page.data) {
      expect(row).not.toHaveProperty("request_payload");
      expect(row).not.toHaveProperty("response_payload");
    }
    const unreadable = page.data.find((r) => r.entity_id === "unreadable");
    expect(unreadable).toMatchObject({
      fk_observer: null,
      observer_id: null,
      action_index: null,
      delivery_id: null,
      fk_customer_org: 7,
    });
    // A soft-deleted observer's rows still name it.
    expect(page.data.find((r) => r.entity_id === "e1")?.observer_id).toBe(ids.E);
  });

  it("filters by observer, status, event id and trace id", async () => {
    const byObserver = await listLogs(db.client, { ...all, observerId: ids.A });
    expect(labels(byObserver)).toEqual(["a6", "a5", "a4", "a3", "a2", "a1"]);
    expect(byObserver.total_count).toBe(6);
    expect(new Set(byObserver.data.map((r) => r.observer_id))).toEqual(new Set([ids.A]));
    expect(labels(await listLogs(db.client, { ...all, observerId: randomUUID() }))).toEqual([]);
    expect(labels(await listLogs(db.client, { ...all, status: "failed" }))).toEqual([
      "unreadable",
      "a4",
      "a2",
      "c1",
    ]);
    expect(labels(await listLogs(db.client, { ...all, status: "cancelled" }))).toEqual(["b3"]);
    expect(labels(await listLogs(db.client, { ...all, eventId: E1 }))).toEqual(["a2", "a1"]);
    expect(labels(await listLogs(db.client, { ...all, traceId: "trace-a" }))).toEqual(["a1"]);
    expect(labels(await listLogs(db.client, { ...all, traceId: "nope" }))).toEqual([]);
    expect(
      labels(await listLogs(db.client, { ...all, observerId: ids.A, status: "success" })),
    ).toEqual(["a6", "a5", "a1"]);
  });

  it("filters by a half-open time window, offsets included", async () => {
    const window = await listLogs(db.client, {
      ...all,
      since: "2024-05-01T02:00:00Z",
      until: "2024-05-01T05:00:00Z",
    });
    expect(labels(window)).toEqual(["a4", "b3", "a3", "b2", "e1", "a2"]);
    expect(window.total_count).toBe(6);
    // 08:00+02:00 is 06:00Z: only what is at or after it.
    expect(
      labels(await listLogs(db.client, { ...all, since: "2024-05-01T08:00:00+02:00" })),
    ).toEqual(["a6", "unreadable"]);
    expect(labels(await listLogs(db.client, { ...all, until: "2024-05-01T01:30:00Z" }))).toEqual([
      "c1",
      "a1",
    ]);
  });

  it("pages", async () => {
    const third = await listLogs(db.client, { page: 3, pageSize: 5 });
    expect(third).toMatchObject({ page: 3, page_size: 5, total_count: 12, total_pages: 3 });
    expect(labels(third)).toEqual(["c1", "a1"]);
    const second = await listLogs(db.client, { page: 2, pageSize: 5, observerId: ids.A });
    expect(labels(second)).toEqual(["a1"]);
    expect(second).toMatchObject({ total_count: 6, total_pages: 2 });
  });

  it("shows a tenant only its own rows", async () => {
    const seven = await listLogs(db.client, { ...all, tenant: "7" });
    expect(labels(seven)).toEqual(["a6", "unreadable", "b3", "b2", "e1", "b1"]);
    expect(labels(await listLogs(db.client, { ...all, tenant: "8" }))).toEqual(["c1"]);
    expect(labels(await listLogs(db.client, { ...all, tenant: "7", observerId: ids.C }))).toEqual(
      [],
    );
    expect(labels(await listLogs(db.client, { ...all, tenant: "7", eventId: E1 }))).toEqual([]);
    expect(labels(await listLogs(db.client, { ...all, tenant: "9" }))).toEqual([]);
  });

  it("refuses bad filter values with a ConfigError naming the field", async () => {
    expect(await configIssue(listLogs(db.client, { ...all, status: "bogus" }))).toEqual(["status"]);
    expect(await configIssue(listLogs(db.client, { ...all, observerId: "x" }))).toEqual([
      "observer_id",
    ]);
    expect(await configIssue(listLogs(db.client, { ...all, eventId: "42" }))).toEqual(["event_id"]);
    expect(await configIssue(listLogs(db.client, { ...all, since: "yesterday" }))).toEqual([
      "since",
    ]);
    // No time zone: it would depend on the server's.
    expect(
      await configIssue(listLogs(db.client, { ...all, until: "2024-05-01T00:00:00" })),
    ).toEqual(["until"]);
    expect(
      await configIssue(listLogs(db.client, { ...all, since: "2024-02-30T00:00:00Z" })),
    ).toEqual(["since"]);
    expect(
      await configIssue(
        listLogs(db.client, {
          ...all,
          since: "2024-05-02T00:00:00Z",
          until: "2024-05-01T00:00:00Z",
        }),
      ),
    ).toEqual(["since"]);
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

describe("observerStats", () => {
  it("counts every live observer's executions, in priority order", async () => {
    const stats = await observerStats(db.client, {});
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
    // No executions: zeros and nulls. The soft-deleted obs-E is absent.
    expect(stats[3]).toEqual({
      observer_id: ids.D,
      observer_name: "obs-D",
      entity_type: "Order",
      event_type: null,
      enabled: false,
      ...none,
    });
  });

  it("counts only the window", async () => {
    const stats = await observerStats(db.client, {
      since: "2024-05-01T02:00:00Z",
      until: "2024-05-01T05:00:00Z",
    });
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
      max_duration_ms: 10,
      min_duration_ms: 10,
    });
    expect(byName["obs-C"]).toMatchObject(none);
  });

  it("scopes to a tenant's observers and rows, and finds one observer", async () => {
    const seven = await observerStats(db.client, { tenant: "7" });
    expect(seven.map((s) => s.observer_id)).toEqual([ids.B, ids.D]);
    expect(seven[0]).toMatchObject({ total_executions: 3, successful_executions: 1 });
    const one = await observerStats(db.client, { observerId: ids.A });
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ observer_id: ids.A, total_executions: 5 });
    const mine = await observerStats(db.client, { observerId: ids.B, tenant: "7" });
    expect(mine.map((s) => s.total_executions)).toEqual([3]);
  });

  it("answers NotFoundError for another tenant's, a deleted or an unknown observer", async () => {
    for (const options of [
      { observerId: ids.C, tenant: "7" },
      { observerId: ids.A, tenant: "7" },
      { observerId: ids.E },
      { observerId: randomUUID() },
      { observerId: "not-a-uuid" },
    ]) {
      await expect(observerStats(db.client, options)).rejects.toThrow(NotFoundError);
    }
    await expect(observerStats(db.client, { observerId: ids.C, tenant: "7" })).rejects.toThrow(
      `no observer with id "${ids.C}"`,
    );
    expect(await configIssue(observerStats(db.client, { until: "soon" }))).toEqual(["until"]);
  });
});

describe("statsSummary", () => {
  it("totals everything in scope", async () => {
    expect(await statsSummary(db.client, {})).toEqual({
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

  it("totals a tenant's", async () => {
    expect(await statsSummary(db.client, { tenant: "7" })).toEqual({
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
    expect(await statsSummary(db.client, { tenant: "9" })).toEqual({
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

  it("totals a window and echoes it", async () => {
    expect(
      await statsSummary(db.client, {
        since: "2024-05-01T04:00:00+02:00",
        until: "2024-05-01T05:00:00Z",
      }),
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
    expect(
      await configIssue(
        statsSummary(db.client, { since: "2024-05-01T06:00:00Z", until: "2024-05-01T05:00:00Z" }),
      ),
    ).toEqual(["since"]);
  });
});
