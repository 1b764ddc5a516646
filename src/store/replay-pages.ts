/**
 * Working replays (src/store/replays.ts has what the API starts, reads and cancels): a runtime
 * takes a running replay's lease (`takeReplay`), reads its next page of changes in the reader's
 * commit order (`readReplayPage`) and creates the page's deliveries in the statement that moves
 * its cursor (`writeReplayPage`), so a runtime killed mid-replay leaves a cursor another resumes
 * from and no change is replayed twice.
 */
import type { SqlExecutor } from "../ports/sql.ts";
import { modificationsMatching } from "./backtest.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { arrayColumn } from "./pg-array.ts";

/** A replay leased to a runtime, with what working it needs. */
export interface LeasedReplay {
  pk: string;
  id: string;
  since: string;
  until: string;
  cursorTxid: string;
  cursorId: string;
  endTxid: string;
  observer: {
    pk: string;
    id: string;
    entity_type: string | null;
    event_type: string | null;
    condition_expression: string | null;
    fk_customer_org: string | null;
    actions: number;
    perEntity: boolean;
    deleted: boolean;
  };
}

/** Takes the lease of a running replay nobody holds (or whose holder's lease ran out). */
export async function takeReplay(
  sql: SqlExecutor,
  owner: string,
  leaseMs: number,
): Promise<LeasedReplay | null> {
  const rows = await sql.query<{
    pk: string;
    id: string;
    since: string;
    until: string;
    cursor_txid: string;
    cursor_id: string;
    end_txid: string;
    observer_pk: string;
    observer_id: string;
    entity_type: string | null;
    event_type: string | null;
    condition_expression: string | null;
    fk_customer_org: string | null;
    actions: number;
    ordering: string;
    deleted: boolean;
  }>(
    `WITH picked AS (
       SELECT pk_observer_replay FROM core.tb_observer_replay
       WHERE status = 'running'
         AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < now())
       ORDER BY pk_observer_replay LIMIT 1
       FOR UPDATE SKIP LOCKED
     ),
     r AS (
       UPDATE core.tb_observer_replay r
       SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond'
       FROM picked WHERE r.pk_observer_replay = picked.pk_observer_replay
       RETURNING r.*
     )
     SELECT r.pk_observer_replay::text AS pk, r.id::text AS id, r.since::text AS since,
       r.until::text AS until, r.cursor_txid::text AS cursor_txid,
       r.cursor_id::text AS cursor_id, r.end_txid::text AS end_txid,
       o.pk_observer::text AS observer_pk, o.id::text AS observer_id, o.entity_type,
       o.event_type, o.condition_expression, o.fk_customer_org::text AS fk_customer_org,
       jsonb_array_length(o.actions) AS actions, o.ordering, o.deleted_at IS NOT NULL AS deleted
     FROM r JOIN core.tb_observer o ON o.pk_observer = r.fk_observer`,
    [owner, leaseMs],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    pk: row.pk,
    id: row.id,
    since: row.since,
    until: row.until,
    cursorTxid: row.cursor_txid,
    cursorId: row.cursor_id,
    endTxid: row.end_txid,
    observer: {
      pk: row.observer_pk,
      id: row.observer_id,
      entity_type: row.entity_type,
      event_type: row.event_type,
      condition_expression: row.condition_expression,
      fk_customer_org: row.fk_customer_org,
      actions: Number(row.actions),
      perEntity: row.ordering === "per_entity",
      deleted: row.deleted,
    },
  };
}

/**
 * The next page of a replay's range after its cursor, in the reader's order: only the changes the
 * observer considers (its entity and event types and tenant, as the dry run and `total` count
 * them), so `scanned` runs up to `total`.
 */
export async function readReplayPage(
  sql: SqlExecutor,
  replay: LeasedReplay,
  limit: number,
): Promise<ChangeRow[]> {
  return sql.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c
     WHERE (c.transaction_id, c.pk_entity_change_log) > ($1::text::xid8, $2::bigint)
       AND c.transaction_id <= $3::text::xid8
       -- As text: a client would read a string as a Date, to the millisecond, and the range is
       -- to the microsecond (created_at has them).
       AND c.created_at >= $4::text::timestamptz AND c.created_at < $5::text::timestamptz
       AND ($6::text IS NULL OR c.object_type = $6::text)
       AND upper(c.modification_type) = ANY($8::text::text[])
       AND ($9::text IS NULL OR COALESCE(c.fk_customer_org::text, c.tenant_id::text) = $9::text)
     ORDER BY c.transaction_id, c.pk_entity_change_log
     LIMIT $7`,
    [
      replay.cursorTxid,
      replay.cursorId,
      replay.endTxid,
      replay.since,
      replay.until,
      replay.observer.entity_type === "*" ? null : replay.observer.entity_type,
      limit,
      `{${modificationsMatching(replay.observer.event_type).join(",")}}`,
      replay.observer.fk_customer_org,
    ],
  );
}

/** A delivery a replay page creates. */
export interface ReplayDelivery {
  change: ChangeRow;
  actionIndex: number;
  ordering: { key: string; txid: string } | null;
}

/**
 * Writes one page: moves the cursor from where the page was read to `to` (or ends the replay,
 * `last`), counts it, renews the lease and creates its deliveries, all only if the replay is still
 * running, still this owner's and its cursor still where it was read. False: cancelled, taken
 * over or written already; nothing was written.
 */
export async function writeReplayPage(
  sql: SqlExecutor,
  replay: LeasedReplay,
  page: {
    owner: string;
    leaseMs: number;
    to: { txid: string; id: string };
    scanned: number;
    matched: number;
    last: boolean;
    deliveries: readonly ReplayDelivery[];
  },
): Promise<boolean> {
  const rows = await sql.query<{ moved: boolean }>(
    `WITH moved AS (
       UPDATE core.tb_observer_replay
       SET cursor_txid = $4::text::xid8, cursor_id = $5::bigint, scanned = scanned + $6,
         matched = matched + $7, created = created + $8,
         status = CASE WHEN $9::boolean THEN 'done' ELSE status END,
         finished_at = CASE WHEN $9::boolean THEN now() END,
         lease_until = now() + $10 * interval '1 millisecond', updated_at = now()
       WHERE pk_observer_replay = $1::bigint AND status = 'running' AND lease_owner = $11
         AND cursor_txid = $2::text::xid8 AND cursor_id = $3::bigint
       RETURNING id
     ),
     x AS (
       SELECT * FROM unnest($12::text::text[], $13::text::bigint[], $14::text::integer[],
         $15::text::bigint[], $16::text::text[], $17::text::xid8[])
         AS x(event_id, fk_entity_change_log, action_index, fk_customer_org, ordering_key,
           ordering_txid)
     ),
     created AS (
       INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_entity_change_log,
         action_index, fk_customer_org, ordering_key, ordering_txid)
       SELECT md5(m.id::text || ':' || x.event_id || ':' || $18::text || ':' || x.action_index)::uuid,
         x.event_id::uuid, $18::bigint, x.fk_entity_change_log, x.action_index, x.fk_customer_org,
         x.ordering_key, x.ordering_txid
       FROM x, moved m
     )
     SELECT EXISTS (SELECT 1 FROM moved) AS moved`,
    [
      replay.pk,
      replay.cursorTxid,
      replay.cursorId,
      page.to.txid,
      page.to.id,
      page.scanned,
      page.matched,
      page.deliveries.length,
      page.last,
      page.leaseMs,
      page.owner,
      arrayColumn(page.deliveries, (d) => d.change.id),
      arrayColumn(page.deliveries, (d) => d.change.pk_entity_change_log),
      arrayColumn(page.deliveries, (d) => d.actionIndex),
      arrayColumn(page.deliveries, (d) => d.change.fk_customer_org),
      arrayColumn(page.deliveries, (d) => d.ordering?.key),
      arrayColumn(page.deliveries, (d) => d.ordering?.txid),
      replay.observer.pk,
    ],
  );
  if (rows[0]?.moved !== true) return false;
  replay.cursorTxid = page.to.txid;
  replay.cursorId = page.to.id;
  return true;
}

/** Gives a replay's lease up (the runtime stops), so another runtime resumes it at once. */
export async function releaseReplay(
  sql: SqlExecutor,
  replay: LeasedReplay,
  owner: string,
): Promise<void> {
  await sql.query(
    `UPDATE core.tb_observer_replay SET lease_owner = NULL, lease_until = NULL
     WHERE pk_observer_replay = $1::bigint AND lease_owner = $2`,
    [replay.pk, owner],
  );
}

/** Ends a replay that cannot go on (its observer was deleted). */
export async function failReplay(
  sql: SqlExecutor,
  replay: LeasedReplay,
  owner: string,
  error: string,
): Promise<void> {
  await sql.query(
    `UPDATE core.tb_observer_replay
     SET status = 'failed', error = $3, finished_at = now(), updated_at = now()
     WHERE pk_observer_replay = $1::bigint AND status = 'running' AND lease_owner = $2`,
    [replay.pk, owner, error.slice(0, 2000)],
  );
}
