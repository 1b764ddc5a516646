import { ConflictError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { isUuid } from "./common.ts";

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
       WHERE q.id = $1::uuid AND ($2::bigint IS NULL OR q.fk_customer_org = $2::bigint)
       FOR UPDATE OF q
     ),
     item AS (SELECT * FROM found WHERE replayable),
     marked AS (
       UPDATE core.tb_observer_dlq q
       SET status = 'retrying', retry_count = retry_count + 1, last_retry_at = now()
       FROM item WHERE q.pk_observer_dlq = item.pk_observer_dlq AND item.status = 'pending'
       RETURNING q.pk_observer_dlq, q.fk_observer, q.delivery_id, q.action_index, q.fk_customer_org
     ),
     queued AS (
       INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_observer_dlq, action_index, fk_customer_org)
       SELECT delivery_id, fk_observer, pk_observer_dlq, action_index, fk_customer_org FROM marked
     )
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
