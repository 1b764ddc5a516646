import type { SqlExecutor } from "../ports/sql.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  if (!UUID.test(id)) return false;
  const tenant = options.tenant ?? null;
  const rows = await sql.query<{ status: string }>(
    `WITH item AS (
       SELECT pk_observer_dlq, status FROM core.tb_observer_dlq
       WHERE id = $1::uuid AND fk_observer IS NOT NULL
         AND ($2::bigint IS NULL OR fk_customer_org = $2::bigint)
       FOR UPDATE
     ),
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
     SELECT status FROM item`,
    [id, tenant],
  );
  return rows.length > 0;
}
