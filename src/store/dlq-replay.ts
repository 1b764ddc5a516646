import { ConfigError, type ConfigIssue, ConflictError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { isUuid, type TenantScope } from "./common.ts";
import { inScope } from "./dead-letters.ts";
import { timeRange, timeRangeCondition } from "./time-range.ts";

/**
 * The CTEs that replay dead letters: `marked` sets the `pending` ones among `source`'s
 * `pk_observer_dlq` to `retrying`, and `queued` inserts one delivery of each one's failed
 * action, with its original webhook-id. Marking and queueing happen in one statement, and only
 * `pending` items are marked, so no dead letter is ever queued twice.
 */
function requeue(source: string): string {
  return `marked AS (
       UPDATE core.tb_observer_dlq q
       SET status = 'retrying', retry_count = retry_count + 1, last_retry_at = now()
       FROM ${source} s WHERE q.pk_observer_dlq = s.pk_observer_dlq AND q.status = 'pending'
       RETURNING q.pk_observer_dlq, q.fk_observer, q.delivery_id, q.event_id, q.action_index,
         q.fk_customer_org, q.dead_letter
     ),
     queued AS (
       INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_observer_dlq,
         action_index, fk_customer_org, dead_letter)
       SELECT delivery_id, event_id, fk_observer, pk_observer_dlq, action_index, fk_customer_org,
         dead_letter
       FROM marked
       RETURNING 1
     )`;
}

/**
 * Queues a dead letter for another try: one delivery of the one failed action (not every observer
 * of the event, as FraiseQL did), with the observer's current configuration and the original
 * webhook-id. The dead letter stays (status `retrying`) until that delivery succeeds; a failure
 * puts it back to `pending` with the new error. False when there is no such dead letter (for
 * `tenant`), or its observer is gone; true when it is queued, or already was.
 */
export async function retryDeadLetter(
  sql: SqlExecutor,
  id: string,
  options: { tenant?: string | null } = {},
): Promise<boolean> {
  if (!isUuid(id)) return false;
  const tenant = options.tenant ?? null;
  const rows = await sql.query<{ status: string; replayable: boolean }>(
    `WITH found AS (
       SELECT q.pk_observer_dlq, q.status,
         EXISTS (SELECT 1 FROM core.tb_observer o
                 WHERE o.pk_observer = q.fk_observer AND o.deleted_at IS NULL) AS replayable
       FROM core.tb_observer_dlq q
       WHERE q.id = $1::uuid AND ${inScope(2)}
       FOR UPDATE OF q
     ),
     item AS (SELECT * FROM found WHERE replayable),
     ${requeue("item")}
     SELECT status, replayable FROM found`,
    [id, tenant],
  );
  const row = rows[0];
  if (row && !row.replayable) {
    throw new ConflictError(
      `the observer of dead letter ${JSON.stringify(id)} is deleted: nothing can replay it (delete the dead letter, or restore the observer)`,
    );
  }
  return row !== undefined;
}

/** Which dead letters a bulk operation takes; every field narrows (absent: no restriction). */
export interface DeadLetterFilter extends TenantScope {
  /** Only this observer's (its public id). */
  observerId?: string;
  /** ISO 8601 with a time zone; `created_at >= since`. */
  since?: string;
  /** ISO 8601 with a time zone; `created_at < until`. */
  until?: string;
  /** Only dead letters whose last failure had this error code. */
  errorCode?: string;
}

/** What `retryDeadLetters` did. */
export interface RetryDeadLettersResult {
  /** Dead letters queued for another try by this call. */
  items_retried: number;
  /** Matching dead letters that cannot be retried: their observer is gone or deleted. */
  items_failed: number;
  /** Matching dead letters whose replay was already queued or running. */
  items_already_retrying: number;
  message: string;
}

function filterParams(filter: DeadLetterFilter): unknown[] {
  const issues: ConfigIssue[] = [];
  const observerId = filter.observerId ?? null;
  if (observerId !== null && !isUuid(observerId)) {
    issues.push({ path: "observer_id", message: "must be an observer id (a UUID)" });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const range = timeRange(filter);
  return [filter.tenant ?? null, observerId, range.since, range.until, filter.errorCode ?? null];
}

// The filter over `q`, parameters $1 to $5 as `filterParams` orders them. The observer is matched
// by its pk, so the (fk_observer, created_at) index serves it.
const FILTER = `${inScope(1)}
  AND ($2::uuid IS NULL
    OR q.fk_observer = (SELECT pk_observer FROM core.tb_observer WHERE id = $2::uuid))
  AND ${timeRangeCondition("q.created_at", 3)}
  AND ($5::text IS NULL OR q.error_code = $5::text)`;

/**
 * Queues every matching `pending` dead letter for another try, in one statement: the bulk form of
 * `retryDeadLetter` (one delivery of the failed action per item, with its original webhook-id and
 * the observer's current configuration). Only `pending` items are queued, and they are marked
 * `retrying` in the same statement, so calling it twice never queues an item twice (there is no
 * unique constraint on the delivery id to lean on). Items whose observer is gone or soft-deleted
 * are not queued (`items_failed`): a delivery of a deleted observer would only be discarded.
 */
export async function retryDeadLetters(
  sql: SqlExecutor,
  filter: DeadLetterFilter = {},
): Promise<RetryDeadLettersResult> {
  const params = filterParams(filter);
  const rows = await sql.query<{ matching: string; failed: string; retried: string }>(
    `WITH matching AS (
       SELECT q.pk_observer_dlq, q.status,
         (q.fk_observer IS NULL OR o.deleted_at IS NOT NULL) AS gone
       FROM core.tb_observer_dlq q LEFT JOIN core.tb_observer o ON o.pk_observer = q.fk_observer
       WHERE ${FILTER}
     ),
     claimed AS (
       SELECT q.pk_observer_dlq FROM core.tb_observer_dlq q
       WHERE q.pk_observer_dlq IN (
           SELECT pk_observer_dlq FROM matching WHERE status = 'pending' AND NOT gone)
         AND q.status = 'pending' AND q.fk_observer IS NOT NULL
       FOR UPDATE SKIP LOCKED
     ),
     ${requeue("claimed")}
     SELECT (SELECT count(*) FROM matching)::text AS matching,
       (SELECT count(*) FROM matching WHERE gone)::text AS failed,
       (SELECT count(*) FROM queued)::text AS retried`,
    params,
  );
  const row = rows[0];
  const retried = Number(row?.retried ?? 0);
  const failed = Number(row?.failed ?? 0);
  // Every other live match is being retried already: it was `retrying`, or a concurrent retry
  // held or changed it (SKIP LOCKED) between this statement's snapshot and its lock.
  const already = Number(row?.matching ?? 0) - failed - retried;
  const parts = [`${retried} dead letter${retried === 1 ? "" : "s"} queued for retry`];
  if (already > 0) parts.push(`${already} already retrying`);
  if (failed > 0) parts.push(`${failed} not retryable (observer deleted)`);
  return {
    items_retried: retried,
    items_failed: failed,
    items_already_retrying: already,
    message: parts.join(", "),
  };
}
