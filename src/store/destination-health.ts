import type { SqlExecutor } from "../ports/sql.ts";
import { isUuid } from "./common.ts";
import { wakeHeldIfClosed } from "./deferred-deliveries.ts";

/**
 * A destination's shared circuit (`core.tb_observer_destination`, docs/delivery.md). Timestamps
 * are epoch milliseconds of the database's clock.
 */
export interface DestinationHealth {
  id: string;
  destination: string;
  state: "closed" | "open";
  consecutive_failures: number;
  open_count: number;
  opened_at: number | null;
  next_probe_at: number | null;
  probe_owner: string | null;
  probe_until: number | null;
  failing_since: number | null;
  last_error_code: string | null;
  last_http_status: number | null;
  disabled_at: number | null;
  disabled_reason: string | null;
}

/** The thresholds circuits follow (docs/configuration.md). */
export interface CircuitSettings {
  /** Consecutive transient failures that open a closed circuit (0: circuits are off). */
  failureThreshold: number;
  /** First wait before a probe; doubles per reopening, up to `maxProbeDelayMs`. */
  probeDelayMs: number;
  maxProbeDelayMs: number;
  /** How long one probe holds the lease at most (the attempt's timeout bounds it anyway). */
  probeLeaseMs: number;
  /** Failing this long disables the destination (0: never). */
  disableAfterMs: number;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;

/** The select (and RETURNING) list of a destination row. */
export const COLUMNS = `id::text AS id, destination, state, consecutive_failures, open_count,
  ${ms("opened_at")}, ${ms("next_probe_at")}, probe_owner, ${ms("probe_until")},
  ${ms("failing_since")}, last_error_code, last_http_status, ${ms("disabled_at")}, disabled_reason`;

/** A destination row as `COLUMNS` reads it. */
export type Row = Omit<DestinationHealth, `${string}_at` | "probe_until" | "failing_since"> &
  Record<
    "opened_at" | "next_probe_at" | "probe_until" | "failing_since" | "disabled_at",
    number | string | null
  >;

const num = (value: number | string | null): number | null =>
  value === null ? null : Number(value);

/** A row as `DestinationHealth`. */
export function fromRow(row: Row): DestinationHealth {
  return {
    ...row,
    consecutive_failures: Number(row.consecutive_failures),
    open_count: Number(row.open_count),
    opened_at: num(row.opened_at),
    next_probe_at: num(row.next_probe_at),
    probe_until: num(row.probe_until),
    failing_since: num(row.failing_since),
    disabled_at: num(row.disabled_at),
    last_http_status: row.last_http_status === null ? null : Number(row.last_http_status),
  };
}

/** Destinations that are not plainly healthy (failing, open or disabled): what gates read. */
export async function listUnhealthy(sql: SqlExecutor): Promise<DestinationHealth[]> {
  const rows = await sql.query<Row>(
    `SELECT ${COLUMNS} FROM core.tb_observer_destination
     WHERE state <> 'closed' OR consecutive_failures > 0 OR disabled_at IS NOT NULL`,
  );
  return rows.map(fromRow);
}

/**
 * Counts one transient failure of `destination` (a delivery's attempt or a probe's) in one
 * statement: a closed circuit opens when the count reaches the threshold; an open one (a failed
 * probe) reopens with the next backoff; either is disabled once the run of failures is older than
 * `disableAfterMs`. `delayMs` is the jittered probe wait for this opening (the caller computes it
 * from `open_count`, which this statement returns). Returns the row as it now is.
 */
export async function recordFailure(
  sql: SqlExecutor,
  destination: string,
  failure: { code: string | null; httpStatus: number | null; probe: boolean },
  settings: CircuitSettings,
  delayMs: (openCount: number) => number,
): Promise<DestinationHealth | null> {
  // The delay is picked for the opening this failure may cause: the statement decides which.
  const delays = Array.from({ length: 16 }, (_, n) => Math.round(delayMs(n)));
  const rows = await sql.query<Row>(
    `INSERT INTO core.tb_observer_destination AS d (destination, consecutive_failures,
       failing_since, last_error_code, last_http_status, state, opened_at, next_probe_at,
       open_count)
     VALUES ($1, 1, now(), $2, $3,
       CASE WHEN $4 <= 1 THEN 'open' ELSE 'closed' END,
       CASE WHEN $4 <= 1 THEN now() END,
       CASE WHEN $4 <= 1 THEN now() + ($5::text::integer[])[1] * interval '1 millisecond' END,
       CASE WHEN $4 <= 1 THEN 1 ELSE 0 END)
     ON CONFLICT (destination) DO UPDATE SET
       consecutive_failures = d.consecutive_failures + 1,
       failing_since = COALESCE(d.failing_since, now()),
       last_error_code = EXCLUDED.last_error_code,
       last_http_status = EXCLUDED.last_http_status,
       -- A probe's failure, or the failure reaching the threshold, (re)opens it.
       state = CASE WHEN (d.state = 'open' AND $6) OR (d.state = 'closed'
         AND d.consecutive_failures + 1 >= $4) THEN 'open' ELSE d.state END,
       opened_at = CASE WHEN d.state = 'closed' AND d.consecutive_failures + 1 >= $4 THEN now()
         ELSE d.opened_at END,
       next_probe_at = CASE WHEN (d.state = 'open' AND $6) OR (d.state = 'closed'
           AND d.consecutive_failures + 1 >= $4)
         THEN now() + ($5::text::integer[])[LEAST(d.open_count, 15) + 1] * interval '1 millisecond'
         ELSE d.next_probe_at END,
       open_count = CASE WHEN (d.state = 'open' AND $6) OR (d.state = 'closed'
         AND d.consecutive_failures + 1 >= $4) THEN d.open_count + 1 ELSE d.open_count END,
       probe_owner = CASE WHEN $6 THEN NULL ELSE d.probe_owner END,
       probe_until = CASE WHEN $6 THEN NULL ELSE d.probe_until END,
       updated_at = now()
     RETURNING ${COLUMNS}`,
    [
      destination,
      failure.code,
      failure.httpStatus,
      settings.failureThreshold,
      `{${delays.join(",")}}`,
      failure.probe,
    ],
  );
  const row = rows[0];
  if (!row) return null;
  if (settings.disableAfterMs > 0 && row.disabled_at === null && row.failing_since !== null) {
    const disabled = await disableIfFailingLong(sql, destination, settings.disableAfterMs);
    if (disabled) return disabled;
  }
  return fromRow(row);
}

/** Disables `destination` if its run of failures is older than `afterMs` (compare-and-set). */
async function disableIfFailingLong(
  sql: SqlExecutor,
  destination: string,
  afterMs: number,
): Promise<DestinationHealth | null> {
  const rows = await sql.query<Row>(
    `UPDATE core.tb_observer_destination
     SET disabled_at = now(), probe_owner = NULL, probe_until = NULL, updated_at = now(),
       disabled_reason = format('failing since %s (%s consecutive failures, last %s%s) for longer than OBSERVERS_DESTINATION_DISABLE_AFTER_MS (%s ms): its deliveries are held until it is enabled again',
         to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         consecutive_failures, COALESCE(last_error_code, 'error'),
         CASE WHEN last_http_status IS NOT NULL THEN ' HTTP ' || last_http_status ELSE '' END, $2)
     WHERE destination = $1 AND disabled_at IS NULL AND failing_since IS NOT NULL
       AND failing_since <= now() - $2 * interval '1 millisecond'
     RETURNING ${COLUMNS}`,
    [destination, afterMs],
  );
  const row = rows[0];
  return row ? fromRow(row) : null;
}

/**
 * The deliveries held for the destinations of `source` (a CTE with a `destination` column), due
 * now. Rows locked right now are skipped, not waited for: a delivery being put back by another
 * server at this instant (still leased, so not one to wake) has its row locked, and a wake-up
 * waiting for it while keeping the locks it had taken deadlocked with that put-back (PostgreSQL
 * aborted one of the two). The server putting it back wakes it itself once it reads the circuit
 * closed (src/runtime/destination-health.ts).
 */
const wakeHeld = (source: string) => `UPDATE core.tb_observer_delivery
       SET next_attempt_at = now(), held_destination = NULL
       WHERE pk_observer_delivery = ANY(ARRAY(
         SELECT pk_observer_delivery FROM core.tb_observer_delivery
         WHERE held_destination = ANY(ARRAY(SELECT destination FROM ${source}))
           AND lease_owner IS NULL
         FOR UPDATE SKIP LOCKED))`;

/**
 * Closes `destination`'s circuit after a success (a probe's, or a delivery's while failures were
 * counted) and makes the deliveries it held due now. `probeOwner`: only if this runtime still holds
 * the probe (a probe whose lease ran out and was taken by another server does not close it).
 * Returns null when the row did not change, else whether the circuit was open (a transition)
 * rather than closed with failures counted (a reset of the count).
 */
export async function recordSuccess(
  sql: SqlExecutor,
  destination: string,
  probeOwner: string | null,
): Promise<{ wasOpen: boolean } | null> {
  const rows = await sql.query<{ closed: boolean; was_open: boolean }>(
    `WITH before AS (
       SELECT pk_observer_destination, state FROM core.tb_observer_destination
       WHERE destination = $1 FOR UPDATE
     ),
     closed AS (
       UPDATE core.tb_observer_destination d
       SET state = 'closed', consecutive_failures = 0, open_count = 0, failing_since = NULL,
         opened_at = NULL, next_probe_at = NULL, probe_owner = NULL, probe_until = NULL,
         updated_at = now()
       FROM before b
       WHERE d.pk_observer_destination = b.pk_observer_destination AND d.disabled_at IS NULL
         AND (d.consecutive_failures > 0 OR d.state <> 'closed')
         AND ($2::text IS NULL OR d.state = 'closed' OR d.probe_owner = $2)
       RETURNING d.destination, b.state <> 'closed' AS was_open
     ),
     woken AS (${wakeHeld("closed")})
     SELECT EXISTS (SELECT 1 FROM closed) AS closed,
       coalesce((SELECT bool_or(was_open) FROM closed), false) AS was_open`,
    [destination, probeOwner],
  );
  const row = rows[0];
  if (row?.closed !== true) return null;
  // Again, with a snapshot taken after the close: the statement's own wake-up sees the table as it
  // was when it started, before it waited for a put-back in progress (deferDeliveries reads the
  // destination's row FOR SHARE) to commit, and would miss the deliveries that put-back parked.
  await wakeHeldIfClosed(sql, destination);
  return { wasOpen: row.was_open };
}

/**
 * Takes `destination`'s probe for `owner` when it is due and nobody holds it (or their lease ran
 * out): compare-and-set, so one server at a time probes. Returns whether it was taken.
 */
export async function takeProbe(
  sql: SqlExecutor,
  destination: string,
  owner: string,
  leaseMs: number,
): Promise<DestinationHealth | null> {
  const rows = await sql.query<Row>(
    `UPDATE core.tb_observer_destination
     SET probe_owner = $2, probe_until = now() + $3 * interval '1 millisecond', updated_at = now()
     WHERE destination = $1 AND state = 'open' AND disabled_at IS NULL
       AND next_probe_at <= now() AND (probe_owner IS NULL OR probe_until < now())
     RETURNING ${COLUMNS}`,
    [destination, owner, leaseMs],
  );
  const row = rows[0];
  return row ? fromRow(row) : null;
}

/**
 * Resets a destination (an operator's decision: `POST .../destinations/{id}/reset`): closes its
 * circuit, clears its failures and any disablement, and makes its held deliveries due now.
 */
export async function resetDestination(
  sql: SqlExecutor,
  id: string,
): Promise<DestinationHealth | null> {
  // Not a UUID (a NUL byte PostgreSQL refuses in text, say): no such destination.
  if (!isUuid(id)) return null;
  const rows = await sql.query<Row>(
    `WITH reset AS (
       UPDATE core.tb_observer_destination
       SET state = 'closed', consecutive_failures = 0, open_count = 0, failing_since = NULL,
         opened_at = NULL, next_probe_at = NULL, probe_owner = NULL, probe_until = NULL,
         disabled_at = NULL, disabled_reason = NULL, updated_at = now()
       WHERE id::text = $1
       RETURNING *
     ),
     woken AS (${wakeHeld("reset")})
     SELECT ${COLUMNS} FROM reset`,
    [id],
  );
  const row = rows[0];
  if (!row) return null;
  const reset = fromRow(row);
  // Again after the reset, as after a close (recordSuccess).
  await wakeHeldIfClosed(sql, reset.destination);
  return reset;
}
