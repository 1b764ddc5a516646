import { stringifyJson } from "../json.ts";
import type { JobRequest } from "../ports/jobs.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { arrayColumn } from "./pg-array.ts";

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
