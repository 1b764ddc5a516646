import type { SqlExecutor } from "../ports/sql.ts";

/**
 * Puts claimed deliveries back without charging an attempt or writing a log row: each waits until
 * its `at` (ISO), held for `destination` (null: a rate limit's wait). Only rows still leased by
 * `owner` change.
 */
export async function deferDeliveries(
  sql: SqlExecutor,
  owner: string,
  deferred: readonly { pk: string; at: string; destination: string | null }[],
): Promise<void> {
  if (deferred.length === 0) return;
  await sql.query(
    // A circuit closed meanwhile (its wake-up passed over these, still leased): due now.
    `UPDATE core.tb_observer_delivery d
     SET lease_owner = NULL, held_destination = x.destination,
       next_attempt_at = CASE WHEN x.destination IS NULL OR EXISTS (
           SELECT 1 FROM core.tb_observer_destination h WHERE h.destination = x.destination
             AND (h.state = 'open' OR h.disabled_at IS NOT NULL)) THEN x.at ELSE now() END
     FROM jsonb_to_recordset($2::text::jsonb) AS x(pk bigint, at timestamptz, destination text)
     WHERE d.pk_observer_delivery = x.pk AND d.lease_owner = $1`,
    [owner, JSON.stringify(deferred)],
  );
}
