/**
 * "Why did (or didn't) this observer fire?": a stored change read back as its event, and every
 * visible observer explained against it with what was logged. Backtests are in backtest.ts.
 */
import type { ExplainResult } from "../dsl/explain.ts";
import { NotFoundError } from "../errors.ts";
import { normalizeChangeEvent } from "../events/normalize.ts";
import type { ChangeEvent } from "../events/types.ts";
import { explainMatch, type MatchReason } from "../matcher/explain-match.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { bigintValue, isoColumn, isUuid, type TenantScope, tenantCondition } from "./common.ts";
import { OBSERVER_COLUMNS, type StoredObserverRow } from "./observer-json.ts";

function noChange(eventId: string): NotFoundError {
  return new NotFoundError(`no change with event id ${JSON.stringify(eventId)}`);
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
  created_at: string;
}

/** One observer considered for a stored change: whether and why it fired, and what was logged. */
export interface ObserverConsidered {
  observer_id: string;
  name: string;
  enabled: boolean;
  fired: boolean;
  reason: MatchReason;
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
 * Explains a stored change against every live observer the caller may see (a scoped caller: only
 * its tenant's), disabled ones included, by priority then creation, with each one's log rows.
 */
export async function explainStoredEvent(
  sql: SqlExecutor,
  eventId: string,
  scope: TenantScope,
): Promise<EventExplanation> {
  const { row, event } = await readStoredEvent(sql, eventId, scope);
  const [observers, logs] = await Promise.all([
    sql.query<ObserverRow>(
      `SELECT pk_observer::text AS pk_observer, ${OBSERVER_COLUMNS} FROM core.tb_observer
       WHERE deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 1)}
       ORDER BY priority, pk_observer`,
      [scope.tenant ?? null],
    ),
    sql.query<LogRow>(
      `SELECT fk_observer::text AS fk_observer, action_index, action_type, status, attempt_number,
         error_code, error_message, ${isoColumn("created_at")}
       FROM core.tb_observer_log WHERE event_id = $1::uuid
       ORDER BY created_at, pk_observer_log`,
      [event.id],
    ),
  ]);
  const byObserver = new Map<string, EventOutcome[]>();
  for (const { fk_observer, ...outcome } of logs) {
    if (fk_observer === null) continue;
    const list = byObserver.get(fk_observer);
    if (list) list.push(outcome);
    else byObserver.set(fk_observer, [outcome]);
  }
  return {
    event: {
      event_id: event.id,
      entity_type: event.entity_type,
      entity_id: event.entity_id,
      event_type: event.event_type,
      fk_customer_org: bigintValue(row.fk_customer_org),
      created_at: event.timestamp,
      ...(event.transaction_id === null ? {} : { transaction_id: event.transaction_id }),
    },
    observers: observers.map((o) => ({
      observer_id: o.id,
      name: o.name,
      enabled: o.enabled,
      ...explainMatch(o, event),
      outcomes: byObserver.get(o.pk_observer) ?? [],
    })),
  };
}
