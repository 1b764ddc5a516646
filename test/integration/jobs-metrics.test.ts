/**
 * Job and schedule metrics from real jobs: `createObservers` (the Bun factory, in process) over
 * real PostgreSQL, handlers registered with `observers.jobs.register`, `job` actions enqueueing on
 * inserts, and `GET /api/observers/metrics` parsed as Prometheus text. Counters are compared
 * before and after (they are the process's); the database gauges exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import type { Observers } from "../../adapters/hosts/server/server-observers.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver } from "../support/observers.ts";
import { type Exposition, parseExposition, sampleValue } from "../support/prometheus.ts";

const ADMIN = "jobs-metrics-admin-token-0123456789";
let db: TestDatabase;
let observers: Observers;
let flakyFailures = 1;
/** Slow jobs run until this is resolved. */
let openGate: () => void = () => {};
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});

beforeAll(async () => {
  db = await createTestDatabase("jobs_metrics");
  await createOrdersTable(db.sql);
  observers = createObservers({
    databaseUrl: db.url,
    env: {
      OBSERVERS_ADMIN_TOKEN: ADMIN,
      OBSERVERS_MIGRATE: "off",
      OBSERVERS_LEASE_MS: "1000",
      OBSERVERS_POLL_INTERVAL_MS: "50",
      OBSERVERS_SHUTDOWN_TIMEOUT_MS: "2000",
    },
    logger: silentLogger,
  });
  observers.jobs.register("m-ok", () => {});
  observers.jobs.register(
    "m-flaky",
    () => {
      if (flakyFailures > 0) {
        flakyFailures--;
        throw new Error("try again");
      }
    },
    { retry: { max_attempts: 3, backoff_strategy: "fixed", initial_delay_ms: 10 } },
  );
  observers.jobs.register(
    "m-doomed",
    () => {
      throw new Error("always fails");
    },
    { retry: { max_attempts: 1 } },
  );
  observers.jobs.register("m-slow", () => gate);
  await observers.start();
});
afterAll(async () => {
  openGate();
  await observers?.stop();
  await db?.drop();
});

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  return observers.api.request(path, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function scrape(): Promise<Exposition> {
  const response = await call("GET", "/api/observers/metrics");
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

const value = (metrics: Exposition, name: string, labels: Record<string, string> = {}) =>
  sampleValue(metrics, name, labels) ?? 0;

async function jobsWith(query: string): Promise<{ id: string; status: string }[]> {
  const response = await call("GET", `/api/jobs?${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { id: string; status: string }[] }).data;
}

/** An observer enqueuing a job of `task` on each order insert. */
async function jobObserver(task: string): Promise<string> {
  const response = await call("POST", "/api/observers", {
    name: `enqueue-${task}`,
    entity_type: "Order",
    event_type: "INSERT",
    actions: [{ type: "job", task }],
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

describe("job metrics", () => {
  it("count enqueued jobs by queue and ended attempts by outcome, with durations", async () => {
    const before = await scrape();
    const ids = await Promise.all(["m-ok", "m-flaky", "m-doomed"].map(jobObserver));
    await db.sql`INSERT INTO orders (org) VALUES (NULL)`;
    for (const [task, status] of [
      ["m-ok", "succeeded"],
      ["m-flaky", "succeeded"],
      ["m-doomed", "failed"],
    ] as const) {
      await eventually(async () => {
        const jobs = await jobsWith(`task=${task}&status=${status}`);
        return jobs.length === 1 ? jobs : undefined;
      }, `the ${task} job ${status}`);
    }
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta("fraiseql_observer_jobs_enqueued_total", { queue: "builtin" })).toBe(3);
    expect(delta("fraiseql_observer_jobs_enqueued_total", { queue: "graphile-worker" })).toBe(0);
    expect(delta("fraiseql_observer_jobs_completed_total", { status: "succeeded" })).toBe(2);
    expect(delta("fraiseql_observer_jobs_completed_total", { status: "retried" })).toBe(1);
    expect(delta("fraiseql_observer_jobs_completed_total", { status: "failed" })).toBe(1);
    expect(delta("fraiseql_observer_job_duration_seconds_count", { status: "succeeded" })).toBe(2);
    // The flaky job's failed attempt and the doomed job's.
    expect(delta("fraiseql_observer_job_duration_seconds_count", { status: "failed" })).toBe(2);
    expect(after.get("fraiseql_observer_job_duration_seconds")?.type).toBe("histogram");
    // No label carries a task name.
    for (const name of [
      "fraiseql_observer_jobs_enqueued_total",
      "fraiseql_observer_jobs_completed_total",
      "fraiseql_observer_job_duration_seconds",
    ]) {
      for (const sample of after.get(name)?.samples ?? []) {
        expect(JSON.stringify(sample.labels)).not.toMatch(/m-(ok|flaky|doomed)/);
      }
    }
    for (const id of ids) await call("DELETE", `/api/observers/${id}`);
  });

  it("read pending and running jobs from the database, and count API cancellations", async () => {
    const before = await scrape();
    // Written with SQL: no process handles `m-orphan`, so its jobs wait.
    await insertObserver(db.sql, {
      name: "orphans",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "m-orphan" }],
    });
    const slow = await jobObserver("m-slow");
    await db.sql`INSERT INTO orders (org) VALUES (NULL)`;
    await db.sql`INSERT INTO orders (org) VALUES (NULL)`;
    const waiting = await eventually(async () => {
      const jobs = await jobsWith("task=m-orphan&status=pending");
      return jobs.length === 2 ? jobs : undefined;
    }, "two waiting orphan jobs");
    // Each insert enqueued a slow job: both run (the default concurrency is 10) until cancelled.
    await eventually(async () => {
      const jobs = await jobsWith("task=m-slow&status=running");
      return jobs.length === 2 ? jobs : undefined;
    }, "two running slow jobs");
    const during = await scrape();
    const [counts] = await db.sql`SELECT
      count(*) FILTER (WHERE status = 'pending' AND queue = 'builtin')::int AS pending,
      count(*) FILTER (WHERE status = 'running')::int AS running FROM core.tb_job`;
    expect(value(during, "fraiseql_observer_jobs_pending")).toBe(counts?.pending);
    expect(value(during, "fraiseql_observer_jobs_running")).toBe(counts?.running);
    expect(value(during, "fraiseql_observer_jobs_pending")).toBeGreaterThanOrEqual(2);
    expect(value(during, "fraiseql_observer_jobs_running")).toBe(2);

    expect((await call("POST", `/api/jobs/${waiting[0]?.id}/cancel`)).status).toBe(200);
    const bulk = await call("POST", "/api/jobs/cancel", { task: "m-slow" });
    const { cancelled } = (await bulk.json()) as { cancelled: number };
    expect(cancelled).toBe(2);
    const after = await scrape();
    expect(
      value(after, "fraiseql_observer_jobs_completed_total", { status: "cancelled" }) -
        value(before, "fraiseql_observer_jobs_completed_total", { status: "cancelled" }),
    ).toBe(3);
    expect(value(after, "fraiseql_observer_jobs_running")).toBe(0);
    openGate();
    await call("DELETE", `/api/observers/${slow}`);
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE name = 'orphans'`;
  });

  it("count the ticks of scheduled observers", async () => {
    const before = value(await scrape(), "fraiseql_observer_schedule_ticks_total");
    const created = await call("POST", "/api/observers", {
      name: "every-second",
      event_type: "SCHEDULE",
      schedule: "* * * * * *",
      actions: [{ type: "log", message_template: "tick" }],
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    await eventually(async () => {
      const metrics = await scrape();
      const ticks = value(metrics, "fraiseql_observer_schedule_ticks_total") - before;
      return ticks >= 1 ? ticks : undefined;
    }, "a counted tick");
    const [fired] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_event e
      JOIN core.tb_observer o ON o.pk_observer = e.fk_observer
      WHERE o.id = ${id}::uuid AND e.kind = 'schedule'`;
    expect(fired?.n).toBeGreaterThanOrEqual(1);
    await call("DELETE", `/api/observers/${id}`);
  });
});
