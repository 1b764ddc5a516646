/**
 * The `graphile-worker` job queue over real PostgreSQL with a real graphile-worker runner: each
 * delivery's job reaches graphile-worker exactly once (its `add_job` runs in the transaction that
 * records the hand-off under the delivery id, so a retried delivery adds nothing), the hand-offs
 * are visible in `/api/jobs`, and a database without graphile-worker's schema fails permanently
 * naming it.
 */
import { Logger, type Runner, run, runMigrations } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import type { Observers } from "../../adapters/hosts/server/server-observers.ts";
import { ActionFailure } from "../../src/actions/types.ts";
import { graphileWorkerQueue } from "../../src/jobs/sql-queues.ts";
import type { JsonValue } from "../../src/json.ts";
import type { JobRequest } from "../../src/ports/jobs.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver } from "../support/observers.ts";

const ADMIN = "graphile-jobs-admin-token-0123456789";
let db: TestDatabase;
let observers: Observers | undefined;
let runner: Runner | undefined;
const quiet = new Logger(() => () => {});

beforeAll(async () => {
  db = await createTestDatabase("jobs_graphile");
  await createOrdersTable(db.sql);
});
afterAll(async () => {
  await runner?.stop();
  await observers?.stop();
  await db?.drop();
});

function job(deliveryId: string, task = "deliver"): JobRequest {
  return {
    task,
    payload: { delivery: deliveryId },
    jobKey: null,
    maxAttempts: null,
    deliveryId,
    eventId: crypto.randomUUID(),
    observerId: crypto.randomUUID(),
    tenant: null,
  };
}

describe("graphile-worker queue", () => {
  it("without graphile-worker's schema: a permanent GRAPHILE_WORKER_MISSING naming it, and no record left", async () => {
    const error = await graphileWorkerQueue(db.client)
      .enqueue(job(crypto.randomUUID()), new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionFailure);
    expect(error).toMatchObject({ kind: "permanent", code: "GRAPHILE_WORKER_MISSING" });
    expect((error as Error).message).toMatch(/graphile_worker schema/);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_job`;
    expect(row?.n).toBe(0);
  });

  it("a retried delivery adds its job once", async () => {
    await runMigrations({ connectionString: db.url, logger: quiet });
    const queue = graphileWorkerQueue(db.client);
    const deliveryId = crypto.randomUUID();
    const signal = new AbortController().signal;
    const first = await queue.enqueue(job(deliveryId, "dup"), signal);
    const second = await queue.enqueue(job(deliveryId, "dup"), signal);
    expect(second.id).toBe(first.id);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM graphile_worker.jobs
      WHERE task_identifier = 'dup'`;
    expect(row?.n).toBe(1);
    await db.sql`DELETE FROM graphile_worker._private_jobs WHERE task_id IN
      (SELECT id FROM graphile_worker._private_tasks WHERE identifier = 'dup')`;
  });

  it("each change's job reaches a graphile-worker runner exactly once", async () => {
    const received: JsonValue[] = [];
    runner = await run({
      connectionString: db.url,
      logger: quiet,
      noHandleSignals: true,
      concurrency: 4,
      pollInterval: 100,
      taskList: {
        deliver: async (payload) => {
          received.push(payload as JsonValue);
        },
      },
    });
    observers = createObservers({
      databaseUrl: db.url,
      env: {
        OBSERVERS_ADMIN_TOKEN: ADMIN,
        OBSERVERS_MIGRATE: "off",
        OBSERVERS_POLL_INTERVAL_MS: "50",
      },
      logger: silentLogger,
    });
    await observers.start();
    // Through the API: graphile-worker's tasks are not known to the server, so nothing is refused.
    const created = await observers.api.request("/api/observers", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "to-graphile",
        entity_type: "Order",
        event_type: "INSERT",
        actions: [
          {
            type: "job",
            queue: "graphile-worker",
            task: "deliver",
            payload_template: '{"order": {{ after.id }}}',
          },
        ],
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const orders = await db.sql`INSERT INTO orders (status)
      SELECT 'new' FROM generate_series(1, 40) RETURNING id`;
    const expected = orders.map((order) => ({ order: Number(order.id) }));
    await eventually(
      () => (received.length >= expected.length ? true : undefined),
      "every job at graphile-worker",
    );
    await eventually(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM graphile_worker.jobs`;
      return row?.n === 0 ? true : undefined;
    }, "graphile-worker's queue to drain");
    expect(
      [...received].sort(
        (a, b) => Number((a as { order: number }).order) - Number((b as { order: number }).order),
      ),
    ).toEqual(expected);
    const listed = await observers.api.request("/api/jobs?task=deliver&page_size=100", {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const page = (await listed.json()) as {
      total_count: number;
      data: { status: string; queue: string; external_id: string | null }[];
    };
    expect(page.total_count).toBe(expected.length);
    for (const item of page.data) {
      expect(item).toMatchObject({ status: "handed_off", queue: "graphile-worker" });
      expect(item.external_id).toMatch(/^\d+$/);
    }
  });

  it("a tenant's tasks go to graphile-worker under its namespace", async () => {
    const observer = await insertObserver(db.sql, {
      name: "tenant-to-graphile",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", queue: "graphile-worker", task: "report" }],
      fk_customer_org: 7,
    });
    await runner?.stop();
    runner = undefined;
    await db.sql`INSERT INTO orders (org) VALUES (7)`;
    const [row] = await eventually(async () => {
      const rows = await db.sql`SELECT task_identifier FROM graphile_worker.jobs
        WHERE task_identifier LIKE '%report'`;
      return rows.length > 0 ? rows : undefined;
    }, "tenant 7's job");
    expect(row?.task_identifier).toBe("tenant:7:report");
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
  });
});
