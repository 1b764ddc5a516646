import type { SqlExecutor } from "../ports/sql.ts";
import { COLUMNS, type DestinationHealth, fromRow, type Row } from "./destination-health.ts";

/*
 * What the API, the health and the metrics read of the shared circuits
 * (core.tb_observer_destination, docs/delivery.md); the transitions are in destination-health.ts.
 */

/** How many destinations have their circuit open, and how many are disabled (the health's counts). */
export async function countUnhealthy(
  sql: SqlExecutor,
): Promise<{ open: number; disabled: number }> {
  const rows = await sql.query<{ open: number; disabled: number }>(
    `SELECT count(*) FILTER (WHERE state = 'open' AND disabled_at IS NULL)::int AS open,
       count(*) FILTER (WHERE disabled_at IS NOT NULL)::int AS disabled
     FROM core.tb_observer_destination WHERE state = 'open' OR disabled_at IS NOT NULL`,
  );
  return { open: Number(rows[0]?.open ?? 0), disabled: Number(rows[0]?.disabled ?? 0) };
}

/** What an observer's deliveries wait for: a destination's open or disabled circuit. */
export interface HeldDeliveries {
  /** The destination's id, for its reset. */
  id: string;
  destination: string;
  state: "closed" | "open";
  disabled: boolean;
  disabled_reason: string | null;
  next_probe_at: string | null;
  deliveries: number;
}

/**
 * The deliveries of observer `observerId` (public id) held for their destination, by destination,
 * with why (`GET /api/observers/{id}`'s `held`). Read from the deliveries themselves, so it names
 * only destinations of the observer's own actions.
 */
export async function heldForObserver(
  sql: SqlExecutor,
  observerId: string,
): Promise<HeldDeliveries[]> {
  const rows = await sql.query<HeldDeliveries & { deliveries: number | string }>(
    `SELECT h.id::text AS id, h.destination, h.state, h.disabled_at IS NOT NULL AS disabled, h.disabled_reason,
       -- A disabled destination is probed no more: no time to show.
       CASE WHEN h.disabled_at IS NULL THEN to_char(h.next_probe_at AT TIME ZONE 'UTC',
         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END AS next_probe_at,
       count(*)::int AS deliveries
     FROM core.tb_observer o
       JOIN core.tb_observer_delivery d ON d.fk_observer = o.pk_observer
       JOIN core.tb_observer_destination h ON h.destination = d.held_destination
     WHERE o.id::text = $1 AND d.held_destination IS NOT NULL
       AND (h.state = 'open' OR h.disabled_at IS NOT NULL)
     GROUP BY h.id, h.destination, h.state, h.disabled_at, h.disabled_reason, h.next_probe_at
     ORDER BY h.destination`,
    [observerId],
  );
  return rows.map((row) => ({ ...row, deliveries: Number(row.deliveries) }));
}

/** Every destination with a row, newest change first (the API's list). */
export async function listDestinations(
  sql: SqlExecutor,
  limit: number,
  offset: number,
): Promise<{ rows: DestinationHealth[]; total: number }> {
  // Counted apart from the page: a window count over a page past the end has no row to carry it.
  const [rows, counts] = await Promise.all([
    sql.query<Row>(
      `SELECT ${COLUMNS} FROM core.tb_observer_destination
       ORDER BY (state = 'open' OR disabled_at IS NOT NULL) DESC, updated_at DESC, pk_observer_destination
       LIMIT $1 OFFSET $2`,
      [limit, offset],
    ),
    sql.query<{ total: string }>(
      "SELECT count(*)::text AS total FROM core.tb_observer_destination",
    ),
  ]);
  return { rows: rows.map(fromRow), total: Number(counts[0]?.total ?? 0) };
}
