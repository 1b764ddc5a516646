/**
 * What NATS mode keeps in PostgreSQL (migration 0013): the bridges' publishing lease, the changes
 * workers matched (so a redelivered message creates nothing twice), and messages that could not
 * be decoded.
 */
import type { SqlExecutor } from "../ports/sql.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import type { LeasedDelivery, NewDelivery } from "./deliveries.ts";
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
 * records `changes` as matched and creates the deliveries of those not matched before, leased to
 * `owner`. The webhook-id is the digest the PostgreSQL path uses. Returns the event ids recorded
 * now and the deliveries created.
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
     x AS (
       SELECT * FROM unnest($3::text::text[], $4::text::bigint[], $5::text::bigint[],
         $6::text::integer[], $7::text::bigint[])
         AS x(event_id, fk_observer, fk_entity_change_log, action_index, fk_customer_org)
     ),
     created AS (
       INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_entity_change_log,
         action_index, fk_customer_org, lease_owner, next_attempt_at)
       SELECT md5(x.event_id || ':' || x.fk_observer || ':' || x.action_index)::uuid,
         x.event_id::uuid, x.fk_observer, x.fk_entity_change_log, x.action_index,
         x.fk_customer_org, $8, now() + $9 * interval '1 millisecond'
       FROM x JOIN marked m ON m.event_id = x.event_id::uuid
       RETURNING pk_observer_delivery, id, fk_entity_change_log, fk_observer, action_index
     )
     SELECT 'change' AS kind, event_id::text AS event_id, NULL::text AS pk, NULL::text AS id,
       NULL::text AS fk_entity_change_log, NULL::text AS fk_observer, NULL::integer AS action_index
     FROM marked
     UNION ALL
     SELECT 'delivery', NULL, pk_observer_delivery::text, id::text, fk_entity_change_log::text,
       fk_observer::text, action_index
     FROM created`,
    [
      arrayColumn(batch.changes, (c) => c.eventId),
      arrayColumn(batch.changes, (c) => c.changeLogId),
      arrayColumn(batch.deliveries, (d) => d.event_id),
      arrayColumn(batch.deliveries, (d) => d.fk_observer),
      arrayColumn(batch.deliveries, (d) => d.fk_entity_change_log),
      arrayColumn(batch.deliveries, (d) => d.action_index),
      arrayColumn(batch.deliveries, (d) => d.fk_customer_org),
      batch.owner,
      batch.leaseMs,
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
