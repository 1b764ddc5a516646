/**
 * The job runner's prefetch (src/jobs/runner.ts) over real PostgreSQL: while handlers end fast it
 * claims jobs beyond its free slots and holds them, leased, in a buffer. A buffer held by a process
 * that dies comes back once the leases run out and runs elsewhere; shutdown gives buffered jobs
 * back at once, their attempt not counted; jobs left buffered for a heartbeat (the handlers became
 * slow) go back too. The runner's clock is frozen, so the prefetch is the number of handlers that
 * ended since the last claim (rate × round trip with both at their 1 ms floor): deterministic.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { createJobRunner, type JobRunner } from "../../src/jobs/runner.ts";
import { type Clock, systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import {
  claimJobs,
  claimKey,
  finishSucceededJobs,
  releaseJobs,
  renewJobLeases,
} from "../../src/store/job-leases.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually } from "../support/observers.ts";

const LEASE_MS = 1_000;
const JOBS = 12;
let db: TestDatabase;
let now = 1_000_000;
const frozen: Clock = { ...systemClock, now: () => now };

beforeAll(async () => {
  db = await createTestDatabase("jobs_prefetch");
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.sql`TRUNCATE core.tb_job, core.tb_job_worker`;
  await db.sql`INSERT INTO core.tb_job (task, payload)
    SELECT 'batch', jsonb_build_object('n', n) FROM generate_series(1, ${JOBS}::int) AS n`;
});

interface Rows {
  succeeded: number;
  pending: number;
  running: number;
  attempts: Record<string, number>;
}

async function rows(owner?: string): Promise<Rows> {
  // A lease is `<owner>/<claim uuid>`.
  const all = await db.sql<{ n: number; status: string; attempts: number; owner: string }[]>`
    SELECT (payload->>'n')::int AS n, status, attempts, split_part(lease_owner, '/', 1) AS owner
    FROM core.tb_job`;
  const mine = all.filter((row) => owner === undefined || row.owner === owner);
  return {
    succeeded: all.filter((row) => row.status === "succeeded").length,
    pending: all.filter((row) => row.status === "pending").length,
    running: mine.filter((row) => row.status === "running").length,
    attempts: Object.fromEntries(all.map((row) => [String(row.n), row.attempts])),
  };
}

/**
 * A runner (concurrency 2) whose first 4 handler calls end at once and whose later ones wait for
 * their signal or `go()`: it ends up with 2 handlers waiting and 2 jobs buffered, 4 jobs leased.
 */
async function stalledRunner(
  owner: string,
  sql: SqlClient,
): Promise<{ runner: JobRunner; calls: number[]; go: () => void }> {
  const calls: number[] = [];
  let go = () => {};
  const gate = new Promise<void>((resolve) => {
    go = resolve;
  });
  const runner = createJobRunner({
    sql,
    clock: frozen,
    logger: silentLogger,
    owner,
    leaseMs: LEASE_MS,
    pollIntervalMs: 50,
  });
  runner.register(
    "batch",
    (payload, { signal }) => {
      calls.push((payload as { n: number }).n);
      if (calls.length <= 4) return;
      return new Promise((resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
        void gate.then(resolve);
      });
    },
    { concurrency: 2 },
  );
  await runner.start();
  await eventually(async () => {
    const state = await rows(owner);
    return state.succeeded === 4 && state.running === 4 && calls.length === 6 ? true : undefined;
  }, "2 handlers waiting and 2 jobs buffered");
  expect(runner.running).toBe(2);
  return { runner, calls, go };
}

describe("prefetched jobs", () => {
  it("a buffered batch held by a process that died comes back once its leases run out", async () => {
    const dying = createPostgresClient(db.url, { max: 2 });
    const { runner: dead, calls: deadCalls } = await stalledRunner("dead", dying);
    const held = (
      await db.sql<{ n: number }[]>`SELECT (payload->>'n')::int AS n FROM core.tb_job
      WHERE lease_owner LIKE 'dead/%' AND status = 'running'`
    ).map((row) => row.n);
    expect(held).toHaveLength(4);
    // The process "dies": its connections go, so nothing of it renews or writes any more.
    await dying.close();

    const ranElsewhere: number[] = [];
    const survivor = createJobRunner({
      sql: db.client,
      clock: systemClock,
      logger: silentLogger,
      owner: "survivor",
      leaseMs: LEASE_MS,
      pollIntervalMs: 50,
    });
    survivor.register("batch", (payload) => {
      ranElsewhere.push((payload as { n: number }).n);
    });
    await survivor.start();
    const state = await eventually(async () => {
      const current = await rows();
      return current.succeeded === JOBS ? current : undefined;
    }, "every job to succeed");
    await survivor.stop(1_000);
    await dead.stop(0);

    // Each job ran to success once: the dead process's 4 first ones, the survivor's all others.
    expect(
      deadCalls
        .slice(0, 4)
        .concat(ranElsewhere)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: JOBS }, (_, i) => i + 1));
    // The lost jobs' attempts count, as for any job of a process that died; the others ran once.
    for (const n of held) expect(state.attempts[String(n)]).toBe(2);
    expect(Object.values(state.attempts).filter((attempts) => attempts === 1)).toHaveLength(
      JOBS - held.length,
    );
  });

  it("shutdown gives buffered and interrupted jobs back, their attempts not counted", async () => {
    const { runner, calls } = await stalledRunner("stopping", db.client);
    await runner.stop(100);
    const state = await rows();
    expect(state).toMatchObject({ succeeded: 4, pending: JOBS - 4, running: 0 });
    expect(Object.values(state.attempts).filter((attempts) => attempts === 0)).toHaveLength(
      JOBS - 4,
    );
    // The buffered jobs never reached a handler.
    expect(calls).toHaveLength(6);
  });

  it("jobs buffered for a heartbeat go back to the queue (the handlers turned slow)", async () => {
    const { runner, calls } = await stalledRunner("slow", db.client);
    now += LEASE_MS;
    const state = await eventually(async () => {
      const current = await rows("slow");
      return current.running === 2 ? current : undefined;
    }, "the 2 buffered jobs to be released at the next heartbeat");
    expect(state.pending).toBe(JOBS - 6);
    expect(Object.values(state.attempts).filter((attempts) => attempts === 0)).toHaveLength(
      JOBS - 6,
    );
    expect(calls).toHaveLength(6);
    await runner.stop(0);
  });

  it("a buffered job cancelled before it starts is dropped at the next renewal and never runs", async () => {
    const { runner, calls, go } = await stalledRunner("cancelling", db.client);
    const [cancelled] = await db.sql<{ n: number }[]>`
      UPDATE core.tb_job SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL
      WHERE pk_job = (SELECT pk_job FROM core.tb_job WHERE lease_owner LIKE 'cancelling/%'
        AND status = 'running' AND NOT ((payload->>'n')::int = ANY (${calls}::int[])) LIMIT 1)
      RETURNING (payload->>'n')::int AS n`;
    expect(cancelled).toBeDefined();
    // Two renewals of the running jobs' leases: the first one's answer has been handled.
    const leases = async () =>
      (
        await db.sql<{ lease: Date }[]>`SELECT max(lease_expires_at) AS lease FROM core.tb_job
          WHERE lease_owner LIKE 'cancelling/%'`
      )[0]?.lease.getTime() ?? 0;
    let renewals = 0;
    let last = await leases();
    await eventually(async () => {
      const current = await leases();
      if (current > last) renewals++;
      last = current;
      return renewals >= 2 ? true : undefined;
    }, "two lease renewals");
    go();
    const state = await eventually(async () => {
      const current = await rows();
      return current.succeeded === JOBS - 1 ? current : undefined;
    }, "every other job to succeed");
    expect(calls).not.toContain(cancelled?.n);
    expect(calls).toHaveLength(JOBS - 1);
    expect(state.attempts[String(cancelled?.n)]).toBe(1);
    await runner.stop(1_000);
  });
});

describe("a claim's lease", () => {
  it("is shared by the jobs one statement claims; renewals and writes match (job, lease) pairs", async () => {
    const first = await claimJobs(db.client, "same", "batch", 3, LEASE_MS);
    expect(first).toHaveLength(3);
    const [x, y, z] = first as [(typeof first)[0], (typeof first)[0], (typeof first)[0]];
    expect(new Set(first.map((job) => job.lease)).size).toBe(1);
    expect(x.lease).toMatch(/^same\/[0-9a-f-]{36}$/);
    // x is cancelled and retried while its first run goes on, then claimed again by the same
    // process: a new lease, while y and z still hold the first one.
    await db.sql`UPDATE core.tb_job SET status = 'cancelled', lease_owner = NULL WHERE pk_job = ${x.pk}`;
    await db.sql`UPDATE core.tb_job SET status = 'pending', attempts = 0, run_at = now() - interval '1 hour'
      WHERE pk_job = ${x.pk}`;
    const [again] = await claimJobs(db.client, "same", "batch", 1, LEASE_MS);
    if (!again) throw new Error("x was not claimed again");
    expect(again).toMatchObject({ pk: x.pk, attempt: 1 });
    expect(again.lease).not.toBe(x.lease);

    // The first run of x is not renewed, though its pk and its lease are both among the renewed.
    const renewed = await renewJobLeases(db.client, [x, y, z, again], LEASE_MS);
    expect([...renewed].sort()).toEqual([claimKey(y), claimKey(z), claimKey(again)].sort());
    // Nor does it write x's success or give x back.
    await finishSucceededJobs(db.client, [x, y]);
    await releaseJobs(db.client, [x, z]);
    const states = await db.sql<{ pk: string; status: string; lease_owner: string | null }[]>`
      SELECT pk_job::text AS pk, status, lease_owner FROM core.tb_job
      WHERE pk_job IN (${x.pk}, ${y.pk}, ${z.pk}) ORDER BY pk_job`;
    expect(
      Object.fromEntries(states.map((row) => [row.pk, [row.status, row.lease_owner]])),
    ).toEqual({
      [x.pk]: ["running", again.lease],
      [y.pk]: ["succeeded", null],
      [z.pk]: ["pending", null],
    });
  });
});
