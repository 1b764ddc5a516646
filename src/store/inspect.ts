/**
 * "Why did (or didn't) this observer fire?": a stored change read back as its event, and every
 * visible observer explained against it with what was logged; a scheduled event (a tick or a
 * one-off event, docs/time.md) with the one observer it belongs to. Backtests are in backtest.ts.
 */
import type { ExplainResult } from "../dsl/explain.ts";
import { NotFoundError } from "../errors.ts";
import { normalizeChangeEvent } from "../events/normalize.ts";
import type { ChangeEvent } from "../events/types.ts";
import { explainMatch, type MatchExplanation, type MatchReason } from "../matcher/explain-match.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { bigintValue, isoColumn, isUuid, type TenantScope, tenantCondition } from "./common.ts";
import { OBSERVER_COLUMNS, type StoredObserverRow } from "./observer-json.ts";

function noChange(eventId: string): NotFoundError {
  return new NotFoundError(`no change with event id ${quoted(eventId)}`);
}

/**
 * The change-log row whose `id` is `eventId`, and the event the runtime would make of it.
 * `NotFoundError` when absent, not a UUID, or another tenant's; the normaliser's
 * `ChangeEventError` (naming the column) when the row cannot be read as an event.
 */
export async function readStoredEvent(
  sql: SqlExecutor,
  eventId: string,
  scope: TenantScope,
): Promise<{ row: ChangeRow; event: ChangeEvent }> {
  if (!isUuid(eventId)) throw noChange(eventId);
  const rows = await sql.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c
     WHERE c.id = $1::uuid AND ${tenantCondition("c.fk_customer_org", 2)}
     ORDER BY c.pk_entity_change_log LIMIT 1`,
    [eventId, scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) throw noChange(eventId);
  return { row, event: normalizeChangeEvent(row) };
}

/** One log row of what an observer's actions did with an event. */
export interface EventOutcome {
  action_index: number | null;
  action_type: string | null;
  status: string;
  attempt_number: number;
  error_code: string | null;
  error_message: string | null;
  /** The batch this attempt went out in (a webhook with `batch`), else null. */
  batch_id: string | null;
  /** An attempt of an `on_dead_letter` action: `action_index` indexes `on_dead_letter`. */
  on_dead_letter: boolean;
  created_at: string;
}

/**
 * Why an observer fired for a scheduled event: it is the observer's own, a tick of its schedule
 * (`scheduled`) or an event posted to `POST /api/observers/{id}/schedule` (`one_off`).
 */
export type ScheduledReason = "scheduled" | "one_off";

/** One observer considered for a stored event: whether and why it fired, and what was logged. */
export interface ObserverConsidered {
  observer_id: string;
  name: string;
  enabled: boolean;
  fired: boolean;
  /** `paused`: it fires, but the observer is paused and its deliveries are held (docs/delivery.md). */
  reason: MatchReason | ScheduledReason | "paused";
  detail: string;
  condition?: ExplainResult;
  outcomes: EventOutcome[];
}

/** A stored change and every observer the caller may see, explained against it. */
export interface EventExplanation {
  event: {
    event_id: string;
    entity_type: string;
    entity_id: string | null;
    event_type: string;
    fk_customer_org: number | string | null;
    created_at: string;
    transaction_id?: string;
  };
  observers: ObserverConsidered[];
}

type ObserverRow = StoredObserverRow & { pk_observer: string };
interface LogRow extends EventOutcome {
  fk_observer: string | null;
}

/**
 * Explains a stored change (or, for a scheduled event's id, that event: see
 * `explainScheduledEvent`) against every live observer the caller may see (a scoped caller: only
 * its tenant's), disabled ones included, by priority then creation, with each one's log rows.
 */
export async function explainStoredEvent(
  sql: SqlExecutor,
  eventId: string,
  scope: TenantScope,
): Promise<EventExplanation> {
  let stored: Awaited<ReturnType<typeof readStoredEvent>>;
  try {
    stored = await readStoredEvent(sql, eventId, scope);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    const scheduled = isUuid(eventId) ? await explainScheduledEvent(sql, eventId, scope) : null;
    if (scheduled === null) {
      throw new NotFoundError(`no change or scheduled event with event id ${quoted(eventId)}`);
    }
    return scheduled;
  }
  const { row, event } = stored;
  const [observers, logs] = await Promise.all([
    sql.query<ObserverRow>(
      `SELECT pk_observer::text AS pk_observer, ${OBSERVER_COLUMNS} FROM core.tb_observer
       WHERE deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 1)}
       ORDER BY priority, pk_observer`,
      [scope.tenant ?? null],
    ),
    outcomesByObserver(sql, event.id),
  ]);
  const byObserver = logs;
  return {
    event: eventSummary(event, row.fk_customer_org),
    observers: observers.map((o) => ({
      observer_id: o.id,
      name: o.name,
      enabled: o.enabled,
      ...heldIfPaused(o, explainMatch(o, event)),
      outcomes: byObserver.get(o.pk_observer) ?? [],
    })),
  };
}

/** A paused observer fires, but holds its deliveries until resume: say so. */
function heldIfPaused(
  observer: StoredObserverRow,
  match: MatchExplanation,
): MatchExplanation | (Omit<MatchExplanation, "reason"> & { reason: "paused" }) {
  if (!match.fired || observer.paused_at === null) return match;
  return {
    ...match,
    reason: "paused",
    detail: `${match.detail}; the observer is paused (since ${observer.paused_at}): its deliveries are held until it is resumed`,
  };
}

/** The log rows of event `eventId`, by observer (its pk). */
async function outcomesByObserver(
  sql: SqlExecutor,
  eventId: string,
): Promise<Map<string, EventOutcome[]>> {
  const logs = await sql.query<LogRow>(
    `SELECT fk_observer::text AS fk_observer, action_index, action_type, status, attempt_number,
       error_code, error_message, request_payload ->> 'batch_id' AS batch_id,
       coalesce((request_payload ->> 'on_dead_letter')::boolean, false) AS on_dead_letter,
       ${isoColumn("created_at")}
     FROM core.tb_observer_log WHERE event_id = $1::uuid
     ORDER BY created_at, pk_observer_log`,
    [eventId],
  );
  const byObserver = new Map<string, EventOutcome[]>();
  for (const { fk_observer, ...outcome } of logs) {
    if (fk_observer === null) continue;
    const list = byObserver.get(fk_observer);
    if (list) list.push(outcome);
    else byObserver.set(fk_observer, [outcome]);
  }
  return byObserver;
}

function eventSummary(event: ChangeEvent, tenant: string | null): EventExplanation["event"] {
  return {
    event_id: event.id,
    entity_type: event.entity_type,
    entity_id: event.entity_id,
    event_type: event.event_type,
    fk_customer_org: bigintValue(tenant),
    created_at: event.timestamp,
    ...(event.transaction_id === null ? {} : { transaction_id: event.transaction_id }),
  };
}

type ScheduledEventRow = ChangeRow & {
  kind: "schedule" | "one_off";
  fk_observer: string;
  created_by: string | null;
  scheduled_at_iso: string;
};

/**
 * A scheduled event (a tick's or one-off event's id, which its webhooks carry as `event_id`),
 * read as its deliveries read it (event type SCHEDULE, entity type `Schedule`), with the one
 * observer it belongs to and that observer's log rows. Tenant-scoped like changes; null when
 * absent or another tenant's.
 */
async function explainScheduledEvent(
  sql: SqlExecutor,
  eventId: string,
  scope: TenantScope,
): Promise<EventExplanation | null> {
  const rows = await sql.query<ScheduledEventRow>(
    `SELECT NULL::text AS pk_entity_change_log, e.id::text AS id, 'Schedule'::text AS object_type,
       'SCHEDULE'::text AS modification_type, NULL::text AS object_id,
       jsonb_build_object('scheduled_at', e.scheduled_at, 'payload', e.payload)::text AS object_data,
       NULL::text AS object_data_before, e.fk_customer_org::text AS fk_customer_org,
       NULL::text AS tenant_id, NULL::text AS trace_id, NULL::text AS transaction_id,
       e.scheduled_at AS created_at, e.kind, e.fk_observer::text AS fk_observer, e.created_by,
       ${isoColumn("e.scheduled_at", "scheduled_at_iso")}
     FROM core.tb_observer_event e
     WHERE e.id = $1::uuid AND ${tenantCondition("e.fk_customer_org", 2)}`,
    [eventId, scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) return null;
  const event = normalizeChangeEvent(row);
  const [observers, byObserver] = await Promise.all([
    sql.query<ObserverRow>(
      `SELECT pk_observer::text AS pk_observer, ${OBSERVER_COLUMNS} FROM core.tb_observer
       WHERE pk_observer = $1::bigint`,
      [row.fk_observer],
    ),
    outcomesByObserver(sql, event.id),
  ]);
  return {
    event: eventSummary(event, row.fk_customer_org),
    observers: observers.map((o) => {
      const reason: ScheduledReason = row.kind === "schedule" ? "scheduled" : "one_off";
      const what =
        reason === "scheduled"
          ? `a tick of its schedule ${JSON.stringify(o.schedule)}${o.timezone ? ` (${o.timezone})` : ""} at ${row.scheduled_at_iso}`
          : `a one-off event scheduled for ${row.scheduled_at_iso}${row.created_by ? ` by ${row.created_by}` : ""}`;
      const now =
        o.deleted_at !== null
          ? "; the observer has been deleted since"
          : o.enabled
            ? ""
            : "; the observer is disabled now: deliveries not yet run are skipped";
      return {
        observer_id: o.id,
        name: o.name,
        enabled: o.enabled,
        fired: true,
        reason,
        detail: `the event is this observer's own: ${what}${now}`,
        outcomes: byObserver.get(o.pk_observer) ?? [],
      };
    }),
  };
}
