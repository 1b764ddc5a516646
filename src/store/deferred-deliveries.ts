import type { SqlExecutor } from "../ports/sql.ts";

/**
 * How many deliveries held for one destination stay due before its next probe (the probe needs a
 * real delivery; a few, so a lost or crashed one leaves others). The rest of a backlog is parked.
 */
export const HELD_DUE_AT_PROBE = 3;
/**
 * How long a parked held delivery waits at most: closing the circuit wakes it at once (a close
 * racing its put-back included: see deferDeliveries); this only bounds how late it runs if nothing
 * else was due for the probe. Each parked delivery costs one claim and put-back per period, not per probe.
 */
export const HELD_PARK_MS = 15 * 60_000;

/**
 * Puts claimed deliveries back without charging an attempt or writing a log row: each waits until
 * its `at` (ISO), held for `destination` (null: a rate limit's wait). Only rows still leased by
 * `owner` change. Of the deliveries held for one destination, only `HELD_DUE_AT_PROBE` wait for
 * their `at` (the next probe); the others are parked for `HELD_PARK_MS` (unless `at` is later), so
 * a backlog behind an open circuit costs each probe a bounded number of claims, not the backlog.
 */
export async function deferDeliveries(
  sql: SqlExecutor,
  owner: string,
  deferred: readonly { pk: string; at: string; destination: string | null }[],
): Promise<void> {
  if (deferred.length === 0) return;
  await sql.query(
    `UPDATE core.tb_observer_delivery d
     SET lease_owner = NULL, held_destination = x.destination,
       next_attempt_at = CASE
         WHEN x.destination IS NULL THEN x.at
         -- A circuit closed meanwhile (its wake-up passed over these, still leased): due now.
         -- FOR SHARE: a close not yet committed is waited for and then seen (a plain read would
         -- see the circuit open and park these past its wake-up); a close coming after waits for
         -- this put-back and wakes these (wakeHeldIfClosed after the close, src/store/destination-health.ts).
         WHEN NOT EXISTS (
           SELECT 1 FROM core.tb_observer_destination h WHERE h.destination = x.destination
             AND (h.state = 'open' OR h.disabled_at IS NOT NULL) FOR SHARE) THEN now()
         -- A few wait for the probe: those already waiting for it (not leased, not held back by
         -- a claim for a pause or an entity's order), then these in order.
         WHEN x.n + (SELECT count(*) FROM (
             SELECT 1 FROM core.tb_observer_delivery r
             WHERE r.held_destination = x.destination AND r.next_attempt_at > now()
               AND r.next_attempt_at <= x.at AND r.lease_owner IS NULL AND r.held IS NOT TRUE
             LIMIT $3) AS waiting) <= $3 THEN x.at
         ELSE greatest(x.at, now() + $4 * interval '1 millisecond') END
     FROM (
       SELECT r.*, row_number() OVER (PARTITION BY r.destination ORDER BY r.at, r.pk) AS n
       FROM jsonb_to_recordset($2::text::jsonb) AS r(pk bigint, at timestamptz, destination text)
     ) AS x
     WHERE d.pk_observer_delivery = x.pk AND d.lease_owner = $1`,
    [owner, JSON.stringify(deferred), HELD_DUE_AT_PROBE, HELD_PARK_MS],
  );
}

/**
 * Makes one delivery held for `destination` due now, if the destination's probe is overdue by
 * `graceMs` and nobody holds it: every delivery that was due for the probe left (cancelled, say),
 * and the rest of the backlog is parked. One row, found by the held index: a bounded nudge.
 * Returns whether one was woken.
 */
export async function wakeOneForProbe(
  sql: SqlExecutor,
  destination: string,
  graceMs: number,
): Promise<boolean> {
  const rows = await sql.query<{ pk: string }>(
    `UPDATE core.tb_observer_delivery d SET next_attempt_at = now()
     WHERE d.pk_observer_delivery = (
       SELECT r.pk_observer_delivery FROM core.tb_observer_delivery r
       WHERE r.held_destination = $1 AND r.next_attempt_at > now() AND r.lease_owner IS NULL
         AND r.held IS NOT TRUE
       ORDER BY r.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       AND EXISTS (SELECT 1 FROM core.tb_observer_destination h WHERE h.destination = $1
         AND h.state = 'open' AND h.disabled_at IS NULL
         AND h.next_probe_at < now() - $2 * interval '1 millisecond'
         AND (h.probe_owner IS NULL OR h.probe_until < now()))
     RETURNING d.pk_observer_delivery::text AS pk`,
    [destination, graceMs],
  );
  return rows.length > 0;
}

/**
 * Makes the deliveries held for `destination` due now if its circuit is closed (and it is not
 * disabled): what the close's own wake-up does, for those it could not see. A close wakes the
 * deliveries held for the destination at that instant; one another server was putting back at
 * the same moment was still leased to it then, and that deferral, not seeing the close yet,
 * parked it for `HELD_PARK_MS`. Like the close's, it skips rows locked right now (being claimed or
 * put back). Returns how many were woken.
 */
export async function wakeHeldIfClosed(sql: SqlExecutor, destination: string): Promise<number> {
  const rows = await sql.query<{ n: string }>(
    `WITH woken AS (
       UPDATE core.tb_observer_delivery SET next_attempt_at = now(), held_destination = NULL
       WHERE pk_observer_delivery = ANY(ARRAY(
         SELECT pk_observer_delivery FROM core.tb_observer_delivery
         WHERE held_destination = $1 AND lease_owner IS NULL AND next_attempt_at > now()
         FOR UPDATE SKIP LOCKED))
         AND NOT EXISTS (SELECT 1 FROM core.tb_observer_destination h WHERE h.destination = $1
           AND (h.state = 'open' OR h.disabled_at IS NOT NULL))
       RETURNING 1
     )
     SELECT count(*)::text AS n FROM woken`,
    [destination],
  );
  return Number(rows[0]?.n ?? 0);
}
