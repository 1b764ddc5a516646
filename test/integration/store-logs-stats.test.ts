/**
 * The store's log listing and statistics on a real PostgreSQL: every filter, the time window,
 * pagination, tenant scoping, and exact numbers over a known set of log rows.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, NotFoundError } from "../../src/errors.ts";
import { listLogs } from "../../src/store/logs.ts";
import { observerStats, statsSummary } from "../../src/store/stats.ts";
import {
  type ActivitySeed,
  ALL_NEWEST_FIRST,
  DELIVERY,
  E1,
  expectedObserverStats,
  SUMMARY,
  seedActivity,
  TENANT_7_NEWEST_FIRST,
  WINDOW,
  WINDOW_NEWEST_FIRST,
  WINDOW_STATS,
  WINDOW_WITH_OFFSET,
} from "../support/activity-seed.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
let ids: ActivitySeed["ids"];
let pks: ActivitySeed["pks"];

beforeAll(async () => {
  db = await createTestDatabase("store_logs_stats");
  ({ ids, pks } = await seedActivity(db));
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
    expect(labels(page)).toEqual(ALL_NEWEST_FIRST);
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
      batch_id: null,
      on_dead_letter: false,
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
    const window = await listLogs(db.client, { ...all, ...WINDOW });
    expect(labels(window)).toEqual(WINDOW_NEWEST_FIRST);
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
    expect(labels(seven)).toEqual(TENANT_7_NEWEST_FIRST);
    expect(labels(await listLogs(db.client, { ...all, tenant: "8" }))).toEqual(["c1"]);
    expect(labels(await listLogs(db.client, { ...all, tenant: "7", observerId: ids.C }))).toEqual(
      [],
    );
    expect(labels(await listLogs(db.client, { ...all, tenant: "7", eventId: E1 }))).toEqual([]);
    // a6 is a tenant-7 change, but the global observer A's row: the admin's.
    expect(labels(await listLogs(db.client, { ...all, tenant: "7", observerId: ids.A }))).toEqual(
      [],
    );
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

describe("observerStats", () => {
  it("counts every live observer's executions, in priority order", async () => {
    const stats = await observerStats(db.client, {});
    expect(stats.map((s) => s.observer_name)).toEqual(["obs-C", "obs-A", "obs-B", "obs-D"]);
    // obs-D has no executions: zeros and nulls. The soft-deleted obs-E is absent.
    expect(stats).toEqual(expectedObserverStats(ids));
  });

  it("counts only the window", async () => {
    const stats = await observerStats(db.client, WINDOW);
    const byName = Object.fromEntries(stats.map((s) => [s.observer_name, s]));
    expect(byName["obs-A"]).toMatchObject(WINDOW_STATS["obs-A"]);
    expect(byName["obs-B"]).toMatchObject(WINDOW_STATS["obs-B"]);
    expect(byName["obs-C"]).toMatchObject(WINDOW_STATS["obs-C"]);
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
    expect(await statsSummary(db.client, {})).toEqual(SUMMARY.all);
  });

  it("totals a tenant's", async () => {
    expect(await statsSummary(db.client, { tenant: "7" })).toEqual(SUMMARY.tenant7);
    expect(await statsSummary(db.client, { tenant: "9" })).toEqual(SUMMARY.empty);
  });

  it("totals a window and echoes it", async () => {
    expect(await statsSummary(db.client, WINDOW_WITH_OFFSET)).toEqual(SUMMARY.window);
    expect(
      await configIssue(
        statsSummary(db.client, { since: "2024-05-01T06:00:00Z", until: "2024-05-01T05:00:00Z" }),
      ),
    ).toEqual(["since"]);
  });
});
