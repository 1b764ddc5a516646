import type { LiveCursor, StreamPosition } from "../live/cursor.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { isoColumn, observerTenantCondition, tenantCondition } from "./common.ts";

/** What a live read selects on, besides its position: each absent field selects everything. */
export interface LiveReadFilter {
  tenant?: string | null;
  entityType?: string | null;
  /** Upper-case `modification_type` values (see `modificationTypesOf`). */
  modificationTypes?: readonly string[] | null;
  /** Executions only: the observer's public id. */
  observerId?: string | null;
}

/** An attempt of an action, as live `execution` messages report it. */
export interface ExecutionRow extends Record<string, unknown> {
  pk_observer_log: string;
  transaction_id: string;
  observer_id: string | null;
  observer_name: string | null;
  delivery_id: string | null;
  event_id: string;
  entity_type: string | null;
  entity_id: string | null;
  event_type: string | null;
  status: string;
  action_index: number | null;
  action_type: string | null;
  attempt_number: number;
  max_attempts: number;
  duration_ms: number | null;
  error_code: string | null;
  fk_customer_org: string | null;
  /**
   * The tenant whose subscribers may receive the row: the change's, when the observer is bound to
   * it (or the row concerns no observer); null for a global observer's row, which only unscoped
   * subscribers receive (see `observerTenantCondition`). Not part of the message.
   */
  audience: string | null;
  created_at: string;
}

const HORIZON = "pg_snapshot_xmin(pg_current_snapshot())";

/**
 * Makes every commit the statement's snapshot sees durable before the statement returns: when the
 * WAL is not yet flushed as far as it has been written (relaxed bookkeeping commits, a producer's
 * `synchronous_commit = off`), it sets `core.seq_live_durable`, which writes WAL and takes a
 * transaction id, so the statement commits synchronously (`on` whatever the server's default) and
 * that flush covers every commit record written before the snapshot. Without it, a PostgreSQL
 * crash could undo rows the feed had already handed out, then issue their transaction ids and keys
 * again: a client resuming with such a cursor would skip rows, or be told its cursor is ahead.
 * When everything is already flushed (producers commit synchronously, or the server is idle) it
 * writes nothing and costs no flush.
 */
const DURABLE_CTE = `durable AS (
  SELECT set_config('synchronous_commit', 'on', true) AS synchronous_commit,
    CASE WHEN pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()
      THEN setval('core.seq_live_durable', 1) END AS flushed
)`;

/**
 * The newest position of each stream that no running transaction can precede and that no crash
 * can undo (see DURABLE_CTE): where a live feed starts and how far it reads, so every cursor it
 * hands out refers to a durable row. A stream with no row yet starts at 0.
 */
export async function readLivePositions(sql: SqlExecutor): Promise<LiveCursor> {
  const rows = await sql.query<{
    ct: string | null;
    ci: string | null;
    xt: string | null;
    xi: string | null;
    flushed: string | null;
  }>(
    `WITH ${DURABLE_CTE}
     SELECT c.transaction_id::text AS ct, c.pk_entity_change_log::text AS ci,
       x.transaction_id::text AS xt, x.pk_observer_log::text AS xi,
       durable.flushed::text AS flushed
     FROM durable
     LEFT JOIN LATERAL (
       SELECT transaction_id, pk_entity_change_log FROM core.tb_entity_change_log
       WHERE transaction_id < ${HORIZON}
       ORDER BY transaction_id DESC, pk_entity_change_log DESC LIMIT 1
     ) c ON true
     LEFT JOIN LATERAL (
       SELECT transaction_id, pk_observer_log FROM core.tb_observer_log
       WHERE transaction_id < ${HORIZON}
       ORDER BY transaction_id DESC, pk_observer_log DESC LIMIT 1
     ) x ON true`,
  );
  const row = rows[0];
  return {
    changes: { transactionId: row?.ct ?? "0", id: row?.ci ?? "0" },
    executions: { transactionId: row?.xt ?? "0", id: row?.xi ?? "0" },
  };
}

/** `(tx, pk) > from`, and up to `to` when given or else below the horizon (params $1..$4). */
function window(tx: string, pk: string): string {
  return `(${tx}, ${pk}) > ($1::text::xid8, $2::text::bigint)
    AND ${tx} < ${HORIZON}
    AND ($3::text IS NULL OR (${tx}, ${pk}) <= ($3::text::xid8, $4::text::bigint))`;
}

function windowParams(from: StreamPosition, to: StreamPosition | null): unknown[] {
  return [from.transactionId, from.id, to?.transactionId ?? null, to?.id ?? null];
}

/**
 * Changes after `from` (up to `to`, or every one below the horizon), in the runtime's read order,
 * at most `limit`, selected by `filter`.
 */
export async function readLiveChanges(
  sql: SqlExecutor,
  from: StreamPosition,
  to: StreamPosition | null,
  limit: number,
  filter: LiveReadFilter = {},
): Promise<ChangeRow[]> {
  return sql.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c
     WHERE ${window("c.transaction_id", "c.pk_entity_change_log")}
       AND ${tenantCondition("c.fk_customer_org", 5)}
       AND ($6::text IS NULL OR c.object_type = $6::text)
       AND ($7::text::text[] IS NULL OR upper(c.modification_type) = ANY($7::text::text[]))
     ORDER BY c.transaction_id, c.pk_entity_change_log LIMIT $8::integer`,
    [
      ...windowParams(from, to),
      filter.tenant ?? null,
      filter.entityType ?? null,
      filter.modificationTypes ? `{${filter.modificationTypes.join(",")}}` : null,
      limit,
    ],
  );
}

/** Log rows (attempts) after `from`, as `readLiveChanges` reads changes. */
export async function readLiveExecutions(
  sql: SqlExecutor,
  from: StreamPosition,
  to: StreamPosition | null,
  limit: number,
  filter: LiveReadFilter = {},
): Promise<ExecutionRow[]> {
  return sql.query<ExecutionRow>(
    `SELECT l.pk_observer_log::text AS pk_observer_log, l.transaction_id::text AS transaction_id,
       o.id::text AS observer_id, o.name AS observer_name, l.delivery_id::text AS delivery_id,
       l.event_id::text AS event_id, l.entity_type, l.entity_id, l.event_type, l.status,
       l.action_index, l.action_type, l.attempt_number, l.max_attempts, l.duration_ms,
       l.error_code, l.fk_customer_org::text AS fk_customer_org,
       CASE WHEN l.fk_observer IS NULL OR o.fk_customer_org = l.fk_customer_org
         THEN l.fk_customer_org::text END AS audience,
       ${isoColumn("l.created_at")}
     FROM core.tb_observer_log l LEFT JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
     WHERE ${window("l.transaction_id", "l.pk_observer_log")}
       AND ${tenantCondition("l.fk_customer_org", 5)}
       AND ${observerTenantCondition("l.fk_observer", 5, true)}
       AND ($6::text IS NULL OR l.entity_type = $6::text)
       AND ($7::text::text[] IS NULL OR upper(l.event_type) = ANY($7::text::text[]))
       AND ($8::uuid IS NULL OR o.id = $8::uuid)
     ORDER BY l.transaction_id, l.pk_observer_log LIMIT $9::integer`,
    [
      ...windowParams(from, to),
      filter.tenant ?? null,
      filter.entityType ?? null,
      filter.modificationTypes ? `{${filter.modificationTypes.join(",")}}` : null,
      filter.observerId ?? null,
      limit,
    ],
  );
}
