/**
 * Jobs in PostgreSQL (migration 0011, docs/jobs.md): the job as the API returns it, and what the
 * API reads and changes (list, get, cancel, retry). Enqueueing is in job-enqueue.ts, the runner's
 * claims and leases in job-leases.ts.
 */
import { ConflictError, NotFoundError } from "../errors.ts";
import { parseJson } from "../events/parse-json.ts";
import type { JsonValue } from "../json.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
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

export const JOB_STATUSES = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "handed_off",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

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
  if (!isUuid(id)) throw new NotFoundError(`job ${quoted(id)} not found`);
  const rows = await sql.query<JobRow>(
    `SELECT ${COLUMNS} ${FROM} WHERE j.id = $2::uuid AND ${tenantCondition("j.fk_customer_org", 1)}`,
    [scope.tenant ?? null, id],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`job ${quoted(id)} not found`);
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
