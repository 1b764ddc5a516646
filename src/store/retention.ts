import type { SqlExecutor } from "../ports/sql.ts";

/** Rows deleted by one retention sweep. */
export interface RetentionResult {
  changes: number;
  logs: number;
  deadLetters: number;
  /** Finished jobs (core.tb_job, docs/jobs.md). */
  jobs: number;
  /** Replays that ended (core.tb_observer_replay, docs/delivery.md). */
  replays: number;
}

const CHUNK = 5_000;

/**
 * Deletes, in bounded chunks, change-log rows older than `changeLogDays` that every listener has
 * read and no pending delivery needs (and scheduled events as old that no delivery needs, counted
 * with them); log rows older than `logDays`; and dead letters whose last failure is older than
 * `dlqDays` and that no replay is using; jobs that finished (succeeded, cancelled, handed off) more
 * than `logDays` ago, and failed jobs after `dlqDays` (they wait for a person, as dead letters do);
 * replays that ended more than `logDays` ago.
 * Each table has its own clock: log cleanup never touches dead letters.
 */
export async function sweepRetention(
  sql: SqlExecutor,
  days: { changeLogDays: number; logDays: number; dlqDays: number },
): Promise<RetentionResult> {
  const changes = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_entity_change_log WHERE pk_entity_change_log IN (
       SELECT c.pk_entity_change_log FROM core.tb_entity_change_log c
       WHERE c.created_at < now() - $1 * interval '1 day'
         AND EXISTS (SELECT 1 FROM core.tb_observer_checkpoint)
         AND NOT EXISTS (SELECT 1 FROM core.tb_observer_checkpoint k
           WHERE (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id))
         AND NOT EXISTS (SELECT 1 FROM core.tb_observer_delivery d
           WHERE d.fk_entity_change_log = c.pk_entity_change_log)
       LIMIT ${CHUNK})`,
    days.changeLogDays,
  );
  // Scheduled events (docs/time.md) play the change log's part, on its clock.
  const events = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_observer_event WHERE pk_observer_event IN (
       SELECT e.pk_observer_event FROM core.tb_observer_event e
       WHERE e.created_at < now() - $1 * interval '1 day'
         AND NOT EXISTS (SELECT 1 FROM core.tb_observer_delivery d
           WHERE d.fk_observer_event = e.pk_observer_event)
       LIMIT ${CHUNK})`,
    days.changeLogDays,
  );
  const logs = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_observer_log WHERE pk_observer_log IN (
       SELECT pk_observer_log FROM core.tb_observer_log
       WHERE created_at < now() - $1 * interval '1 day' LIMIT ${CHUNK})`,
    days.logDays,
  );
  const deadLetters = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_observer_dlq WHERE pk_observer_dlq IN (
       SELECT pk_observer_dlq FROM core.tb_observer_dlq
       WHERE last_attempt_at < now() - $1 * interval '1 day' AND status = 'pending' LIMIT ${CHUNK})`,
    days.dlqDays,
  );
  const finishedJobs = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_job WHERE pk_job IN (
       SELECT pk_job FROM core.tb_job WHERE status IN ('succeeded', 'cancelled', 'handed_off')
         AND finished_at < now() - $1 * interval '1 day' LIMIT ${CHUNK})`,
    days.logDays,
  );
  const failedJobs = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_job WHERE pk_job IN (
       SELECT pk_job FROM core.tb_job WHERE status = 'failed'
         AND finished_at < now() - $1 * interval '1 day' LIMIT ${CHUNK})`,
    days.dlqDays,
  );
  // Replays that ended, on the log's clock (their deliveries' log rows go with it).
  const replays = await deleteInChunks(
    sql,
    `DELETE FROM core.tb_observer_replay WHERE pk_observer_replay IN (
       SELECT pk_observer_replay FROM core.tb_observer_replay WHERE status <> 'running'
         AND finished_at < now() - $1 * interval '1 day' LIMIT ${CHUNK})`,
    days.logDays,
  );
  return { changes: changes + events, logs, deadLetters, jobs: finishedJobs + failedJobs, replays };
}

async function deleteInChunks(sql: SqlExecutor, statement: string, days: number): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql.query<{ n: string }>(
      `WITH deleted AS (${statement} RETURNING 1) SELECT count(*)::text AS n FROM deleted`,
      [days],
    );
    const n = Number(rows[0]?.n ?? 0);
    total += n;
    if (n < CHUNK) return total;
  }
}
