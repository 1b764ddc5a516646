/**
 * job_key replacement stays idempotent per delivery (docs/jobs.md, "Once per delivery"): a
 * delivery whose pending job was replaced by a later delivery, and which is then retried (its
 * outcome lost after a crash, so its action runs again), finds the job it enqueued instead of
 * putting its older payload back; and once that job has run, the retry adds no job either.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEnqueueBatcher } from "../../src/jobs/enqueue-batcher.ts";
import type { JsonValue } from "../../src/json.ts";
import type { JobRequest } from "../../src/ports/jobs.ts";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import { enqueueBuiltinJob } from "../../src/store/job-enqueue.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("jobs_key");
});
afterAll(async () => {
  await db?.drop();
});

function request(key: string, payload: JsonValue): JobRequest {
  return {
    task: "ship",
    payload,
    jobKey: key,
    maxAttempts: null,
    deliveryId: crypto.randomUUID(),
    eventId: crypto.randomUUID(),
    observerId: crypto.randomUUID(),
    tenant: null,
  };
}

async function jobsOfKey(key: string) {
  return db.sql<{ id: string; status: string; payload: JsonValue; delivery_id: string }[]>`
    SELECT id::text AS id, status, payload, delivery_id::text AS delivery_id
    FROM core.tb_job WHERE job_key = ${key} ORDER BY pk_job`;
}

describe("job_key replacement", () => {
  it("a retried delivery whose pending job was replaced finds it and keeps the newer payload", async () => {
    const first = request("order-1", { version: 1 });
    const second = request("order-1", { version: 2 });
    const { id } = await enqueueBuiltinJob(db.client, first);
    expect((await enqueueBuiltinJob(db.client, second)).id).toBe(id);
    // The first delivery again (its outcome was lost): the same job, payload unchanged.
    expect((await enqueueBuiltinJob(db.client, first)).id).toBe(id);
    const jobs = await jobsOfKey("order-1");
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ id, status: "pending", payload: { version: 2 } });
    expect(jobs[0]?.delivery_id).toBe(second.deliveryId);
    expect((await enqueueBuiltinJob(db.client, second)).id).toBe(id);
  });

  it("after the replaced job has run, a retry of either delivery adds no job", async () => {
    const first = request("order-2", { version: 1 });
    const second = request("order-2", { version: 2 });
    const { id } = await enqueueBuiltinJob(db.client, first);
    await enqueueBuiltinJob(db.client, second);
    await db.sql`UPDATE core.tb_job SET status = 'succeeded', finished_at = now() WHERE id = ${id}`;
    expect((await enqueueBuiltinJob(db.client, first)).id).toBe(id);
    expect((await enqueueBuiltinJob(db.client, second)).id).toBe(id);
    const third = request("order-2", { version: 3 });
    const next = await enqueueBuiltinJob(db.client, third);
    expect(next.id).not.toBe(id);
    const jobs = await jobsOfKey("order-2");
    expect(jobs.map((job) => [job.status, job.payload])).toEqual([
      ["succeeded", { version: 2 }],
      ["pending", { version: 3 }],
    ]);
  });

  it("a retry racing the replacement of its job (the replacement not yet committed) still finds it", async () => {
    const first = request("order-3", { version: 1 });
    const second = request("order-3", { version: 2 });
    const { id } = await enqueueBuiltinJob(db.client, first);
    // The replacement holds the row while the first delivery's retry starts: the retry's snapshot
    // predates the replacement, so only the row lock it waits for tells it what happened.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const replacing = db.client.transaction(async (tx) => {
      await enqueueBuiltinJob(tx, second);
      await held;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const retry = enqueueBuiltinJob(db.client, first);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await replacing;
    expect((await retry).id).toBe(id);
    const jobs = await jobsOfKey("order-3");
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.payload).toEqual({ version: 2 });
  });
});

describe("batched enqueue", () => {
  /** The batcher over the test database, counting its statements and commits rung. */
  function batcher() {
    const counts = { statements: 0, rings: 0 };
    const sql: SqlExecutor = {
      query: (text, params) => {
        counts.statements++;
        return db.client.query(text, params);
      },
    };
    const enqueue = createEnqueueBatcher(sql, () => {
      counts.rings++;
    });
    return { enqueue, counts };
  }

  it("concurrent enqueues share statements; a key's jobs keep their order; ids per delivery", async () => {
    const { enqueue, counts } = batcher();
    const plain = Array.from({ length: 20 }, (_, n) => request("unused", { n }));
    for (const job of plain) job.jobKey = null;
    const keyed = [1, 2, 3].map((version) => request("batch-key", { version }));
    const results = await Promise.all([...plain, ...keyed].map((job) => enqueue(job)));
    const plainIds = results.slice(0, 20).map((r) => r.id);
    expect(new Set(plainIds).size).toBe(20);
    const keyedIds = results.slice(20).map((r) => r.id);
    expect(new Set(keyedIds).size).toBe(1);
    // One statement for the first job, then the rest in as few as their keys allow.
    expect(counts.statements).toBeLessThan(10);
    expect(counts.rings).toBe(counts.statements);
    const jobs = await jobsOfKey("batch-key");
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ payload: { version: 3 }, delivery_id: keyed[2]?.deliveryId });
    // Every delivery again, at once (all outcomes lost): the same ids, nothing added or changed.
    const again = await Promise.all([...plain, ...keyed].map((job) => enqueue(job)));
    expect(again.map((r) => r.id)).toEqual(results.map((r) => r.id));
    const [count] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_job WHERE delivery_id = ANY (${[
        ...plain,
        ...keyed,
      ].map((job) => job.deliveryId)}::uuid[]) OR job_key = 'batch-key'`;
    expect(count?.n).toBe(21);
    expect((await jobsOfKey("batch-key"))[0]?.payload).toEqual({ version: 3 });
  });

  it("a row the database refuses fails only its own enqueue", async () => {
    const { enqueue } = batcher();
    const good = [1, 2, 3].map((n) => ({ ...request("unused", { n }), jobKey: null }));
    const bad = { ...request("unused", { bad: true }), jobKey: null, tenant: "not-a-number" };
    const first = enqueue({ ...request("unused", {}), jobKey: null });
    const settled = await Promise.allSettled([bad, ...good].map((job) => enqueue(job)));
    await first;
    expect(settled.map((s) => s.status)).toEqual([
      "rejected",
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
    const [row] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM core.tb_job
      WHERE delivery_id = ANY (${good.map((job) => job.deliveryId)}::uuid[])`;
    expect(row?.n).toBe(3);
  });
});
