import { parseJson } from "../events/parse-json.ts";
import type { JsonValue } from "../json.ts";
import type { SqlExecutor } from "../ports/sql.ts";

/** `last_error` is cut to this many characters. */
const MAX_ERROR_LENGTH = 2_000;

/**
 * One claim of a job: its pk and the claim's lease, `<owner>/<uuid>`, new at every claim statement
 * (the jobs one statement claims share it; drawn by `claimJobs`). Renewals, outcomes and releases
 * match both, so a job cancelled and retried (claimed again, maybe by the same process, maybe
 * into the same buffer) is never mistaken for the earlier claim whose handler is still winding
 * down.
 */
export interface JobClaim {
  pk: string;
  lease: string;
}

/** A claim's identity in a set or map (a pk alone may be claimed twice by one process). */
export const claimKey = (claim: JobClaim): string => `${claim.pk} ${claim.lease}`;

/** The `(pk, lease)` pairs of `claims` as `c(pk, lease)`, from parameters `$1` (pks) and `$2` (leases). */
const CLAIMS = "unnest($1::text[]::bigint[], $2::text[]) AS c(pk, lease)";
const claimParams = (claims: readonly JobClaim[]): [string[], string[]] => [
  claims.map((claim) => claim.pk),
  claims.map((claim) => claim.lease),
];

/** A job claimed by a runner. */
export interface ClaimedJob extends JobClaim {
  id: string;
  task: string;
  payload: JsonValue;
  /** 1-based: this attempt's number. */
  attempt: number;
  maxAttempts: number | null;
  observerId: string | null;
  eventId: string | null;
  deliveryId: string | null;
  tenant: string | null;
}

/**
 * Claims up to `limit` due pending jobs of `task` for `owner` under a lease of `leaseMs` (jobs of a
 * lost process come back as pending through `recoverLostJobs`). SKIP LOCKED: runners never wait
 * for each other. The claim's lease, `<owner>/<uuid>`, is drawn here, so the statement is the
 * same as with one lease per process (nothing more to compute or return per row).
 */
export async function claimJobs(
  sql: SqlExecutor,
  owner: string,
  task: string,
  limit: number,
  leaseMs: number,
): Promise<ClaimedJob[]> {
  const lease = `${owner}/${crypto.randomUUID()}`;
  const rows = await sql.query<{
    pk: string;
    id: string;
    task: string;
    payload: string;
    attempts: number;
    max_attempts: number | null;
    observer_id: string | null;
    event_id: string | null;
    delivery_id: string | null;
    tenant: string | null;
  }>(
    `WITH picked AS (
       SELECT pk_job FROM core.tb_job
       WHERE queue = 'builtin' AND task = $1 AND status = 'pending' AND run_at <= now()
       ORDER BY run_at, pk_job
       LIMIT $2
       FOR UPDATE SKIP LOCKED)
     UPDATE core.tb_job j SET status = 'running', attempts = j.attempts + 1, lease_owner = $3,
       lease_expires_at = now() + $4::int * interval '1 millisecond',
       started_at = now(), updated_at = now()
     FROM picked WHERE j.pk_job = picked.pk_job
     RETURNING j.pk_job::text AS pk, j.id::text AS id, j.task, j.payload::text AS payload,
       j.attempts, j.max_attempts,
       (SELECT o.id::text FROM core.tb_observer o WHERE o.pk_observer = j.fk_observer) AS observer_id,
       j.event_id::text AS event_id, j.delivery_id::text AS delivery_id,
       j.fk_customer_org::text AS tenant`,
    [task, limit, lease, leaseMs],
  );
  return rows.map((row) => ({
    pk: row.pk,
    lease,
    id: row.id,
    task: row.task,
    payload: parseJson(row.payload),
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    observerId: row.observer_id,
    eventId: row.event_id,
    deliveryId: row.delivery_id,
    tenant: row.tenant,
  }));
}

/**
 * Extends the leases of claims (running or buffered jobs), in one statement; answers the claims
 * still held, by `claimKey`. A claim missing from the answer was cancelled (and maybe retried: a
 * new claim), or its lease ran out and another runner took it.
 */
export async function renewJobLeases(
  sql: SqlExecutor,
  claims: readonly JobClaim[],
  leaseMs: number,
): Promise<Set<string>> {
  const rows = await sql.query<JobClaim>(
    `UPDATE core.tb_job j SET lease_expires_at = now() + $3::int * interval '1 millisecond'
     FROM ${CLAIMS}
     WHERE j.pk_job = c.pk AND j.lease_owner = c.lease AND j.status = 'running'
     RETURNING j.pk_job::text AS pk, j.lease_owner AS lease`,
    [...claimParams(claims), leaseMs],
  );
  return new Set(rows.map(claimKey));
}

/** How an attempt ended. */
export type JobAttemptResult =
  | { kind: "succeeded" }
  /** Failed: try again at `retryInMs`, or null when it was the last attempt. */
  | { kind: "failed"; error: string; retryInMs: number | null }
  /** Interrupted by shutdown: back to pending at once, the attempt not counted. */
  | { kind: "released" };

/** Records an attempt's end, if its claim still holds the job (a cancel in between wins). */
export async function finishJob(
  sql: SqlExecutor,
  claim: JobClaim,
  result: JobAttemptResult,
): Promise<void> {
  const { pk, lease } = claim;
  const held = "WHERE pk_job = $1::bigint AND lease_owner = $2 AND status = 'running'";
  const free = "lease_owner = NULL, lease_expires_at = NULL, updated_at = now()";
  if (result.kind === "succeeded") {
    await sql.query(
      `UPDATE core.tb_job SET status = 'succeeded', finished_at = now(), ${free} ${held}`,
      [pk, lease],
    );
  } else if (result.kind === "released") {
    await releaseJobs(sql, [{ pk, lease }]);
  } else if (result.retryInMs === null) {
    await sql.query(
      `UPDATE core.tb_job SET status = 'failed', last_error = $3, finished_at = now(), ${free} ${held}`,
      [pk, lease, result.error.slice(0, MAX_ERROR_LENGTH)],
    );
  } else {
    await sql.query(
      `UPDATE core.tb_job SET status = 'pending', last_error = $3,
         run_at = now() + $4::int * interval '1 millisecond', ${free} ${held}`,
      [pk, lease, result.error.slice(0, MAX_ERROR_LENGTH), Math.round(result.retryInMs)],
    );
  }
}

/** Records many successful attempts at once (the runner batches them), where their claims still hold. */
export async function finishSucceededJobs(
  sql: SqlExecutor,
  claims: readonly JobClaim[],
): Promise<void> {
  await sql.query(
    `UPDATE core.tb_job j SET status = 'succeeded', finished_at = now(), lease_owner = NULL,
       lease_expires_at = NULL, updated_at = now()
     FROM ${CLAIMS}
     WHERE j.pk_job = c.pk AND j.lease_owner = c.lease AND j.status = 'running'`,
    claimParams(claims),
  );
}

/**
 * Gives claimed jobs back as pending, where their claims still hold, the attempt not counted: jobs
 * interrupted by shutdown, and claimed jobs that never started (the runner's buffer). Their
 * `run_at` is kept, so they keep their place in the queue.
 */
export async function releaseJobs(sql: SqlExecutor, claims: readonly JobClaim[]): Promise<void> {
  await sql.query(
    `UPDATE core.tb_job j SET status = 'pending', attempts = GREATEST(j.attempts - 1, 0),
       lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
     FROM ${CLAIMS}
     WHERE j.pk_job = c.pk AND j.lease_owner = c.lease AND j.status = 'running'`,
    claimParams(claims),
  );
}

/**
 * Running jobs of `task` whose lease ran out (their process died): failed when that was their last
 * attempt, else pending again at once (the lost attempt counts). `defaultMaxAttempts` stands for a
 * job without its own.
 */
export async function recoverLostJobs(
  sql: SqlExecutor,
  task: string,
  defaultMaxAttempts: number,
): Promise<number> {
  const rows = await sql.query(
    `UPDATE core.tb_job SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
       status = CASE WHEN attempts >= COALESCE(max_attempts, $2::int) THEN 'failed' ELSE 'pending' END,
       finished_at = CASE WHEN attempts >= COALESCE(max_attempts, $2::int) THEN now() END,
       run_at = now(),
       last_error = 'its process stopped during attempt ' || attempts || ' (lease expired)'
     WHERE queue = 'builtin' AND task = $1 AND status = 'running' AND lease_expires_at < now()
     RETURNING pk_job`,
    [task, defaultMaxAttempts],
  );
  return rows.length;
}

/** Says which tasks a process handles, until `ttlMs` from now (renewed by its heartbeat). */
export async function announceWorker(
  sql: SqlExecutor,
  workerId: string,
  tasks: readonly string[],
  ttlMs: number,
): Promise<void> {
  await sql.query(
    `INSERT INTO core.tb_job_worker (worker_id, tasks, expires_at)
     VALUES ($1, $2::text[], now() + $3::int * interval '1 millisecond')
     ON CONFLICT (worker_id) DO UPDATE SET tasks = EXCLUDED.tasks,
       expires_at = EXCLUDED.expires_at, updated_at = now()`,
    [workerId, tasks, ttlMs],
  );
  // Rows of processes that died long ago: nobody needs them.
  await sql.query("DELETE FROM core.tb_job_worker WHERE expires_at < now() - interval '1 day'");
}

/** A stopping process's tasks are no longer handled by it. */
export async function removeWorker(sql: SqlExecutor, workerId: string): Promise<void> {
  await sql.query("DELETE FROM core.tb_job_worker WHERE worker_id = $1", [workerId]);
}

/** Every task some live process has registered. */
export async function liveTasks(sql: SqlExecutor): Promise<Set<string>> {
  const rows = await sql.query<{ task: string }>(
    "SELECT DISTINCT unnest(tasks) AS task FROM core.tb_job_worker WHERE expires_at > now()",
  );
  return new Set(rows.map((row) => row.task));
}
