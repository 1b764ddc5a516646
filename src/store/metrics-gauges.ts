import type { SqlClient } from "../ports/sql.ts";

/**
 * A gauge read from the database at scrape: a scalar SQL expression that may use `k` (the
 * listener's cursor: `k.last_transaction_id`, `k.last_processed_id`), `pending` (up to `$2`
 * changes past the cursor: `created_at`), and `$2` (the count cap, 100 000).
 */
export interface DatabaseGauge {
  name: string;
  help: string;
  /** A scalar SQL expression, cast to a number. */
  expression: string;
}

/** Counts stop at this many rows, so a scrape stays cheap however far behind the runtime is. */
export const GAUGE_COUNT_CAP = 100_000;

/**
 * Every gauge read from the database, in one statement. Add one with one line here (its name,
 * help and expression): docs/metrics.md.
 */
export const DATABASE_GAUGES: readonly DatabaseGauge[] = [
  {
    name: "fraiseql_observer_backlog_size",
    help: "Committed changes this server's listener has not matched yet (capped at 100000).",
    expression: "(SELECT count(*) FROM pending)",
  },
  {
    name: "fraiseql_observer_change_log_oldest_pending_seconds",
    help: "Age of the oldest change not matched yet, in seconds (0 when caught up).",
    expression:
      "(SELECT COALESCE(greatest(0, extract(epoch FROM now() - min(created_at))), 0) FROM pending)",
  },
  {
    name: "fraiseql_observer_deliveries_due",
    help: "Deliveries due now and not claimed yet, across every runtime on the database (capped at 100000).",
    expression:
      "(SELECT count(*) FROM (SELECT 1 FROM core.tb_observer_delivery WHERE next_attempt_at <= now() LIMIT $2) d)",
  },
  {
    name: "fraiseql_observer_deliveries_pending",
    help: "Deliveries not finished: due, running, or waiting for a retry (capped at 100000).",
    expression: "(SELECT count(*) FROM (SELECT 1 FROM core.tb_observer_delivery LIMIT $2) d)",
  },
  {
    name: "fraiseql_observer_deliveries_held",
    help: "Deliveries held by paused observers until they are resumed (capped at 100000).",
    expression: `(SELECT count(*) FROM (SELECT 1 FROM core.tb_observer_delivery d
      JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
      WHERE o.paused_at IS NOT NULL AND o.deleted_at IS NULL LIMIT $2) d)`,
  },
  {
    name: "fraiseql_observer_observers_paused",
    help: "Observers paused (POST /api/observers/{id}/pause) and not deleted, every tenant's.",
    expression:
      "(SELECT count(*) FROM core.tb_observer WHERE paused_at IS NOT NULL AND deleted_at IS NULL)",
  },
  {
    name: "fraiseql_observer_replays_running",
    help: "Replays running (POST /api/observers/{id}/replay), every tenant's.",
    expression: "(SELECT count(*) FROM core.tb_observer_replay WHERE status = 'running')",
  },
  {
    name: "fraiseql_observer_observers_enabled",
    help: "Observers enabled and not deleted, every tenant's.",
    expression: "(SELECT count(*) FROM core.tb_observer WHERE enabled AND deleted_at IS NULL)",
  },
  {
    name: "fraiseql_observer_jobs_pending",
    help: "Builtin jobs waiting to run: due, waiting for a retry or for a handler (capped at 100000).",
    expression:
      "(SELECT count(*) FROM (SELECT 1 FROM core.tb_job WHERE status = 'pending' AND queue = 'builtin' LIMIT $2) j)",
  },
  {
    name: "fraiseql_observer_jobs_running",
    help: "Builtin jobs a handler runs now (under a lease), every process's.",
    expression: "(SELECT count(*) FROM core.tb_job WHERE status = 'running')",
  },
  {
    name: "fraiseql_observer_dlq_items",
    help: "Items in the dead-letter queue (core.tb_observer_dlq), every tenant's.",
    expression: "(SELECT count(*) FROM core.tb_observer_dlq)",
  },
  {
    name: "fraiseql_observer_nats_dead_letters",
    help: "NATS messages that could not be decoded, kept with their raw payload (core.tb_nats_dead_letter; 0 outside NATS mode; capped at 100000).",
    expression: "(SELECT count(*) FROM (SELECT 1 FROM core.tb_nats_dead_letter LIMIT $2) d)",
  },
];

/** The statement reading `gauges` (`$1` the listener id, `$2` the cap). */
export function gaugesStatement(gauges: readonly DatabaseGauge[]): string {
  const columns = gauges.map((g, i) => `(${g.expression})::float8::text AS g${i}`).join(",\n  ");
  return `WITH k AS (
  SELECT last_transaction_id, last_processed_id FROM core.tb_observer_checkpoint WHERE listener_id = $1
  UNION ALL SELECT '0'::xid8, 0 WHERE NOT EXISTS (SELECT 1 FROM core.tb_observer_checkpoint WHERE listener_id = $1)
), pending AS (
  SELECT c.created_at FROM core.tb_entity_change_log c, k
  WHERE (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id)
  LIMIT $2
)
SELECT ${columns}`;
}

/**
 * Reads `gauges` in one statement under a statement timeout of `timeoutMs` (a transaction-local
 * setting: the connection goes back to its pool unchanged). Values by gauge name.
 */
export async function readDatabaseGauges(
  sql: SqlClient,
  listenerId: string,
  timeoutMs: number,
  gauges: readonly DatabaseGauge[] = DATABASE_GAUGES,
): Promise<Map<string, number>> {
  const rows = await sql.transaction(async (tx) => {
    await tx.query("SELECT set_config('statement_timeout', $1, true)", [
      String(Math.max(1, Math.floor(timeoutMs))),
    ]);
    return tx.query<Record<string, string | null>>(gaugesStatement(gauges), [
      listenerId,
      GAUGE_COUNT_CAP,
    ]);
  });
  const row = rows[0] ?? {};
  const values = new Map<string, number>();
  gauges.forEach((gauge, i) => {
    const text = row[`g${i}`];
    if (text !== null && text !== undefined) values.set(gauge.name, Number(text));
  });
  return values;
}
