import type { SqlExecutor } from "../ports/sql.ts";

/** A position in the change log's gap-free read order `(transaction_id, pk_entity_change_log)`. */
export interface ChangeCursor {
  /** `xid8` as a decimal string. */
  transactionId: string;
  /** `pk_entity_change_log` as a decimal string. */
  changeLogId: string;
}

/** A change-log row as the reader selects it: exact text for ids and JSON, ready for `normalizeChangeEvent`. */
export interface ChangeRow extends Record<string, unknown> {
  pk_entity_change_log: string;
  id: string;
  object_type: string;
  modification_type: string;
  object_id: string | null;
  object_data: string | null;
  object_data_before: string | null;
  fk_customer_org: string | null;
  tenant_id: string | null;
  trace_id: string | null;
  transaction_id: string;
  created_at: Date | string;
}

/** The select list of a change row (alias `c`); shared with the claim, which reads the same columns. */
export const CHANGE_COLUMNS = `c.pk_entity_change_log::text AS pk_entity_change_log, c.id::text AS id,
  c.object_type, c.modification_type, c.object_id::text AS object_id,
  c.object_data::text AS object_data, c.object_data_before::text AS object_data_before,
  c.fk_customer_org::text AS fk_customer_org, c.tenant_id::text AS tenant_id, c.trace_id,
  c.transaction_id::text AS transaction_id, c.created_at`;

/** What the reader found: the cursor it locked, the observer revision, and the next changes. */
export interface ChangeBatch {
  cursor: ChangeCursor;
  observerRevision: string;
  rows: ChangeRow[];
  /**
   * Committed or running changes exist past the cursor that are not below the horizon yet: a
   * transaction still running (anywhere on the server) holds them back, so look again soon.
   */
  heldBack: boolean;
}

/**
 * In one statement: reads the listener's cursor, the observer revision, and up to `limit` changes
 * after the cursor whose writing transaction ended before every transaction still running began
 * (`transaction_id < xmin` of the snapshot). No row can ever appear below those, so advancing past
 * them never skips a change that commits late. No lock is taken: `writeIngest` moves the cursor
 * only from where this read found it. The cursor is created at the start of the log the first
 * time.
 */
export async function readNextChanges(
  sql: SqlExecutor,
  listenerId: string,
  limit: number,
): Promise<ChangeBatch | null> {
  type Row = Partial<ChangeRow> & {
    cursor_transaction_id: string;
    cursor_change_log_id: string;
    observer_revision: string | null;
    held_back: boolean;
  };
  const read = () =>
    sql.query<Row>(
      `WITH k AS (
         SELECT last_transaction_id, last_processed_id FROM core.tb_observer_checkpoint
         WHERE listener_id = $1
       )
       SELECT k.last_transaction_id::text AS cursor_transaction_id,
         k.last_processed_id::text AS cursor_change_log_id,
         (SELECT max(revision) FROM core.tb_observer_revision)::text AS observer_revision,
         -- The cursor only ever passes rows below the horizon, so any row at or above it is past
         -- the cursor. max() reads one end of the read-order index (an EXISTS with this
         -- condition is planned as a sequential scan).
         (SELECT max(h.transaction_id) FROM core.tb_entity_change_log h)
           >= pg_snapshot_xmin(pg_current_snapshot()) AS held_back, c.*
       FROM k LEFT JOIN LATERAL (
         SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c
         WHERE (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id)
           AND c.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY c.transaction_id, c.pk_entity_change_log
         LIMIT $2
       ) c ON true`,
      [listenerId, limit],
    );
  let rows = await read();
  if (rows.length === 0) {
    await sql.query(
      `INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ($1)
       ON CONFLICT (listener_id) DO NOTHING`,
      [listenerId],
    );
    rows = await read();
  }
  const first = rows[0];
  if (!first) return null;
  return {
    cursor: {
      transactionId: first.cursor_transaction_id,
      changeLogId: first.cursor_change_log_id,
    },
    observerRevision: first.observer_revision ?? "0",
    rows: first.pk_entity_change_log == null ? [] : (rows as unknown as ChangeRow[]),
    heldBack: first.held_back === true,
  };
}

/** What the listener has not read yet, for health: a count (capped) and the oldest change's age. */
export async function readBacklog(
  sql: SqlExecutor,
  listenerId: string,
  cap = 100_000,
): Promise<{ lastChangeLogId: string | null; pending: number; oldestMs: number; due: number }> {
  const rows = await sql.query<{
    last_id: string | null;
    pending: string;
    oldest_ms: string | null;
    due: string;
  }>(
    `WITH k AS (
       SELECT last_transaction_id, last_processed_id FROM core.tb_observer_checkpoint WHERE listener_id = $1
       UNION ALL SELECT '0'::xid8, 0 WHERE NOT EXISTS (SELECT 1 FROM core.tb_observer_checkpoint WHERE listener_id = $1)
     ), pending AS (
       SELECT c.created_at FROM core.tb_entity_change_log c, k
       WHERE (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id)
       LIMIT $2
     )
     SELECT (SELECT NULLIF(last_processed_id, 0)::text FROM k) AS last_id,
            (SELECT count(*) FROM pending)::text AS pending,
            (SELECT floor(extract(epoch FROM now() - min(created_at)) * 1000)::text FROM pending) AS oldest_ms,
            (SELECT count(*) FROM (SELECT 1 FROM core.tb_observer_delivery
               WHERE next_attempt_at <= now() LIMIT $2) d)::text AS due`,
    [listenerId, cap],
  );
  const row = rows[0];
  return {
    lastChangeLogId: row?.last_id ?? null,
    pending: Number(row?.pending ?? 0),
    oldestMs: Math.max(0, Number(row?.oldest_ms ?? 0)),
    due: Number(row?.due ?? 0),
  };
}
