/**
 * job_key replacement stays idempotent per delivery (docs/jobs.md, "Once per delivery"): a
 * delivery whose pending job was replaced by a later delivery, and which is then retried (its
 * outcome lost after a crash, so its action runs again), finds the job it enqueued instead of
 * putting its older payload back; and once that job has run, the retry adds no job either.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonValue } from "../../src/json.ts";
import type { JobRequest } from "../../src/ports/jobs.ts";
import { enqueueBuiltinJob } from "../../src/store/jobs.ts";
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
