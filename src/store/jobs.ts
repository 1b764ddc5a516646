/**
 * Jobs in PostgreSQL (migration 0011, docs/jobs.md): enqueueing (`builtin`, and the record of a
 * `graphile-worker` hand-off), what the runner does (claim under a lease, renew, finish), which
 * processes handle which tasks, and what the API reads and changes.
 */
import { ConflictError, NotFoundError } from "../errors.ts";
import { parseJson } from "../events/parse-json.ts";
import type { JsonValue } from "../json.ts";
import { stringifyJson } from "../json.ts";
import type { JobRequest } from "../ports/jobs.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import {
  isoColumn,
  isUuid,
  type Page,
  type PageRequest,
  pageBounds,
  sqlState,
  type TenantScope,
  tenantCondition,
  toPage,
  UNIQUE_VIOLATION,
} from "./common.ts";
import { arrayColumn } from "./pg-array.ts";

export const JOB_STATUSES = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "handed_off",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** `last_error` is cut to this many characters. */
const MAX_ERROR_LENGTH = 2_000;

/** A job as the API returns it. */
export interface Job {
  id: string;
  queue: "builtin" | "graphile-worker";
  task: string;
  status: JobStatus;
  /** Why a pending job is not running: no live process has registered its task. */
  waiting_reason: string | null;
  payload: JsonValue;
  job_key: string | null;
  attempts: number;
  max_attempts: number | null;
  run_at: string;
  last_error: string | null;
  /** graphile-worker's job id, for `handed_off` jobs. */
  external_id: string | null;
  observer_id: string | null;
  event_id: string | null;
  delivery_id: string | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const COLUMNS = `j.id::text AS id, j.queue, j.task, j.status,
  CASE WHEN j.status = 'pending' AND j.queue = 'builtin' AND NOT EXISTS (
    SELECT 1 FROM core.tb_job_worker w WHERE w.expires_at > now() AND j.task = ANY (w.tasks))
  THEN 'no live process has registered task ' || j.task END AS waiting_reason,
  j.payload::text AS payload, j.job_key, j.attempts, j.max_attempts, ${isoColumn("j.run_at")},
  j.last_error, j.external_id, o.id::text AS observer_id, j.event_id::text AS event_id,
  j.delivery_id::text AS delivery_id, j.lease_owner, ${isoColumn("j.lease_expires_at")},
  ${isoColumn("j.created_at")}, ${isoColumn("j.updated_at")}, ${isoColumn("j.started_at")},
  ${isoColumn("j.finished_at")}`;
const FROM = "FROM core.tb_job j LEFT JOIN core.tb_observer o ON o.pk_observer = j.fk_observer";

type JobRow = Omit<Job, "payload"> & { payload: string };
const toJob = (row: JobRow): Job => ({ ...row, payload: parseJson(row.payload) });

/** The row values of a job an action enqueues ($1..$9). */
function jobParams(job: JobRequest): unknown[] {
  return [
    job.task,
    stringifyJson(job.payload),
    job.jobKey,
    job.maxAttempts,
    job.observerId,
    job.tenant,
    job.eventId,
    job.deliveryId,
  ];
}
const INSERT_COLUMNS =
  "queue, task, payload, job_key, max_attempts, fk_observer, fk_customer_org, event_id, delivery_id";
const INSERT_VALUES = `$1, $2::text::jsonb, $3, $4::int,
  (SELECT pk_observer FROM core.tb_observer WHERE id = $5::uuid), $6::text::bigint, $7::uuid, $8::uuid`;

/** The job a delivery enqueued: its own, or one whose job_key replacement overwrote it. */
const JOB_OF_DELIVERY = `SELECT id FROM core.tb_job WHERE delivery_id = $1::uuid
  UNION ALL
  SELECT id FROM core.tb_job
  WHERE replaced_delivery_ids <> '{}' AND replaced_delivery_ids @> ARRAY[$1::uuid]
  LIMIT 1`;

/**
 * A job_key replacement of a pending job (`ON CONFLICT ... DO UPDATE SET` this): the new
 * delivery's task, payload and limits, attempts reset, run now; the replaced delivery kept in
 * `replaced_delivery_ids`. Skipped when the delivery is the job's already (the same delivery
 * enqueued twice at once, its first run's lease lost): the caller then finds the job by delivery.
 */
const REPLACE_PENDING = `task = EXCLUDED.task, payload = EXCLUDED.payload,
  max_attempts = EXCLUDED.max_attempts, fk_observer = EXCLUDED.fk_observer,
  event_id = EXCLUDED.event_id, delivery_id = EXCLUDED.delivery_id,
  replaced_delivery_ids = CASE WHEN tb_job.delivery_id IS NULL THEN tb_job.replaced_delivery_ids
    ELSE tb_job.replaced_delivery_ids || tb_job.delivery_id END,
  attempts = 0, run_at = now(), last_error = NULL, updated_at = now()
  WHERE tb_job.delivery_id IS DISTINCT FROM EXCLUDED.delivery_id
    AND NOT tb_job.replaced_delivery_ids @> ARRAY[EXCLUDED.delivery_id]`;

/**
 * Enqueues a builtin job, once per delivery: a second call for the same delivery (a retry after a
 * lost reply) finds the first job. With a job key, a pending job of the same tenant and key is
 * replaced (task, payload, max_attempts, run_at now, attempts 0), as graphile-worker does; the
 * delivery it replaces is kept in `replaced_delivery_ids`, so a retry of that delivery finds the
 * job too and never puts its older payload back.
 */
export async function enqueueBuiltinJob(
  sql: SqlExecutor,
  job: JobRequest,
): Promise<{ id: string }> {
  const rows = await sql.query<{ id: string }>(
    `WITH existing AS (${JOB_OF_DELIVERY.replaceAll("$1", "$8")}),
     inserted AS (
       INSERT INTO core.tb_job (${INSERT_COLUMNS})
       SELECT 'builtin', ${INSERT_VALUES}
       WHERE NOT EXISTS (SELECT 1 FROM existing)
       ON CONFLICT ((COALESCE(fk_customer_org, -1)), job_key)
         WHERE job_key IS NOT NULL AND status = 'pending'
       DO UPDATE SET ${REPLACE_PENDING}
       RETURNING id)
     SELECT id::text AS id FROM existing UNION ALL SELECT id::text FROM inserted`,
    jobParams(job),
  );
  const row =
    rows[0] ??
    (
      await sql.query<{ id: string }>(`SELECT id::text AS id FROM (${JOB_OF_DELIVERY}) AS j`, [
        job.deliveryId,
      ])
    )[0];
  if (!row) throw new Error("enqueue returned no job");
  return row;
}

/**
 * `enqueueBuiltinJob` for several deliveries in one statement (one commit), each row with the
 * same rule: its delivery's job found (own or replaced), else inserted, else a pending job of its
 * key replaced. Callers put at most one job per (tenant, key) in a batch (PostgreSQL updates a row
 * once per statement). Answers each delivery's job id, by delivery id.
 */
export async function enqueueBuiltinJobs(
  sql: SqlExecutor,
  jobs: readonly JobRequest[],
): Promise<Map<string, string>> {
  const rows = await sql.query<{ delivery_id: string; id: string }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text::text[], $2::text::text[], $3::text::text[],
         $4::text::int[], $5::text::uuid[], $6::text::bigint[], $7::text::uuid[],
         $8::text::uuid[])
         AS i(task, payload, job_key, max_attempts, observer_id, tenant, event_id, delivery_id)),
     replaced AS (
       SELECT id, replaced_delivery_ids FROM core.tb_job
       WHERE replaced_delivery_ids <> '{}' AND replaced_delivery_ids && $8::text::uuid[]),
     existing AS (
       SELECT i.delivery_id, j.id FROM input i JOIN core.tb_job j ON j.delivery_id = i.delivery_id
       UNION ALL
       SELECT i.delivery_id, r.id FROM input i
       JOIN replaced r ON i.delivery_id = ANY (r.replaced_delivery_ids)),
     inserted AS (
       INSERT INTO core.tb_job (${INSERT_COLUMNS})
       SELECT 'builtin', i.task, i.payload::jsonb, i.job_key, i.max_attempts,
         (SELECT pk_observer FROM core.tb_observer WHERE id = i.observer_id), i.tenant,
         i.event_id, i.delivery_id
       FROM input i WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.delivery_id = i.delivery_id)
       ON CONFLICT ((COALESCE(fk_customer_org, -1)), job_key)
         WHERE job_key IS NOT NULL AND status = 'pending'
       DO UPDATE SET ${REPLACE_PENDING}
       RETURNING delivery_id, id)
     SELECT delivery_id::text AS delivery_id, id::text AS id FROM existing
     UNION ALL SELECT delivery_id::text, id::text FROM inserted`,
    [
      arrayColumn(jobs, (job) => job.task),
      arrayColumn(jobs, (job) => stringifyJson(job.payload)),
      arrayColumn(jobs, (job) => job.jobKey),
      arrayColumn(jobs, (job) => job.maxAttempts),
      arrayColumn(jobs, (job) => job.observerId),
      arrayColumn(jobs, (job) => job.tenant),
      arrayColumn(jobs, (job) => job.eventId),
      arrayColumn(jobs, (job) => job.deliveryId),
    ],
  );
  const ids = new Map<string, string>();
  for (const row of rows) ids.set(row.delivery_id, row.id);
  // A delivery enqueued twice at once (its replacement skipped, see REPLACE_PENDING): look it up.
  for (const job of jobs) {
    if (ids.has(job.deliveryId)) continue;
    const [found] = await sql.query<{ id: string }>(
      `SELECT id::text AS id FROM (${JOB_OF_DELIVERY}) AS j`,
      [job.deliveryId],
    );
    if (!found) throw new Error("enqueue returned no job");
    ids.set(job.deliveryId, found.id);
  }
  return ids;
}

/**
 * Records a graphile-worker hand-off for a delivery, unless one exists: the pk of the new row
 * (the caller adds the job in the same transaction), or the existing job's id.
 */
export async function recordHandOff(
  tx: SqlExecutor,
  job: JobRequest,
): Promise<{ created: true; pk: string; id: string } | { created: false; id: string }> {
  const inserted = await tx.query<{ pk: string; id: string }>(
    `INSERT INTO core.tb_job (${INSERT_COLUMNS}, status, finished_at)
     VALUES ('graphile-worker', ${INSERT_VALUES}, 'handed_off', now())
     ON CONFLICT (delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
     RETURNING pk_job::text AS pk, id::text AS id`,
    jobParams(job),
  );
  if (inserted[0]) return { created: true, ...inserted[0] };
  const existing = await tx.query<{ id: string }>(
    "SELECT id::text AS id FROM core.tb_job WHERE delivery_id = $1::uuid",
    [job.deliveryId],
  );
  if (!existing[0]) throw new Error("hand-off record vanished");
  return { created: false, id: existing[0].id };
}

/** Stores graphile-worker's job id on the hand-off record. */
export async function setExternalId(
  tx: SqlExecutor,
  pk: string,
  externalId: string,
): Promise<void> {
  await tx.query("UPDATE core.tb_job SET external_id = $2 WHERE pk_job = $1::bigint", [
    pk,
    externalId,
  ]);
}

/**
 * One claim of a job: its pk and the claim's lease, `<owner>/<uuid>`, new at every claim statement
 * (the jobs one statement claims share it; drawn by `claimJobs`). Renewals, outcomes and releases match both, so a job
 * cancelled and retried (claimed again, maybe by the same process, maybe into the same buffer) is
 * never mistaken for the earlier claim whose handler is still winding down.
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

/** Which jobs a list or a bulk cancel concerns. */
export interface JobFilter extends TenantScope {
  task?: string;
  status?: JobStatus;
  /** The observer's public id. */
  observerId?: string;
}

/** `$1` tenant, then the filter's values. */
function filterSql(filter: JobFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [filter.tenant ?? null];
  const conditions = [tenantCondition("j.fk_customer_org", 1)];
  if (filter.task !== undefined) {
    params.push(filter.task);
    conditions.push(`j.task = $${params.length}`);
  }
  if (filter.status !== undefined) {
    params.push(filter.status);
    conditions.push(`j.status = $${params.length}`);
  }
  if (filter.observerId !== undefined) {
    params.push(isUuid(filter.observerId) ? filter.observerId : null);
    conditions.push(`o.id = $${params.length}::uuid`);
  }
  return { where: `WHERE ${conditions.join(" AND ")}`, params };
}

/** Jobs, newest first. */
export async function listJobs(
  sql: SqlExecutor,
  options: JobFilter & PageRequest,
): Promise<Page<Job>> {
  const { page, limit, offset } = pageBounds(options);
  const { where, params } = filterSql(options);
  const [rows, count] = await Promise.all([
    sql.query<JobRow>(
      `SELECT ${COLUMNS} ${FROM} ${where} ORDER BY j.created_at DESC, j.pk_job DESC
       LIMIT ${limit} OFFSET ${offset}`,
      params,
    ),
    sql.query<{ n: string }>(`SELECT count(*)::text AS n ${FROM} ${where}`, params),
  ]);
  return toPage(rows.map(toJob), page, limit, Number(count[0]?.n ?? 0));
}

/** One job; 404 for an unknown id or another tenant's. */
export async function getJob(sql: SqlExecutor, id: string, scope: TenantScope): Promise<Job> {
  if (!isUuid(id)) throw new NotFoundError(`job ${id} not found`);
  const rows = await sql.query<JobRow>(
    `SELECT ${COLUMNS} ${FROM} WHERE j.id = $2::uuid AND ${tenantCondition("j.fk_customer_org", 1)}`,
    [scope.tenant ?? null, id],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`job ${id} not found`);
  return toJob(row);
}

const CANCELLABLE = "j.queue = 'builtin' AND j.status IN ('pending', 'running')";

/**
 * Cancels a pending or running builtin job (a running handler's signal fires at its next lease
 * renewal). 409 for a job that has ended or was handed to graphile-worker.
 */
export async function cancelJob(sql: SqlExecutor, id: string, scope: TenantScope): Promise<Job> {
  const job = await getJob(sql, id, scope);
  const rows = await sql.query(
    `UPDATE core.tb_job j SET status = 'cancelled', finished_at = now(), lease_owner = NULL,
       lease_expires_at = NULL, updated_at = now()
     WHERE j.id = $1::uuid AND ${CANCELLABLE} RETURNING j.pk_job`,
    [id],
  );
  if (rows.length === 0) {
    throw new ConflictError(
      job.queue === "builtin"
        ? `job ${id} is ${job.status}: only pending or running jobs can be cancelled`
        : `job ${id} was handed to ${job.queue}: cancel it there`,
    );
  }
  return getJob(sql, id, scope);
}

/** Cancels every pending or running builtin job the filter matches; answers how many. */
export async function cancelJobs(sql: SqlExecutor, filter: JobFilter): Promise<number> {
  const { where, params } = filterSql(filter);
  const rows = await sql.query(
    `UPDATE core.tb_job j SET status = 'cancelled', finished_at = now(), lease_owner = NULL,
       lease_expires_at = NULL, updated_at = now()
     WHERE j.pk_job IN (SELECT j.pk_job ${FROM} ${where} AND ${CANCELLABLE})
     RETURNING j.pk_job`,
    params,
  );
  return rows.length;
}

/**
 * Runs a failed or cancelled builtin job again, now, with its attempts reset (its last error is
 * kept until the next attempt ends). 409 for any other state.
 */
export async function retryJob(sql: SqlExecutor, id: string, scope: TenantScope): Promise<Job> {
  const job = await getJob(sql, id, scope);
  const keyTaken = () =>
    new ConflictError(`job ${id} has key ${job.job_key} and another job with it is pending`);
  const rows = await sql
    .query(
      `UPDATE core.tb_job j SET status = 'pending', attempts = 0, run_at = now(),
       finished_at = NULL, updated_at = now()
     WHERE j.id = $1::uuid AND j.queue = 'builtin' AND j.status IN ('failed', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM core.tb_job k WHERE k.job_key = j.job_key
         AND COALESCE(k.fk_customer_org, -1) = COALESCE(j.fk_customer_org, -1)
         AND k.status = 'pending')
     RETURNING j.pk_job`,
      [id],
    )
    .catch((error: unknown) => {
      // Another job with the key became pending while this ran (its check could not see it yet).
      if (sqlState(error) === UNIQUE_VIOLATION) throw keyTaken();
      throw error;
    });
  if (rows.length === 0) {
    if (job.queue === "builtin" && (job.status === "failed" || job.status === "cancelled")) {
      // Read as retryable a moment ago: its key is taken, or someone else retried it meanwhile.
      throw job.job_key !== null
        ? keyTaken()
        : new ConflictError(`job ${id} is no longer failed or cancelled (retried meanwhile)`);
    }
    throw new ConflictError(
      job.queue !== "builtin"
        ? `job ${id} was handed to ${job.queue}: retry it there`
        : `job ${id} is ${job.status}: only failed or cancelled jobs can be retried`,
    );
  }
  return getJob(sql, id, scope);
}
