/**
 * Creating deliveries: the statement that matches a batch of changes into deliveries while it
 * moves the reader's cursor (and its parts, shared with the NATS worker's ingest). Claiming them
 * is src/store/claims.ts.
 */
import type { PlannedTiming } from "../actions/timing.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { ChangeCursor } from "./change-log.ts";
import { arrayColumn } from "./pg-array.ts";
import { RELAXED_COMMIT_CTE } from "./relaxed-commit.ts";

/** A delivery to create: one action of one observer for one change. */
export interface NewDelivery {
  /** The change's UUID (`event_id`): with the observer and action it makes the webhook-id. */
  event_id: string;
  fk_observer: string;
  fk_entity_change_log: string;
  action_index: number;
  fk_customer_org: string | null;
  /** Create it already leased to the ingesting runtime, which runs it right after commit. */
  leased: boolean;
  /** Due later (`delay_ms`, `run_at_template`) or debounced: never leased. */
  timing?: PlannedTiming;
  /**
   * A `per_entity` observer's delivery (docs/delivery.md): its entity, and its change's
   * transaction id (its place in commit order, with `fk_entity_change_log`). Leased at creation
   * only when no delivery of the same observer, action and key is in the table yet.
   */
  ordering?: { key: string; txid: string };
}

/** The ordering key of a change's entity: tenant, entity type and entity id. */
export const orderingKey = (change: {
  fk_customer_org: string | null;
  object_type: string;
  object_id: string | null;
}): string => JSON.stringify([change.fk_customer_org, change.object_type, change.object_id]);

/** A delivery created leased: its row and webhook-id. */
export interface LeasedDelivery {
  pk: string;
  id: string;
  fk_entity_change_log: string;
  fk_observer: string;
  action_index: number;
}

/**
 * The CTEs creating deliveries (`x`, `created`, and for a timed batch `debounced`), shared by the
 * PostgreSQL path's ingest (`writeIngest`) and the NATS worker's (src/store/transport.ts): one
 * source of truth for the webhook-id, the due times (docs/time.md) and the debounce collapse.
 * `gate` is a condition on `x` (the row may be created); the parameters, from `$first`, are
 * `deliveryParams`'s. `created` returns the rows, leased ones with their `lease_owner`.
 */
export function deliveryCtes(gate: string, first: number, timed: boolean): string {
  const $ = (i: number) => `$${first + i}`;
  const columns = `${$(0)}::text::text[], ${$(1)}::text::bigint[], ${$(2)}::text::bigint[],
         ${$(3)}::text::integer[], ${$(4)}::text::bigint[], ${$(5)}::text::boolean[],
         ${$(8)}::text::text[], ${$(9)}::text::xid8[]`;
  const names = `event_id, fk_observer, fk_entity_change_log, action_index, fk_customer_org, leased,
           ordering_key, ordering_txid`;
  const x = timed
    ? `SELECT * FROM unnest(${columns}, ${$(10)}::text::bigint[],
         ${$(11)}::text::timestamptz[], ${$(12)}::text::text[], ${$(13)}::text::bigint[],
         ${$(14)}::text::bigint[])
         AS x(${names}, delay_ms, due_at, debounce_key, window_ms, max_wait_ms)`
    : `SELECT * FROM unnest(${columns}) AS x(${names})`;
  // An ordered delivery is leased at creation only when no delivery of its entity (for the same
  // observer and action) is in the table: one created due then waits for the earlier one.
  const created = `created AS (
       INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_entity_change_log,
         action_index, fk_customer_org, lease_owner, next_attempt_at, ordering_key, ordering_txid)
       SELECT md5(x.event_id || ':' || x.fk_observer || ':' || x.action_index)::uuid,
         x.event_id::uuid, x.fk_observer, x.fk_entity_change_log, x.action_index, x.fk_customer_org,
         CASE WHEN l.take THEN ${$(6)} END,
         CASE WHEN l.take THEN now() + ${$(7)} * interval '1 millisecond'
           ELSE ${timed ? "COALESCE(x.due_at, now() + COALESCE(x.delay_ms, 0) * interval '1 millisecond')" : "now()"} END,
         x.ordering_key, x.ordering_txid
       FROM x CROSS JOIN LATERAL (
         SELECT x.leased AND (x.ordering_key IS NULL OR NOT EXISTS (
           SELECT 1 FROM core.tb_observer_delivery e
           WHERE e.fk_observer = x.fk_observer AND e.action_index = x.action_index
             AND e.ordering_key = x.ordering_key)) AS take
       ) l
       WHERE (${gate})${timed ? " AND x.debounce_key IS NULL" : ""}
       RETURNING pk_observer_delivery, id, fk_entity_change_log, fk_observer, action_index, lease_owner
     )`;
  if (!timed)
    return `x AS (${x}),
     ${created}`;
  // Debounced: one pending row per (observer, action, key). A change finding one replaces its
  // change and pushes it back a window, never past the cap set by the first (debounce_until).
  // An ordered one takes the new change's place in commit order.
  const debounced = `debounced AS (
       INSERT INTO core.tb_observer_delivery AS d (id, event_id, fk_observer, fk_entity_change_log,
         action_index, fk_customer_org, next_attempt_at, debounce_key, debounce_until,
         ordering_key, ordering_txid)
       SELECT md5(x.event_id || ':' || x.fk_observer || ':' || x.action_index)::uuid,
         x.event_id::uuid, x.fk_observer, x.fk_entity_change_log, x.action_index, x.fk_customer_org,
         now() + x.window_ms * interval '1 millisecond', x.debounce_key,
         now() + x.max_wait_ms * interval '1 millisecond', x.ordering_key, x.ordering_txid
       FROM x WHERE (${gate}) AND x.debounce_key IS NOT NULL
       ON CONFLICT (fk_observer, action_index, debounce_key) WHERE debounce_key IS NOT NULL
       DO UPDATE SET id = EXCLUDED.id, event_id = EXCLUDED.event_id,
         fk_entity_change_log = EXCLUDED.fk_entity_change_log,
         fk_customer_org = EXCLUDED.fk_customer_org,
         next_attempt_at = LEAST(EXCLUDED.next_attempt_at, d.debounce_until),
         ordering_key = EXCLUDED.ordering_key, ordering_txid = EXCLUDED.ordering_txid
     )`;
  return `x AS (${x}),
     ${created},
     ${debounced}`;
}

/** Whether a batch needs the timed statement (some delivery is delayed or debounced). */
export const isTimed = (deliveries: readonly NewDelivery[]): boolean =>
  deliveries.some((d) => d.timing !== undefined);

/** The parameters of `deliveryCtes`, in its order. */
export function deliveryParams(
  deliveries: readonly NewDelivery[],
  owner: string,
  leaseMs: number,
  timed: boolean,
): unknown[] {
  return [
    arrayColumn(deliveries, (d) => d.event_id),
    arrayColumn(deliveries, (d) => d.fk_observer),
    arrayColumn(deliveries, (d) => d.fk_entity_change_log),
    arrayColumn(deliveries, (d) => d.action_index),
    arrayColumn(deliveries, (d) => d.fk_customer_org),
    arrayColumn(deliveries, (d) => d.leased),
    owner,
    leaseMs,
    arrayColumn(deliveries, (d) => d.ordering?.key),
    arrayColumn(deliveries, (d) => d.ordering?.txid),
    ...(timed
      ? [
          arrayColumn(deliveries, (d) => d.timing?.delayMs),
          arrayColumn(deliveries, (d) => d.timing?.dueAt),
          arrayColumn(deliveries, (d) => d.timing?.debounce?.key),
          arrayColumn(deliveries, (d) => d.timing?.debounce?.windowMs),
          arrayColumn(deliveries, (d) => d.timing?.debounce?.maxWaitMs),
        ]
      : []),
  ];
}

/**
 * The ingest statement (see `writeIngest`); `timed` for a batch with deliveries due later or
 * debounced (docs/time.md), so that the common batch pays nothing for them.
 */
const ingestStatement = (timed: boolean) => `WITH ${RELAXED_COMMIT_CTE},
     moved AS (
       UPDATE core.tb_observer_checkpoint
       SET last_transaction_id = $2::text::xid8, last_processed_id = $3::bigint,
           events_processed = events_processed + $4, last_processed_at = now(), updated_at = now()
       WHERE listener_id = $1
         AND last_transaction_id = $5::text::xid8 AND last_processed_id = $6::bigint
       RETURNING 1
     ),
     ${deliveryCtes("EXISTS (SELECT 1 FROM moved)", 7, timed)}
     SELECT EXISTS (SELECT 1 FROM moved) AS moved, c.*
     FROM relaxed AS one LEFT JOIN (
       SELECT pk_observer_delivery::text AS pk, id::text AS id,
         fk_entity_change_log::text AS fk_entity_change_log, fk_observer::text AS fk_observer,
         action_index
       FROM created WHERE lease_owner IS NOT NULL
     ) c ON true`;
const INGEST = ingestStatement(false);
const INGEST_TIMED = ingestStatement(true);

/**
 * In one statement: moves the listener's cursor from `from` (where the read found it) past the
 * batch, and creates the batch's deliveries, only if the cursor was still at `from`. So a change
 * is matched exactly once even when several runtimes read the same batch: the first to write wins
 * and the others write nothing (`moved: false`) and read again. The webhook-id is a digest of
 * (change, observer, action): whatever happens to the bookkeeping, one delivery never goes out
 * under two ids. Deliveries marked `leased` are created claimed by `owner` (saving the claim round
 * trip); the rest are due now for anyone.
 */
export async function writeIngest(
  sql: SqlExecutor,
  batch: {
    listenerId: string;
    from: ChangeCursor;
    to: ChangeCursor;
    changes: number;
    deliveries: readonly NewDelivery[];
    owner: string;
    leaseMs: number;
  },
): Promise<{ moved: boolean; leased: LeasedDelivery[] }> {
  const timed = isTimed(batch.deliveries);
  const rows = await sql.query<LeasedDelivery & { moved: boolean; pk: string | null }>(
    timed ? INGEST_TIMED : INGEST,
    [
      batch.listenerId,
      batch.to.transactionId,
      batch.to.changeLogId,
      batch.changes,
      batch.from.transactionId,
      batch.from.changeLogId,
      ...deliveryParams(batch.deliveries, batch.owner, batch.leaseMs, timed),
    ],
  );
  return {
    moved: rows[0]?.moved === true,
    leased: rows.filter(
      (row): row is LeasedDelivery & { moved: boolean; pk: string } => row.pk !== null,
    ),
  };
}
