/**
 * What NATS mode keeps in PostgreSQL (migration 0013): the bridges' publishing lease, the changes
 * workers matched (so a redelivered message creates nothing twice), and messages that could not
 * be decoded.
 */
import type { SqlExecutor } from "../ports/sql.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { type Page, type PageRequest, pageBounds, toPage } from "./common.ts";
import {
  deliveryCtes,
  deliveryParams,
  isTimed,
  type LeasedDelivery,
  type NewDelivery,
} from "./deliveries.ts";
import { arrayColumn } from "./pg-array.ts";

/**
 * Takes or renews the bridge lease `name` for `owner` for `leaseMs`: true when `owner` holds it
 * now. Another owner's lease is taken only once it has expired, so at most one bridge publishes.
 */
export async function holdBridgeLease(
  sql: SqlExecutor,
  name: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await sql.query<{ owner: string }>(
    `INSERT INTO core.tb_nats_bridge_lease AS l (name, owner, expires_at)
     VALUES ($1, $2, now() + $3 * interval '1 millisecond')
     ON CONFLICT (name) DO UPDATE
       SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, renewed_at = now(),
           acquired_at = CASE WHEN l.owner = EXCLUDED.owner THEN l.acquired_at ELSE now() END
       WHERE l.owner = EXCLUDED.owner OR l.expires_at < now()
     RETURNING owner`,
    [name, owner, leaseMs],
  );
  return rows[0]?.owner === owner;
}

/** Gives the lease up (graceful stop), so another bridge takes over at once. */
export async function releaseBridgeLease(
  sql: SqlExecutor,
  name: string,
  owner: string,
): Promise<void> {
  await sql.query(`DELETE FROM core.tb_nats_bridge_lease WHERE name = $1 AND owner = $2`, [
    name,
    owner,
  ]);
}

/** Creates cursor `listenerId` where cursor `from` stands, unless it exists already. */
export async function startCursorAt(
  sql: SqlExecutor,
  listenerId: string,
  from: string,
): Promise<void> {
  await sql.query(
    `INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
     SELECT $1, last_transaction_id, last_processed_id FROM core.tb_observer_checkpoint
     WHERE listener_id = $2
     ON CONFLICT (listener_id) DO NOTHING`,
    [listenerId, from],
  );
}

/** The current observer revision and which of `eventIds` workers already matched. */
export async function readIngested(
  sql: SqlExecutor,
  eventIds: readonly string[],
): Promise<{ revision: string; ingested: Set<string> }> {
  const rows = await sql.query<{ revision: string | null; event_id: string | null }>(
    `SELECT (SELECT max(revision) FROM core.tb_observer_revision)::text AS revision, i.event_id::text
     FROM (SELECT 1) one LEFT JOIN core.tb_nats_ingested i
       ON i.event_id = ANY($1::text::uuid[])`,
    [arrayColumn(eventIds, (id) => id)],
  );
  const ingested = new Set<string>();
  for (const row of rows) if (row.event_id !== null) ingested.add(row.event_id);
  return { revision: rows[0]?.revision ?? "0", ingested };
}

/**
 * In one statement (synchronously committed: the messages are acknowledged on its strength):
 * records `changes` as matched and creates the deliveries of those not matched before, with the
 * PostgreSQL path's statement parts (`deliveryCtes`: same webhook-id, same due times and debounce
 * collapse for `delay_ms`, `run_at_template` and `debounce`), the ones marked `leased` leased to
 * `owner`. Returns the event ids recorded now and the deliveries created leased.
 */
export async function writeTransportIngest(
  sql: SqlExecutor,
  batch: {
    changes: readonly { eventId: string; changeLogId: string }[];
    deliveries: readonly NewDelivery[];
    owner: string;
    leaseMs: number;
  },
): Promise<{ recorded: Set<string>; leased: LeasedDelivery[] }> {
  const timed = isTimed(batch.deliveries);
  const rows = await sql.query<{
    kind: "change" | "delivery";
    event_id: string | null;
    pk: string | null;
    id: string | null;
    fk_entity_change_log: string | null;
    fk_observer: string | null;
    action_index: number | null;
  }>(
    `WITH marked AS (
       INSERT INTO core.tb_nats_ingested (event_id, fk_entity_change_log)
       SELECT * FROM unnest($1::text::uuid[], $2::text::bigint[])
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_id
     ),
     ${deliveryCtes("x.event_id::uuid IN (SELECT event_id FROM marked)", 3, timed)}
     SELECT 'change' AS kind, event_id::text AS event_id, NULL::text AS pk, NULL::text AS id,
       NULL::text AS fk_entity_change_log, NULL::text AS fk_observer, NULL::integer AS action_index
     FROM marked
     UNION ALL
     SELECT 'delivery', NULL, pk_observer_delivery::text, id::text, fk_entity_change_log::text,
       fk_observer::text, action_index
     FROM created WHERE lease_owner IS NOT NULL`,
    [
      arrayColumn(batch.changes, (c) => c.eventId),
      arrayColumn(batch.changes, (c) => c.changeLogId),
      ...deliveryParams(batch.deliveries, batch.owner, batch.leaseMs, timed),
    ],
  );
  const recorded = new Set<string>();
  const leased: LeasedDelivery[] = [];
  for (const row of rows) {
    if (row.kind === "change") recorded.add(row.event_id as string);
    else {
      leased.push({
        pk: row.pk as string,
        id: row.id as string,
        fk_entity_change_log: row.fk_entity_change_log as string,
        fk_observer: row.fk_observer as string,
        action_index: row.action_index as number,
      });
    }
  }
  return { recorded, leased };
}

/** Change-log rows by id (for messages sent without their images), as the reader selects them. */
export async function readChangeRows(
  sql: SqlExecutor,
  changeLogIds: readonly string[],
): Promise<Map<string, ChangeRow>> {
  const rows = await sql.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c
     WHERE c.pk_entity_change_log = ANY($1::text::bigint[])`,
    [arrayColumn(changeLogIds, (id) => id)],
  );
  return new Map(rows.map((row) => [row.pk_entity_change_log, row]));
}

/** A message that could not be decoded, kept with its raw payload. */
export interface UndecodedMessage {
  stream: string;
  sequence: number;
  subject: string;
  headers: Record<string, string[]>;
  payload: Uint8Array;
  error: string;
}

/** Undecodable messages kept (core.tb_nats_dead_letter), counted up to `cap`. */
export async function countUndecodedMessages(sql: SqlExecutor, cap = 100_000): Promise<number> {
  const rows = await sql.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM (SELECT 1 FROM core.tb_nats_dead_letter LIMIT $1) d`,
    [cap],
  );
  return Number(rows[0]?.n ?? 0);
}

/** An undecodable message as the API lists it: its raw payload in base64. */
export interface UndecodedMessageRow {
  id: string;
  stream: string;
  stream_sequence: number | null;
  subject: string;
  headers: Record<string, string[]>;
  payload_base64: string;
  payload_bytes: number;
  error: string;
  created_at: string;
}

/** A page of undecodable messages, newest first (`GET /api/observers/nats/dead-letters`). */
export async function listUndecodedMessages(
  sql: SqlExecutor,
  request: PageRequest,
): Promise<Page<UndecodedMessageRow>> {
  const { page, limit, offset } = pageBounds(request);
  const [rows, counts] = await Promise.all([
    sql.query<
      Omit<UndecodedMessageRow, "headers" | "stream_sequence"> & {
        headers: string;
        stream_sequence: string | null;
      }
    >(
      `SELECT pk_nats_dead_letter::text AS id, stream, stream_sequence::text AS stream_sequence,
         subject, headers::text AS headers, encode(payload, 'base64') AS payload_base64,
         octet_length(payload) AS payload_bytes, error,
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
       FROM core.tb_nats_dead_letter
       ORDER BY pk_nats_dead_letter DESC LIMIT $1::integer OFFSET $2::bigint`,
      [limit, offset],
    ),
    sql.query<{ total: string }>(`SELECT count(*)::text AS total FROM core.tb_nats_dead_letter`),
  ]);
  const data = rows.map((row) => ({
    ...row,
    // PostgreSQL's base64 breaks lines every 76 characters.
    payload_base64: row.payload_base64.replace(/\n/g, ""),
    payload_bytes: Number(row.payload_bytes),
    stream_sequence: row.stream_sequence === null ? null : Number(row.stream_sequence),
    headers: JSON.parse(row.headers) as Record<string, string[]>,
  }));
  return toPage(data, page, limit, Number(counts[0]?.total ?? 0));
}

/** Keeps an undecodable message (once per stream sequence, so a redelivery adds nothing). */
export async function recordUndecodedMessage(
  sql: SqlExecutor,
  message: UndecodedMessage,
): Promise<void> {
  await sql.query(
    `INSERT INTO core.tb_nats_dead_letter (stream, stream_sequence, subject, headers, payload, error)
     VALUES ($1, $2, $3, $4::text::jsonb, decode($5, 'base64'), $6)
     ON CONFLICT (stream, stream_sequence) DO NOTHING`,
    [
      message.stream,
      message.sequence,
      message.subject,
      JSON.stringify(message.headers),
      toBase64(message.payload),
      message.error.slice(0, 2000),
    ],
  );
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Forgets matched changes older than `matchedDays` (well past any redelivery) and undecodable
 * messages older than `deadDays`, up to 10 000 rows of each per call.
 */
export async function pruneTransportTables(
  sql: SqlExecutor,
  matchedDays: number,
  deadDays: number,
): Promise<{ matched: number; undecodable: number }> {
  const rows = await sql.query<{ matched: string; undecodable: string }>(
    `WITH m AS (DELETE FROM core.tb_nats_ingested WHERE event_id IN (
       SELECT event_id FROM core.tb_nats_ingested WHERE created_at < now() - $1 * interval '1 day'
       LIMIT 10000) RETURNING 1),
     u AS (DELETE FROM core.tb_nats_dead_letter WHERE pk_nats_dead_letter IN (
       SELECT pk_nats_dead_letter FROM core.tb_nats_dead_letter
       WHERE created_at < now() - $2 * interval '1 day' LIMIT 10000) RETURNING 1)
     SELECT (SELECT count(*) FROM m)::text AS matched, (SELECT count(*) FROM u)::text AS undecodable`,
    [matchedDays, deadDays],
  );
  return { matched: Number(rows[0]?.matched ?? 0), undecodable: Number(rows[0]?.undecodable ?? 0) };
}
