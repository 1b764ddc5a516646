/**
 * Builtin jobs' wake-ups across processes without a NOTIFY in the enqueueing transaction
 * (src/jobs/doorbell.ts) over real PostgreSQL: process A (`createObservers`, no tasks) enqueues
 * through a `job` action and retries through its API; process B (a job runner of its own, with
 * its own pool and LISTEN connection) registered the task and runs it. Every poll interval and
 * lease is 60 s (B's heartbeat, which also claims, every 20 s), and each wait below gives up after
 * 10 s: B can only have run a job in time because A's doorbell rang it. A runner giving jobs back
 * at shutdown rings the others the same way. Migration 0011 has no trigger on core.tb_job.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import type { Observers } from "../../adapters/hosts/server/server-observers.ts";
import { createJobRunner, type JobRunner } from "../../src/jobs/runner.ts";
import { builtinJobQueue } from "../../src/jobs/sql-queues.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";

const ADMIN = "jobs-doorbell-admin-token-0123456789";
const LONG_MS = 60_000;
/** Well under B's first heartbeat (LONG_MS / 3) and poll (LONG_MS). */
const PROMPTLY_MS = 10_000;
let db: TestDatabase;
let a: Observers;
const clients: SqlClient[] = [];
const runners: JobRunner[] = [];

beforeAll(async () => {
  db = await createTestDatabase("jobs_doorbell");
  await createOrdersTable(db.sql);
  a = createObservers({
    databaseUrl: db.url,
    env: {
      OBSERVERS_ADMIN_TOKEN: ADMIN,
      OBSERVERS_MIGRATE: "off",
      OBSERVERS_POLL_INTERVAL_MS: String(LONG_MS),
      OBSERVERS_LEASE_MS: String(LONG_MS),
      OBSERVERS_SHUTDOWN_TIMEOUT_MS: "2000",
    },
    logger: silentLogger,
  });
  await a.start();
});
afterAll(async () => {
  for (const runner of runners) await runner.stop(1_000);
  for (const client of clients) await client.close();
  await a?.stop();
  await db?.drop();
});

/** Another process's job runner: its own pool, LISTEN connection and doorbell. */
async function otherProcess(
  name: string,
  register: (runner: JobRunner) => void,
): Promise<JobRunner> {
  const client = createPostgresClient(db.url, { max: 2 });
  clients.push(client);
  const runner = createJobRunner({
    sql: client,
    clock: systemClock,
    logger: silentLogger,
    owner: `${name}-${crypto.randomUUID()}`,
    leaseMs: LONG_MS,
    pollIntervalMs: LONG_MS,
  });
  register(runner);
  await runner.start();
  runners.push(runner);
  return runner;
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  return a.api.request(path, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function jobStatus(id: string): Promise<{ status: string; attempts: number }> {
  const [row] = await db.sql`SELECT status, attempts FROM core.tb_job WHERE id = ${id}::uuid`;
  return row as { status: string; attempts: number };
}

describe("builtin jobs' doorbell across processes", () => {
  it("migration 0011 puts no trigger on core.tb_job (no NOTIFY in the enqueueing transaction)", async () => {
    const triggers = await db.sql`SELECT tgname FROM pg_trigger
      WHERE tgrelid = 'core.tb_job'::regclass AND NOT tgisinternal`;
    expect(triggers).toEqual([]);
  });

  it("a job A's job action enqueues runs promptly in B, and so does A's API retry", async () => {
    const attempts: string[] = [];
    let failNext = true;
    await otherProcess("b", (runner) =>
      runner.register(
        "remote",
        (_payload, context) => {
          attempts.push(context.jobId);
          if (failNext) {
            failNext = false;
            throw new Error("first attempt fails");
          }
        },
        { retry: { max_attempts: 1 } },
      ),
    );
    expect(a.jobs.tasks()).toEqual([]);
    // A's API accepts the task: B announced it.
    const created = await call("POST", "/api/observers", {
      name: "remote-jobs",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "remote" }],
    });
    expect(created.status, await created.clone().text()).toBe(201);
    await db.sql`INSERT INTO orders (total) VALUES (1)`;

    const jobId = await eventually(() => attempts[0], "B to run the job A enqueued", PROMPTLY_MS);
    const failed = await eventually(
      async () => ((await jobStatus(jobId)).status === "failed" ? true : undefined),
      "the first attempt to be recorded as failed",
      PROMPTLY_MS,
    );
    expect(failed).toBe(true);

    const retried = await call("POST", `/api/jobs/${jobId}/retry`);
    expect(retried.status).toBe(200);
    const done = await eventually(
      async () => {
        const row = await jobStatus(jobId);
        return row.status === "succeeded" ? row : undefined;
      },
      "B to run the job A's API retried",
      PROMPTLY_MS,
    );
    expect(done.attempts).toBe(1);
    expect(attempts).toEqual([jobId, jobId]);
    expect(a.jobs.tasks()).toEqual([]);
  });

  it("jobs a runner gives back at shutdown ring the other processes", async () => {
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const leaving = createJobRunner({
      sql: db.client,
      clock: systemClock,
      logger: silentLogger,
      owner: `leaving-${crypto.randomUUID()}`,
      leaseMs: LONG_MS,
      pollIntervalMs: LONG_MS,
    });
    leaving.register("handover", (_payload, { signal }) => {
      started();
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason)),
      );
    });
    await leaving.start();
    // Enqueued the way the job action does: this process's queue, its own doorbell.
    const queue = builtinJobQueue(db.client);
    const { id } = await queue.enqueue(
      {
        task: "handover",
        payload: { n: 1 },
        jobKey: null,
        maxAttempts: null,
        deliveryId: crypto.randomUUID(),
        eventId: crypto.randomUUID(),
        observerId: crypto.randomUUID(),
        tenant: null,
      },
      new AbortController().signal,
    );
    await running;
    const ranInB: string[] = [];
    await otherProcess("taker", (runner) =>
      runner.register("handover", (_payload, context) => {
        ranInB.push(context.jobId);
      }),
    );
    expect(await jobStatus(id)).toMatchObject({ status: "running", attempts: 1 });
    // Shutdown aborts the handler past 100 ms and releases the job (its attempt not counted).
    await leaving.stop(100);
    const done = await eventually(
      async () => {
        const row = await jobStatus(id);
        return row.status === "succeeded" ? row : undefined;
      },
      "the other process to run the released job",
      PROMPTLY_MS,
    );
    expect(done.attempts).toBe(1);
    expect(ranInB).toEqual([id]);
  });
});
