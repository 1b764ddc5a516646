import { ConfigError, NotFoundError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import {
  isoColumn,
  isUuid,
  observerTenantCondition,
  type Page,
  type PageRequest,
  pageBounds,
  type TenantScope,
  tenantCondition,
  toPage,
} from "./common.ts";

/** A dead letter as the API returns it. */
export interface DeadLetter {
  id: string;
  /** The observer's public id; null once the observer row is gone. */
  observer_id: string | null;
  observer_name: string;
  /** The webhook-id a replay sends again. */
  delivery_id: string;
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  event_type: string;
  action_index: number;
  action_type: string;
  /**
   * The dead letter of an `on_dead_letter` action (docs/delivery.md): `action_index` indexes the
   * observer's `on_dead_letter`, and `reports` is the dead letter it was reporting.
   */
  on_dead_letter: boolean;
  reports: string | null;
  attempts: number;
  max_attempts: number;
  error_code: string | null;
  error_message: string | null;
  response_status_code: number | null;
  /** `pending` (waiting for a person) or `retrying` (a replay is queued or running). */
  status: "pending" | "retrying";
  retry_count: number;
  created_at: string;
  last_attempt_at: string;
  last_retry_at: string | null;
}

/** Filters and page of `listDeadLetters`. */
export interface ListDeadLettersOptions extends PageRequest, TenantScope {
  /** Only this observer's (its public id). */
  observerId?: string;
}

const COLUMNS = `q.id::text AS id, o.id::text AS observer_id, q.observer_name,
  q.delivery_id::text AS delivery_id, q.event_id::text AS event_id, q.object_type AS entity_type,
  q.object_id AS entity_id, q.modification_type AS event_type, q.action_index, q.action_type,
  q.dead_letter IS NOT NULL AS on_dead_letter, q.dead_letter ->> 'dead_letter_id' AS reports,
  q.attempts, q.max_attempts, q.error_code, q.error_message, q.response_status_code, q.status,
  q.retry_count, ${isoColumn("q.created_at")}, ${isoColumn("q.last_attempt_at")},
  ${isoColumn("q.last_retry_at")}`;
const FROM =
  "FROM core.tb_observer_dlq q LEFT JOIN core.tb_observer o ON o.pk_observer = q.fk_observer";

/**
 * Which dead letters `q` a caller may see and touch ($n its tenant, or NULL for all): its tenant's
 * items of its tenant's observers. A global observer's items are the admin's, even for a tenant's
 * change: a tenant key can neither read, replay nor delete them (404, as for an id that does not
 * exist).
 */
export function inScope(n: number): string {
  return `${tenantCondition("q.fk_customer_org", n)} AND ${observerTenantCondition("q.fk_observer", n)}`;
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no dead letter with id ${quoted(id)}`);
}

/** A page of dead letters, newest first. */
export async function listDeadLetters(
  sql: SqlExecutor,
  options: ListDeadLettersOptions,
): Promise<Page<DeadLetter>> {
  const observerId = options.observerId ?? null;
  if (observerId !== null && !isUuid(observerId)) {
    throw new ConfigError([{ path: "observer_id", message: "must be an observer id (a UUID)" }]);
  }
  const { page, limit, offset } = pageBounds(options);
  const where = `WHERE ${inScope(1)} AND ($2::uuid IS NULL OR o.id = $2::uuid)`;
  const params = [options.tenant ?? null, observerId];
  const [rows, counts] = await Promise.all([
    sql.query<DeadLetter>(
      `SELECT ${COLUMNS} ${FROM} ${where}
       ORDER BY q.created_at DESC, q.pk_observer_dlq DESC LIMIT $3::integer OFFSET $4::bigint`,
      [...params, limit, offset],
    ),
    sql.query<{ total: string }>(`SELECT count(*)::text AS total ${FROM} ${where}`, params),
  ]);
  return toPage(rows, page, limit, Number(counts[0]?.total ?? 0));
}

/** One dead letter; `NotFoundError` when absent or another tenant's. */
export async function getDeadLetter(
  sql: SqlExecutor,
  id: string,
  scope: TenantScope = {},
): Promise<DeadLetter> {
  if (!isUuid(id)) throw notFound(id);
  const rows = await sql.query<DeadLetter>(
    `SELECT ${COLUMNS} ${FROM} WHERE q.id = $1::uuid AND ${inScope(2)}`,
    [id, scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) throw notFound(id);
  return row;
}

/** Deletes a dead letter for good (and any replay of it still queued). */
export async function deleteDeadLetter(
  sql: SqlExecutor,
  id: string,
  scope: TenantScope = {},
): Promise<void> {
  if (!isUuid(id)) throw notFound(id);
  const rows = await sql.query(
    `DELETE FROM core.tb_observer_dlq q WHERE q.id = $1::uuid AND ${inScope(2)} RETURNING 1 AS deleted`,
    [id, scope.tenant ?? null],
  );
  if (rows.length === 0) throw notFound(id);
}

/** The dead-letter queue in numbers: FraiseQL's fields, then ours. */
export interface DeadLetterStats {
  total_items: number;
  /** Sum of every item's `retry_count`. */
  total_retries: number;
  /** Always 0: the queue is a table, nothing is ever dropped (FraiseQL's in-memory one could). */
  dropped: number;
  by_action: Record<string, number>;
  pending: number;
  retrying: number;
  oldest_created_at: string | null;
  /** By the last failure's error code; `none` for items without one. */
  by_error_code: Record<string, number>;
  /** The 50 observers with the most items, most first; gone observers have a null id. */
  by_observer: { observer_id: string | null; observer_name: string; count: number }[];
}

/** Counts of the dead letters in scope. */
export async function deadLetterStats(
  sql: SqlExecutor,
  scope: TenantScope = {},
): Promise<DeadLetterStats> {
  const rows = await sql.query<{
    total: string;
    retries: string;
    pending: string;
    retrying: string;
    oldest_created_at: string | null;
    by_action: string;
    by_error_code: string;
    by_observer: string;
  }>(
    `WITH q AS (SELECT * FROM core.tb_observer_dlq q WHERE ${inScope(1)})
     SELECT count(*)::text AS total, COALESCE(sum(retry_count), 0)::text AS retries,
       count(*) FILTER (WHERE status = 'pending')::text AS pending,
       count(*) FILTER (WHERE status = 'retrying')::text AS retrying,
       ${isoColumn("min(created_at)", "oldest_created_at")},
       (SELECT COALESCE(jsonb_object_agg(action_type, n), '{}')::text
        FROM (SELECT action_type, count(*) AS n FROM q GROUP BY action_type) a) AS by_action,
       (SELECT COALESCE(jsonb_object_agg(code, n), '{}')::text
        FROM (SELECT COALESCE(error_code, 'none') AS code, count(*) AS n FROM q GROUP BY 1) e)
         AS by_error_code,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('observer_id', b.observer_id,
            'observer_name', b.observer_name, 'count', b.n)
            ORDER BY b.n DESC, b.observer_name, b.observer_id), '[]')::text
        FROM (
          -- Live observers by their row (under their current name); gone ones by their old name.
          SELECT o.id::text AS observer_id, COALESCE(o.name, min(q.observer_name)) AS observer_name,
            count(*) AS n
          FROM q LEFT JOIN core.tb_observer o ON o.pk_observer = q.fk_observer
          GROUP BY q.fk_observer, o.id, o.name,
            CASE WHEN q.fk_observer IS NULL THEN q.observer_name END
          ORDER BY n DESC, observer_name, observer_id
          LIMIT 50
        ) b) AS by_observer
     FROM q`,
    [scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error("dead-letter stats returned no row");
  return {
    total_items: Number(row.total),
    total_retries: Number(row.retries),
    dropped: 0,
    by_action: JSON.parse(row.by_action) as Record<string, number>,
    pending: Number(row.pending),
    retrying: Number(row.retrying),
    oldest_created_at: row.oldest_created_at,
    by_error_code: JSON.parse(row.by_error_code) as Record<string, number>,
    by_observer: JSON.parse(row.by_observer) as DeadLetterStats["by_observer"],
  };
}
