/**
 * Claiming deliveries: a runtime takes due ones (leased to it, with everything needed to run
 * them), holds those it may not take yet (an ordered entity's later changes, a paused observer's),
 * releases the next of an entity when one leaves the table, and renews its leases. Creating
 * deliveries is src/store/deliveries.ts.
 */
import type { SqlExecutor } from "../ports/sql.ts";
import type { ChangeRow } from "./change-log.ts";
import { RELAXED_COMMIT_CTE } from "./relaxed-commit.ts";

/**
 * The claim's condition for ordered deliveries (alias `d`): taken only when no earlier delivery of
 * the same observer, action and entity is still in the table (pending, retrying or running).
 * Earlier: in commit order (transaction id, change-log id), then by creation.
 */
export const ORDERED_CLAIMABLE = `(d.ordering_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM core.tb_observer_delivery e
    WHERE e.ordering_key = d.ordering_key AND e.fk_observer = d.fk_observer
      AND e.action_index = d.action_index
      AND (e.ordering_txid, e.fk_entity_change_log, e.pk_observer_delivery)
        < (d.ordering_txid, d.fk_entity_change_log, d.pk_observer_delivery)))`;

/** Whether a delivery's observer is paused (alias `d`): its deliveries wait for resume. */
// A deleted observer holds nothing: its deliveries are claimed and end (OBSERVER_DELETED), as any
// deleted observer's, rather than wait forever for a resume it can no longer get.
const PAUSED = `EXISTS (SELECT 1 FROM core.tb_observer p
    WHERE p.pk_observer = d.fk_observer AND p.paused_at IS NOT NULL AND p.deleted_at IS NULL)`;

/**
 * Whether a held ordered delivery (alias `h`) waits behind one that is itself waiting in the table
 * (a retry or a delay due later, or one held already): it is held long, released by that one's
 * outcome. Behind one running or due it is held briefly, in case its release is missed.
 */
const BLOCKER_WAITING = `EXISTS (SELECT 1 FROM core.tb_observer_delivery e
    WHERE e.ordering_key = h.ordering_key AND e.fk_observer = h.fk_observer
      AND e.action_index = h.action_index AND e.lease_owner IS NULL
      AND e.next_attempt_at > now() + interval '1 second'
      AND (e.ordering_txid, e.fk_entity_change_log, e.pk_observer_delivery)
        < (h.ordering_txid, h.fk_entity_change_log, h.pk_observer_delivery))`;

/**
 * Due rows a claim looks at beyond those it may take (it locks what it looks at: a margin, not a
 * multiple, keeps the common claim as cheap as a plain one); held ones leave the due range, and
 * `claimDeliveries` looks again while a claim held some.
 */
const SCAN_MARGIN = 100;
/** How long a held delivery stays out of the due range unless released first, in seconds. */
const HOLD_PAUSED_S = 60;
const HOLD_WAITING_S = 30;
const HOLD_RUNNING_S = 1;

/**
 * Releases held deliveries: each `(observer, action, key, position)` of an ordered delivery that
 * left the table makes the next one of its entity due at once, if it was held. As SQL over `heads`
 * (columns `o_observer, o_action, o_key, o_txid, o_change, o_pk`).
 *
 * The next deliveries are found in an InitPlan (`ANY(ARRAY(...))`), which reads all of `heads`
 * before the first row is locked. `heads` reads the statement's data-modifying CTEs; joined as a
 * FROM item instead, they were read lazily, and a row locked while a claim or a resume was
 * changing it (READ COMMITTED's recheck, EvalPlanQual) could make PostgreSQL read on into a CTE
 * not finished yet, which it refuses: "ModifyTable should not be called during EvalPlanQual",
 * failing the whole outcome batch.
 */
export const releaseNext = (heads: string) => `UPDATE core.tb_observer_delivery n
       SET next_attempt_at = now(), held = NULL
       WHERE n.pk_observer_delivery = ANY(ARRAY(
         SELECT (SELECT e.pk_observer_delivery FROM core.tb_observer_delivery e
           WHERE e.fk_observer = h.o_observer AND e.action_index = h.o_action
             AND e.ordering_key = h.o_key
             AND (e.ordering_txid, e.fk_entity_change_log, e.pk_observer_delivery)
               > (h.o_txid, h.o_change, h.o_pk)
           ORDER BY e.ordering_txid, e.fk_entity_change_log, e.pk_observer_delivery LIMIT 1)
         FROM ${heads} h))
         AND n.held`;

/** A claimed delivery: the row, the change it is about, and the observer's current configuration. */
export interface ClaimedDelivery {
  pk: string;
  /** The webhook-id. */
  id: string;
  fk_observer: string;
  action_index: number;
  attempt: number;
  fk_observer_dlq: string | null;
  /**
   * When this attempt was due (epoch ms, the database's clock): a delayed delivery's due time, a
   * retry's. Null for a delivery created leased and run at once. The webhook's timestamp.
   */
  scheduled_at: number | null;
  /**
   * The change: from the change log, or the dead letter's copy when replaying one. Null when the
   * change row is gone (deleted by hand, or pruned by another producer of the shared change log):
   * such a delivery can never run, and ends with `CHANGE_MISSING`.
   */
  change: ChangeRow | null;
  /** What the delivery row itself keeps of its change: enough for a log row when `change` is null. */
  origin: DeliveryOrigin;
  observer_id: string;
  observer_name: string;
  /** Changes whenever the observer row does: parsed configuration can be cached under it. */
  observer_version: string;
  observer_deleted: boolean;
  /**
   * A scheduled event's delivery (a tick's or one-off event's) whose observer is disabled now:
   * skipped, not run (docs/time.md). Absent or false otherwise.
   */
  event_observer_disabled?: boolean;
  /** The observer's own tenant (not the change's): what its actions may reference. */
  observer_tenant: string | null;
  /**
   * `actions[action_index]` as JSON text (`on_dead_letter[action_index]` for a delivery reporting
   * a dead letter); null when the observer no longer has that action.
   */
  action: string | null;
  /** The failure an on_dead_letter delivery reports (JSON text); absent or null otherwise. */
  dead_letter?: string | null;
  retry_config: string;
  timeout_ms: number;
}

/** What a delivery row keeps of its change, whether or not the change row still exists. */
export interface DeliveryOrigin {
  fk_entity_change_log: string | null;
  /** The change's event id; the nil UUID for a delivery created before it was kept (0008). */
  event_id: string;
  fk_customer_org: string | null;
}

/** Stands for the event id of a delivery created before deliveries kept it (migration 0008). */
export const UNKNOWN_EVENT_ID = "00000000-0000-0000-0000-000000000000";

/** A claim as the statement returns it: the change's columns beside the delivery's. */
type ClaimRow = ChangeRow &
  Omit<ClaimedDelivery, "pk" | "id" | "change" | "origin" | "scheduled_at"> & {
    scheduled_ms: number;
    delivery_pk: string;
    delivery_id: string;
    change_missing: boolean;
    origin_change_log: string | null;
    origin_event_id: string;
    origin_org: string | null;
  };

const DLQ_COPY = (column: string, cast = "") =>
  `COALESCE(c.${column}${cast}, q.${column}${cast}, e.${column}${cast}) AS ${column}`;

/**
 * A scheduled event (docs/time.md) in the change log's columns, as its deliveries read it: event
 * type SCHEDULE, entity type `Schedule`, `after` = `{scheduled_at, payload}`, its time the
 * scheduled instant. A dead letter copies these like a change's, so a replay reads them back.
 */
const EVENT_AS_CHANGE = `(SELECT pk_observer_event, id, 'Schedule'::text AS object_type,
    'SCHEDULE'::text AS modification_type, NULL::bigint AS object_id,
    jsonb_build_object('scheduled_at', scheduled_at, 'payload', payload) AS object_data,
    NULL::jsonb AS object_data_before, fk_customer_org, NULL::uuid AS tenant_id,
    NULL::text AS trace_id, NULL::xid8 AS transaction_id, scheduled_at AS created_at
  FROM core.tb_observer_event)`;

/**
 * Claims up to `limit` due deliveries for `owner`: locks them with SKIP LOCKED (other runtimes
 * take other rows) and leases them by moving `next_attempt_at` to the lease's end, so a crashed
 * owner's deliveries come due again. One statement, returning everything needed to run them.
 *
 * A delivery whose change row is gone (and that replays no dead letter, whose copy it would read)
 * is claimed like the others and comes back with `change: null`: the caller ends it without
 * running its action. Deciding that here, per row, keeps one missing change from failing the
 * claim of the rest of the batch.
 * Deliveries of `skipTenants` (tenants at their share of this runtime) stay for later.
 *
 * A delivery may not be taken while an earlier one of its entity is in the table (an ordered
 * observer's, `ORDERED_CLAIMABLE`) or while its observer is paused: the claim holds it instead
 * (moves it out of the due range until `releaseNext`, resume or a cancel makes it due again, or a
 * few seconds pass), so that claims do not walk past a held backlog again and again.
 */
export async function claimDeliveries(
  sql: SqlExecutor,
  owner: string,
  limit: number,
  leaseMs: number,
  skipTenants: readonly string[] = [],
): Promise<ClaimedDelivery[]> {
  const claims: ClaimedDelivery[] = [];
  // A claim that held deliveries (a stuck entity's backlog, a paused observer's) looked at fewer
  // that it may take: look again, past them, a few times at most.
  for (let round = 0; round < MAX_CLAIM_ROUNDS && claims.length < limit; round++) {
    const { claims: more, held } = await claimOnce(
      sql,
      owner,
      limit - claims.length,
      leaseMs,
      skipTenants,
    );
    claims.push(...more);
    if (held === 0) break;
  }
  return claims;
}

/** Claim statements one `claimDeliveries` runs at most, when they hold deliveries. */
const MAX_CLAIM_ROUNDS = 16;

async function claimOnce(
  sql: SqlExecutor,
  owner: string,
  limit: number,
  leaseMs: number,
  skipTenants: readonly string[],
): Promise<{ claims: ClaimedDelivery[]; held: number }> {
  const rows = await sql.query<ClaimRow & { held_count: number }>(
    `WITH ${RELAXED_COMMIT_CTE},
     -- The first due rows, claimable or not (bounded: never a walk past a whole held backlog).
     scanned AS (
       SELECT pk_observer_delivery, fk_entity_change_log, fk_observer_dlq, fk_observer,
         fk_observer_event, next_attempt_at, fk_dead_letter, ${PAUSED} AS paused,
         ${ORDERED_CLAIMABLE} AS in_turn
       FROM core.tb_observer_delivery d
       WHERE next_attempt_at <= now()
         AND (fk_customer_org IS NULL OR fk_customer_org <> ALL($4::text::bigint[]))
       ORDER BY next_attempt_at
       LIMIT $1 + ${SCAN_MARGIN}
       FOR UPDATE SKIP LOCKED
     ),
     -- Among rows due at one instant (one ingest statement's, say), the oldest first: the scan
     -- yields ties in their physical order, which row updates and vacuums shuffle.
     due AS (
       SELECT * FROM scanned WHERE in_turn AND NOT paused
       ORDER BY next_attempt_at, pk_observer_delivery LIMIT $1
     ),
     -- The others are held (see migration 0017): out of the due range until released.
     held AS (
       UPDATE core.tb_observer_delivery h
       SET held = true, next_attempt_at = now() + CASE
         WHEN s.paused THEN interval '${HOLD_PAUSED_S} seconds'
         WHEN ${BLOCKER_WAITING} THEN interval '${HOLD_WAITING_S} seconds'
         ELSE interval '${HOLD_RUNNING_S} seconds' END
       FROM scanned s
       WHERE h.pk_observer_delivery = s.pk_observer_delivery AND (s.paused OR NOT s.in_turn)
       RETURNING 1
     ),
     claimed AS (
     UPDATE core.tb_observer_delivery d
     SET next_attempt_at = now() + $2 * interval '1 millisecond', lease_owner = $3,
       debounce_key = NULL, held = NULL
     FROM relaxed, due
       JOIN core.tb_observer o ON o.pk_observer = due.fk_observer
       LEFT JOIN core.tb_entity_change_log c ON c.pk_entity_change_log = due.fk_entity_change_log
       LEFT JOIN core.tb_observer_dlq q
         ON q.pk_observer_dlq = COALESCE(due.fk_observer_dlq, due.fk_dead_letter)
       LEFT JOIN ${EVENT_AS_CHANGE} e ON e.pk_observer_event = due.fk_observer_event
     WHERE d.pk_observer_delivery = due.pk_observer_delivery
     RETURNING d.pk_observer_delivery::text AS delivery_pk, d.id::text AS delivery_id,
       (extract(epoch FROM due.next_attempt_at) * 1000)::float8 AS scheduled_ms,
       d.fk_observer::text AS fk_observer, d.action_index, d.attempt,
       d.fk_observer_dlq::text AS fk_observer_dlq,
       c.pk_entity_change_log IS NULL AND q.pk_observer_dlq IS NULL
         AND e.pk_observer_event IS NULL AS change_missing,
       d.fk_entity_change_log::text AS origin_change_log, d.fk_customer_org::text AS origin_org,
       COALESCE(d.event_id, q.event_id, '${UNKNOWN_EVENT_ID}')::text AS origin_event_id,
       COALESCE(c.pk_entity_change_log, q.fk_entity_change_log)::text AS pk_entity_change_log,
       COALESCE(c.id, q.event_id, e.id)::text AS id,
       ${DLQ_COPY("object_type")}, ${DLQ_COPY("modification_type")},
       ${DLQ_COPY("object_id", "::text")}, ${DLQ_COPY("object_data", "::text")},
       ${DLQ_COPY("object_data_before", "::text")}, ${DLQ_COPY("fk_customer_org", "::text")},
       ${DLQ_COPY("tenant_id", "::text")}, ${DLQ_COPY("trace_id")},
       ${DLQ_COPY("transaction_id", "::text")},
       COALESCE(c.created_at, q.change_created_at, e.created_at) AS created_at,
       o.id::text AS observer_id, o.name AS observer_name,
       (extract(epoch FROM o.updated_at) * 1000000)::bigint::text AS observer_version,
       o.deleted_at IS NOT NULL AS observer_deleted,
       d.fk_observer_event IS NOT NULL AND NOT o.enabled AS event_observer_disabled,
       o.fk_customer_org::text AS observer_tenant,
       (CASE WHEN d.dead_letter IS NULL THEN o.actions ELSE o.on_dead_letter END
         -> d.action_index)::text AS action, d.dead_letter::text AS dead_letter,
       o.retry_config::text AS retry_config, o.timeout_ms
     )
     -- One row even when nothing was claimed, to say how many were held.
     SELECT claimed.*, (SELECT count(*) FROM held)::integer AS held_count
     FROM (SELECT 1) AS one LEFT JOIN claimed ON true`,
    [limit, leaseMs, owner, `{${skipTenants.join(",")}}`],
  );
  return {
    // In due order, the oldest first among those due at one instant (a resumed backlog): an
    // UPDATE returns its rows in no particular order, often the reverse.
    claims: rows
      .filter((row) => row.delivery_pk != null)
      .map(claimOf)
      .sort(
        (a, b) =>
          (a.scheduled_at ?? 0) - (b.scheduled_at ?? 0) || Number(BigInt(a.pk) - BigInt(b.pk)),
      ),
    held: Number(rows[0]?.held_count ?? 0),
  };
}

/** A claim row as the runtime's delivery. */
function claimOf(row: ClaimRow): ClaimedDelivery {
  return {
    pk: row.delivery_pk,
    id: row.delivery_id,
    fk_observer: row.fk_observer,
    action_index: row.action_index,
    attempt: row.attempt,
    fk_observer_dlq: row.fk_observer_dlq,
    scheduled_at: row.scheduled_ms == null ? null : Number(row.scheduled_ms),
    origin: {
      fk_entity_change_log: row.origin_change_log,
      event_id: row.origin_event_id,
      fk_customer_org: row.origin_org,
    },
    change: row.change_missing
      ? null
      : {
          pk_entity_change_log: row.pk_entity_change_log,
          id: row.id,
          object_type: row.object_type,
          modification_type: row.modification_type,
          object_id: row.object_id,
          object_data: row.object_data,
          object_data_before: row.object_data_before,
          fk_customer_org: row.fk_customer_org,
          tenant_id: row.tenant_id,
          trace_id: row.trace_id,
          transaction_id: row.transaction_id,
          created_at: row.created_at,
        },
    observer_id: row.observer_id,
    observer_name: row.observer_name,
    observer_version: row.observer_version,
    observer_deleted: row.observer_deleted,
    event_observer_disabled: row.event_observer_disabled === true,
    observer_tenant: row.observer_tenant,
    action: row.action,
    dead_letter: row.dead_letter ?? null,
    retry_config: row.retry_config,
    timeout_ms: row.timeout_ms,
  };
}

/**
 * Whether observer `fkObserver` (its row pk) is deleted: a batch's members waited after their
 * claim, so the runtime asks again before sending them (docs/delivery.md, "Batches").
 */
export async function observerDeleted(sql: SqlExecutor, fkObserver: string): Promise<boolean> {
  const rows = await sql.query<{ deleted: boolean }>(
    `SELECT deleted_at IS NOT NULL AS deleted FROM core.tb_observer WHERE pk_observer = $1::text::bigint`,
    [fkObserver],
  );
  // A row gone altogether (deleted by hand) is deleted too.
  return rows[0]?.deleted ?? true;
}

/**
 * Extends the leases `owner` still holds on `pks` (attempts still running). Rows locked right now
 * are skipped, not waited for: they are this runtime's own, being written by its outcome batch or
 * put back by a deferral (which end the lease anyway), and waiting for them while holding the
 * others, locked in another order, deadlocked with those statements (PostgreSQL aborted one of
 * them). A row skipped while such a statement fails is renewed at the next beat, a third of a
 * lease later.
 */
export async function renewLeases(
  sql: SqlExecutor,
  owner: string,
  pks: readonly string[],
  leaseMs: number,
): Promise<void> {
  if (pks.length === 0) return;
  await sql.query(
    `UPDATE core.tb_observer_delivery SET next_attempt_at = now() + $2 * interval '1 millisecond'
     WHERE pk_observer_delivery = ANY(ARRAY(
       SELECT pk_observer_delivery FROM core.tb_observer_delivery
       WHERE pk_observer_delivery = ANY($1::text::bigint[]) AND lease_owner = $3
       FOR UPDATE SKIP LOCKED))`,
    [`{${pks.join(",")}}`, leaseMs, owner],
  );
}
