import type { SqlExecutor } from "../ports/sql.ts";

/**
 * Whether autovacuum runs on the server: switched on (with `track_counts`, which it needs) and its
 * launcher process present. Embedded PGlite, a single process, says `autovacuum = on` but has no
 * launcher.
 */
export async function autovacuumRuns(sql: SqlExecutor): Promise<boolean> {
  const rows = await sql.query<{ on: boolean }>(
    `SELECT current_setting('autovacuum')::boolean AND current_setting('track_counts')::boolean
       AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher') AS on`,
  );
  return rows[0]?.on === true;
}

/**
 * Vacuums the delivery table: every delivery is inserted and deleted, so without vacuum its dead
 * rows pile up and every claim walks past them (measured: 0.9 M dead rows after a 10-minute soak
 * made one claim read 1 382 index pages, 6–20 ms, where it reads a handful). SKIP_LOCKED: another
 * runtime's vacuum already running is enough.
 */
export async function vacuumDeliveries(sql: SqlExecutor): Promise<void> {
  await sql.query("VACUUM (SKIP_LOCKED) core.tb_observer_delivery");
}
