import { timingFailure } from "../actions/timing.ts";
import { toObserversError } from "../errors.ts";
import { normalizeChangeEvent } from "../events/normalize.ts";
import type { ChangeEvent, DeadLetterFailure } from "../events/types.ts";
import type { Delivery, ExecutionOutcome } from "../executor/outcome.ts";
import type { ClaimedDelivery } from "../store/claims.ts";
import { NO_ATTEMPT, type OutcomeRecord } from "../store/outcomes.ts";

/** A claimed delivery turned into an executor `Delivery`, or the reason it cannot run. */
export type Planned =
  | { ok: true; delivery: Delivery; actionType: string | null }
  | { ok: false; record: OutcomeRecord };

/**
 * Parsed configuration by observer version: deliveries of one observer share the same action and
 * retry objects, so the executor validates each once (it caches by object identity).
 */
export class ConfigCache {
  readonly #entries = new Map<string, unknown>();
  readonly #limit: number;
  constructor(limit = 10_000) {
    this.#limit = limit;
  }
  parse(key: string, text: string | null): unknown {
    if (text === null) return null;
    if (this.#entries.has(key)) return this.#entries.get(key);
    if (this.#entries.size >= this.#limit) this.#entries.clear();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    this.#entries.set(key, value);
    return value;
  }
}

/** Builds the executor's delivery from a claim; events are shared by deliveries of one change. */
export function planDelivery(
  claim: ClaimedDelivery,
  configs: ConfigCache,
  events: Map<string, ChangeEvent | Error>,
  now: number,
): Planned {
  const version = `${claim.fk_observer}@${claim.observer_version}`;
  // on_dead_letter's actions are indexed apart from the observer's actions.
  const list = claim.dead_letter ? "on_dead_letter" : "actions";
  const action = configs.parse(`${version}#${list}${claim.action_index}`, claim.action);
  const actionType = actionTypeOf(action);
  if (claim.observer_deleted || action === null) {
    return claim.observer_deleted
      ? cannotRun(
          claim,
          actionType,
          "discard",
          "OBSERVER_DELETED",
          "the observer was deleted before this delivery ran",
          now,
        )
      : cannotRun(
          claim,
          actionType,
          "discard",
          "ACTION_REMOVED",
          `the observer no longer has action ${claim.action_index}`,
          now,
        );
  }
  if (claim.event_observer_disabled) {
    // A scheduled event is its observer's alone: disabled by run time, it does not run.
    return cannotRun(
      claim,
      actionType,
      "discard",
      "OBSERVER_DISABLED",
      "the observer was disabled before this scheduled event ran: the action was not run",
      now,
      "skipped",
    );
  }
  const change = claim.change;
  if (change === null) {
    // Nothing to run the action on, now or ever: end it, logged, rather than retry or dead-letter
    // it (a dead letter copies the change, and there is none to replay).
    return cannotRun(
      claim,
      actionType,
      "discard",
      "CHANGE_MISSING",
      `change-log row ${claim.origin.fk_entity_change_log ?? "?"} is gone (deleted from core.tb_entity_change_log, by hand or by another producer's pruning, before this delivery ran): the action was not run`,
      now,
      "failed",
    );
  }
  const key = change.pk_entity_change_log ?? change.id;
  let event = events.get(key);
  if (event === undefined) {
    try {
      event = normalizeChangeEvent(change);
    } catch (error: unknown) {
      event = toObserversError(error);
    }
    events.set(key, event);
  }
  if (event instanceof Error) {
    const failure = toObserversError(event);
    return cannotRun(claim, actionType, "dead_letter", failure.code, failure.message, now);
  }
  // An on_dead_letter delivery's event is its change with the failure it reports.
  if (claim.dead_letter) event = withDeadLetter(event, claim.dead_letter);
  // A run_at_template that gives no instant, a debounce key that renders empty: no retry helps.
  const untimed = timingFailure(action, event, {
    id: claim.observer_id,
    name: claim.observer_name,
  });
  if (untimed !== null) {
    return cannotRun(claim, actionType, "dead_letter", untimed.code, untimed.message, now);
  }
  return {
    ok: true,
    actionType,
    delivery: {
      id: claim.id,
      event,
      observer: {
        id: claim.observer_id,
        name: claim.observer_name,
        tenant: claim.observer_tenant,
        timeout_ms: claim.timeout_ms,
        retry_config: configs.parse(`${version}#retry`, claim.retry_config),
      },
      action,
      attempt: claim.attempt,
      scheduledAt: claim.scheduled_at,
      tenant: change.fk_customer_org,
      traceId: change.trace_id,
    },
  };
}

/**
 * A claim that cannot be attempted: discarded (its observer or action is gone, `cancelled`; its
 * change row is gone, `failed`) or dead-lettered at once (its change cannot be read, `failed`),
 * without counting an attempt.
 */
function cannotRun(
  claim: ClaimedDelivery,
  actionType: string | null,
  disposition: "discard" | "dead_letter",
  code: string,
  message: string,
  now: number,
  status: OutcomeRecord["status"] = disposition === "discard" ? "cancelled" : "failed",
): Planned {
  return {
    ok: false,
    record: notRunRecord(claim, actionType, disposition, code, message, now, status),
  };
}

function notRunRecord(
  claim: ClaimedDelivery,
  actionType: string | null,
  disposition: "discard" | "dead_letter",
  code: string,
  message: string,
  now: number,
  status: OutcomeRecord["status"],
): OutcomeRecord {
  return recordOf(claim, actionType, {
    disposition,
    status,
    attempt: claim.attempt,
    max_attempts: claim.attempt,
    error_code: code,
    error_message: message,
    completed_at: new Date(now).toISOString(),
  });
}

/**
 * The record of a delivery whose observer was deleted after its claim, before it ran (a batch's
 * member, found deleted when its group was about to be sent): cancelled, like one found deleted
 * at its claim.
 */
export function deletedRecord(
  claim: ClaimedDelivery,
  actionType: string | null,
  now: number,
): OutcomeRecord {
  return notRunRecord(
    claim,
    actionType,
    "discard",
    "OBSERVER_DELETED",
    "the observer was deleted before this delivery ran",
    now,
    "cancelled",
  );
}

/** The record of an executed attempt. */
export function outcomeRecord(
  claim: ClaimedDelivery,
  actionType: string | null,
  outcome: ExecutionOutcome,
): OutcomeRecord {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return recordOf(claim, actionType, {
    disposition: outcome.disposition,
    status: outcome.status,
    attempt: outcome.attempt,
    max_attempts: outcome.maxAttempts,
    next_attempt: outcome.nextAttempt,
    next_at: iso(outcome.nextAttemptAt),
    started_at: iso(outcome.startedAt),
    completed_at: iso(outcome.startedAt + outcome.durationMs) ?? "",
    duration_ms: Math.round(outcome.durationMs),
    http_status: outcome.httpStatus,
    error_code: outcome.errorCode,
    error_message: outcome.errorMessage,
    message: outcome.message,
    excerpt: outcome.responseExcerpt,
  });
}

type RecordFields = Pick<
  OutcomeRecord,
  "disposition" | "status" | "attempt" | "max_attempts" | "completed_at"
> &
  Partial<OutcomeRecord>;

function recordOf(
  claim: ClaimedDelivery,
  actionType: string | null,
  fields: RecordFields,
): OutcomeRecord {
  return {
    pk: claim.pk,
    ...NO_ATTEMPT,
    error_code: null,
    error_message: null,
    ...fields,
    fk_observer: claim.fk_observer,
    observer_name: claim.observer_name,
    delivery_id: claim.id,
    action_index: claim.action_index,
    action_type: actionType,
    ...(claim.dead_letter == null ? {} : { on_dead_letter: true }),
    ...changeFields(claim, fields.disposition),
  };
}

type ChangeFields = Pick<
  OutcomeRecord,
  | "event_id"
  | "fk_entity_change_log"
  | "entity_type"
  | "entity_id"
  | "event_type"
  | "fk_customer_org"
  | "trace_id"
  | "change"
>;

/** What a record says of the change: from the change, or what the delivery row knows of it when its row is gone. */
function changeFields(
  claim: ClaimedDelivery,
  disposition: OutcomeRecord["disposition"],
): ChangeFields {
  const change = claim.change;
  if (change === null) {
    return {
      event_id: claim.origin.event_id,
      fk_entity_change_log: claim.origin.fk_entity_change_log,
      entity_type: null,
      entity_id: null,
      event_type: null,
      fk_customer_org: claim.origin.fk_customer_org,
      trace_id: null,
      change: null,
    };
  }
  const createdAt =
    change.created_at instanceof Date ? change.created_at.toISOString() : String(change.created_at);
  return {
    event_id: change.id,
    fk_entity_change_log: change.pk_entity_change_log,
    entity_type: change.object_type,
    entity_id: change.object_id,
    event_type: change.modification_type,
    fk_customer_org: change.fk_customer_org,
    trace_id: change.trace_id,
    change:
      disposition === "dead_letter"
        ? {
            object_type: change.object_type,
            modification_type: change.modification_type,
            object_id: change.object_id,
            object_data: change.object_data,
            object_data_before: change.object_data_before,
            tenant_id: change.tenant_id,
            transaction_id: change.transaction_id,
            created_at: createdAt,
          }
        : null,
  };
}

/** The event with the failure an on_dead_letter delivery reports (a copy: events are shared). */
function withDeadLetter(event: ChangeEvent, text: string): ChangeEvent {
  try {
    return { ...event, dead_letter: JSON.parse(text) as DeadLetterFailure };
  } catch {
    return event;
  }
}

function actionTypeOf(action: unknown): string | null {
  if (typeof action !== "object" || action === null) return null;
  const type = (action as { type?: unknown }).type;
  return typeof type === "string" ? type.slice(0, 64) : null;
}
