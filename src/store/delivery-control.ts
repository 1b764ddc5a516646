/**
 * Pausing an observer and cancelling pending deliveries (docs/delivery.md). A pause holds the
 * observer's deliveries in the table (claims skip them and hold them, src/store/claims.ts);
 * a cancel removes pending ones, each with a `cancelled` log row.
 */
import { ConfigError, NotFoundError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import { UNKNOWN_EVENT_ID } from "./claims.ts";
import { isUuid, type TenantScope, tenantCondition } from "./common.ts";
import {
  OBSERVER_COLUMNS,
  type Observer,
  type StoredObserverRow,
  toObserver,
} from "./observer-json.ts";

/** Who acts, for which tenant. */
export interface ControlOptions extends TenantScope {
  actor?: string | null;
}

/**
 * Pauses (`paused: true`) or resumes a live observer. Paused, its changes are still matched and
 * their deliveries created, but none is claimed (retries that come due wait too); attempts
 * already running finish. Resumed, the held deliveries are due at once, in order. Pausing a
 * paused observer keeps its first `paused_at`.
 */
export async function setObserverPaused(
  sql: SqlExecutor,
  id: string,
  paused: boolean,
  options: ControlOptions = {},
): Promise<Observer> {
  if (!isUuid(id)) throw notFound(id);
  // Resumed, the deliveries claims held meanwhile are due at once (src/store/claims.ts), oldest
  // first: a microsecond apart in creation order, since claims take the soonest due and, among
  // rows due at one instant, whichever the index yields first (their physical order, which row
  // updates and vacuums shuffle), and a claim may take fewer than the backlog holds.
  const rows = await sql.query<StoredObserverRow>(
    `WITH o AS (
       UPDATE core.tb_observer
       SET paused_at = CASE WHEN $3::boolean THEN COALESCE(paused_at, now()) END,
         paused_by = CASE WHEN $3::boolean THEN COALESCE(paused_by, $4::text) END,
         updated_by = $4::text
       WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}
       RETURNING pk_observer, ${OBSERVER_COLUMNS}
     ),
     backlog AS (
       SELECT d.pk_observer_delivery AS pk,
         row_number() OVER (ORDER BY d.pk_observer_delivery) - 1 AS position
       FROM core.tb_observer_delivery d JOIN o ON d.fk_observer = o.pk_observer
       WHERE NOT $3::boolean AND d.held
     ),
     released AS (
       UPDATE core.tb_observer_delivery d
       SET next_attempt_at = now() + b.position * interval '1 microsecond', held = NULL
       -- Still held (re-checked on a row that changed meanwhile: claimed, it is not touched).
       FROM backlog b WHERE d.pk_observer_delivery = b.pk AND d.held
     )
     SELECT * FROM o`,
    [id, options.tenant ?? null, paused, options.actor ?? null],
  );
  const row = rows[0];
  if (!row) throw notFound(id);
  return toObserver(row);
}

/** Deliveries an observer holds while paused (pending in the table). */
export async function countHeldDeliveries(sql: SqlExecutor, observerId: string): Promise<number> {
  const rows = await sql.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM core.tb_observer_delivery d
     JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
     WHERE o.id = $1::uuid AND o.paused_at IS NOT NULL`,
    [observerId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Which pending deliveries to cancel; at least one filter is required. */
export interface CancelFilter {
  observer_id?: string | undefined;
  action_index?: number | undefined;
  entity_type?: string | undefined;
  entity_id?: string | undefined;
  /** ISO 8601: deliveries created before this instant. */
  created_before?: string | undefined;
}

/** What a bulk cancel did (or, dry, would do). */
export interface CancelResult {
  dry_run: boolean;
  /** Pending deliveries cancelled (dry: that would be). */
  cancelled: number;
  /** Matching deliveries running now (leased): never cancelled, they finish as usual. */
  in_flight: number;
  /** More matched than one call cancels (`MAX_CANCEL`), or a claim had some locked: call again. */
  more: boolean;
}

/** Deliveries one call cancels at most. */
export const MAX_CANCEL = 10_000;

/**
 * Cancels the pending deliveries matching `filter` (a tenant-bound caller's only): each is removed
 * with a `cancelled` log row (error code `CANCELLED`), and a dead letter it was replaying goes
 * back to `pending`. A delivery running now (leased, lease not expired) is never cancelled: it
 * finishes, retries or dead-letters as usual, and is counted in `in_flight`; one being claimed at
 * this instant is skipped too (SKIP LOCKED), and then `more` says to call again. `dry_run` counts
 * without changing anything.
 */
export async function cancelDeliveries(
  sql: SqlExecutor,
  filter: CancelFilter,
  options: ControlOptions & { dryRun?: boolean } = {},
): Promise<CancelResult> {
  const given = Object.values(filter).filter((value) => value !== undefined);
  if (given.length === 0) {
    throw new ConfigError([
      {
        path: "",
        message:
          "needs at least one filter: observer_id, action_index, entity_type, entity_id or created_before",
      },
    ]);
  }
  if (filter.observer_id !== undefined) {
    // An observer that does not exist, or is another tenant's, is not found (as for pause):
    // a 200 with nothing cancelled would read as "nothing was pending".
    const id = filter.observer_id;
    if (!isUuid(id)) throw notFound(id);
    const found = await sql.query(
      `SELECT 1 FROM core.tb_observer
       WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}`,
      [id, options.tenant ?? null],
    );
    if (found.length === 0) throw notFound(id);
  }
  const dry = options.dryRun === true;
  const matching = `FROM core.tb_observer_delivery d
       JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
       LEFT JOIN core.tb_entity_change_log c ON c.pk_entity_change_log = d.fk_entity_change_log
       LEFT JOIN core.tb_observer_dlq q ON q.pk_observer_dlq = d.fk_observer_dlq
       WHERE ($1::uuid IS NULL OR o.id = $1::uuid)
         AND ($2::integer IS NULL OR d.action_index = $2::integer)
         AND ($3::text IS NULL OR COALESCE(c.object_type, q.object_type) = $3::text)
         AND ($4::text IS NULL OR COALESCE(c.object_id::text, q.object_id) = $4::text)
         AND ($5::text IS NULL OR d.created_at < $5::text::timestamptz)
         AND ${tenantCondition("o.fk_customer_org", 6)}`;
  const params = [
    filter.observer_id ?? null,
    filter.action_index ?? null,
    filter.entity_type ?? null,
    filter.entity_id ?? null,
    filter.created_before ?? null,
    options.tenant ?? null,
  ];
  const inFlight = `d.lease_owner IS NOT NULL AND d.next_attempt_at > now()`;
  if (dry) {
    const rows = await sql.query<{ pending: string; in_flight: string }>(
      `SELECT count(*) FILTER (WHERE NOT (${inFlight}))::text AS pending,
         count(*) FILTER (WHERE ${inFlight})::text AS in_flight ${matching}`,
      params,
    );
    const pending = Number(rows[0]?.pending ?? 0);
    return {
      dry_run: true,
      cancelled: Math.min(pending, MAX_CANCEL),
      in_flight: Number(rows[0]?.in_flight ?? 0),
      more: pending > MAX_CANCEL,
    };
  }
  const rows = await sql.query<{ cancelled: string; in_flight: string; more: boolean }>(
    `WITH picked AS (
       SELECT d.pk_observer_delivery AS pk ${matching} AND NOT (${inFlight})
       LIMIT ${MAX_CANCEL + 1}
       FOR UPDATE OF d SKIP LOCKED
     ),
     taken AS (SELECT pk FROM picked LIMIT ${MAX_CANCEL}),
     gone AS (
       DELETE FROM core.tb_observer_delivery d USING taken
       WHERE d.pk_observer_delivery = taken.pk
       RETURNING d.*
     ),
     released AS (
       UPDATE core.tb_observer_dlq SET status = 'pending'
       WHERE pk_observer_dlq IN (SELECT fk_observer_dlq FROM gone WHERE fk_observer_dlq IS NOT NULL)
     ),
     -- Later deliveries of a cancelled one's entity that claims held: due again, to be checked.
     unheld AS (
       UPDATE core.tb_observer_delivery n SET next_attempt_at = now(), held = NULL
       FROM (SELECT DISTINCT fk_observer, action_index, ordering_key FROM gone
         WHERE ordering_key IS NOT NULL) k
       WHERE n.fk_observer = k.fk_observer AND n.action_index = k.action_index
         AND n.ordering_key = k.ordering_key AND n.held
         AND n.pk_observer_delivery NOT IN (SELECT pk FROM taken)
     ),
     logged AS (
       INSERT INTO core.tb_observer_log (fk_observer, fk_entity_change_log, delivery_id, event_id,
         entity_type, entity_id, event_type, status, action_index, action_type, completed_at,
         error_code, error_message, attempt_number, max_attempts, trace_id, fk_customer_org)
       SELECT g.fk_observer, g.fk_entity_change_log, g.id,
         COALESCE(g.event_id, c.id, q.event_id, '${UNKNOWN_EVENT_ID}'::uuid),
         COALESCE(c.object_type, q.object_type), COALESCE(c.object_id::text, q.object_id),
         COALESCE(c.modification_type, q.modification_type), 'cancelled', g.action_index,
         left(o.actions -> g.action_index ->> 'type', 64), now(), 'CANCELLED',
         'cancelled by ' || COALESCE($7::text, 'a bulk cancel') || ' before it ran',
         g.attempt, g.attempt, COALESCE(c.trace_id, q.trace_id), g.fk_customer_org
       FROM gone g
         JOIN core.tb_observer o ON o.pk_observer = g.fk_observer
         LEFT JOIN core.tb_entity_change_log c ON c.pk_entity_change_log = g.fk_entity_change_log
         LEFT JOIN core.tb_observer_dlq q ON q.pk_observer_dlq = g.fk_observer_dlq
       RETURNING 1
     )
     -- More: beyond this call's limit, or skipped because a claim had it locked at this instant
     -- (a claim holding it back, or about to run it): either way, call again.
     SELECT (SELECT count(*) FROM logged)::text AS cancelled,
       (SELECT count(*) FROM (SELECT 1 ${matching} AND NOT (${inFlight})
          LIMIT ${MAX_CANCEL + 1}) pending) > (SELECT count(*) FROM taken) AS more,
       (SELECT count(*) ${matching} AND ${inFlight})::text AS in_flight`,
    [...params, options.actor ?? null],
  );
  return {
    dry_run: false,
    cancelled: Number(rows[0]?.cancelled ?? 0),
    in_flight: Number(rows[0]?.in_flight ?? 0),
    more: rows[0]?.more === true,
  };
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no observer with id ${quoted(id)}`);
}
