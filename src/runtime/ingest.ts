import { toObserversError } from "../errors.ts";
import { normalizeChangeEvent } from "../events/normalize.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../ports/sql.ts";
import { advanceCursor, type ChangeRow, lockCursor, readChanges } from "../store/change-log.ts";
import { insertDeliveries, type NewDelivery } from "../store/deliveries.ts";
import { type OutcomeRecord, recordOutcomes } from "../store/outcomes.ts";
import type { ObserverSet } from "./observer-set.ts";

/** What one ingest transaction did. */
export interface IngestResult {
  /** Another runtime holds the cursor: it is reading, this one need not. */
  busy: boolean;
  changes: number;
  deliveries: number;
  /** The batch was full: there may be more to read right away. */
  more: boolean;
  /** Changes or conditions that could not be read or evaluated (logged, counted, never retried). */
  failures: number;
}

/** What ingest needs from the runtime. */
export interface IngestContext {
  sql: SqlClient;
  listenerId: string;
  batchSize: number;
  logger: Logger;
  clock: Clock;
  /** The current observers; reloaded (with `tx`) when the revision read with the cursor differs. */
  observers(revision: string, tx: SqlExecutor): Promise<ObserverSet>;
}

/**
 * Reads the next committed changes in gap-free order, matches them, and in the same transaction
 * writes their deliveries and moves the cursor past them: a change is matched exactly once, and a
 * crash anywhere leaves either all of it or none.
 */
export function ingestBatch(context: IngestContext): Promise<IngestResult> {
  return context.sql.transaction(async (tx) => {
    const locked = await lockCursor(tx, context.listenerId);
    if (!locked) return { busy: true, changes: 0, deliveries: 0, more: false, failures: 0 };
    const observers = await context.observers(locked.observerRevision, tx);
    const rows = await readChanges(tx, locked.cursor, context.batchSize);
    const last = rows.at(-1);
    if (!last) return { busy: false, changes: 0, deliveries: 0, more: false, failures: 0 };

    const deliveries: NewDelivery[] = [];
    const failures: OutcomeRecord[] = [];
    const now = new Date(context.clock.now()).toISOString();
    for (const row of rows) matchRow(row, observers, deliveries, failures, context.logger, now);
    await insertDeliveries(tx, deliveries);
    // Owner is irrelevant for log-only records: they touch no delivery.
    await recordOutcomes(tx, "", failures);
    await advanceCursor(
      tx,
      context.listenerId,
      { transactionId: last.transaction_id, changeLogId: last.pk_entity_change_log },
      rows.length,
    );
    return {
      busy: false,
      changes: rows.length,
      deliveries: deliveries.length,
      more: rows.length >= context.batchSize,
      failures: failures.length,
    };
  });
}

function matchRow(
  row: ChangeRow,
  observers: ObserverSet,
  deliveries: NewDelivery[],
  failures: OutcomeRecord[],
  logger: Logger,
  now: string,
): void {
  let event: ChangeEvent;
  try {
    event = normalizeChangeEvent(row);
  } catch (error: unknown) {
    const failure = toObserversError(error);
    logger.log("error", "change could not be read; no observer will see it", {
      change_log_id: row.pk_entity_change_log,
      event_id: row.id,
      code: failure.code,
      error: failure.message,
    });
    failures.push(logOnly(row, now, null, failure.code, failure.message));
    return;
  }
  const result = observers.matcher.match(event);
  for (const observer of result.matched) {
    for (let index = 0; index < observer.actionCount; index++) {
      deliveries.push({
        event_id: row.id,
        fk_observer: observer.pk,
        fk_entity_change_log: row.pk_entity_change_log,
        action_index: index,
        fk_customer_org: row.fk_customer_org,
      });
    }
  }
  for (const { observer, error } of result.errors) {
    logger.log("warn", "condition could not be evaluated; the observer did not fire", {
      observer: observer.name,
      observer_id: observer.id,
      event_id: event.id,
      code: error.code,
      error: error.message,
    });
    failures.push(logOnly(row, now, observer.pk, error.code, error.message, event.event_type));
  }
}

function logOnly(
  row: ChangeRow,
  now: string,
  fkObserver: string | null,
  code: string,
  message: string,
  eventType: string = row.modification_type,
): OutcomeRecord {
  return {
    pk: null,
    disposition: "log",
    status: "failed",
    attempt: 1,
    max_attempts: 1,
    next_attempt: null,
    next_at: null,
    started_at: null,
    completed_at: now,
    duration_ms: null,
    http_status: null,
    error_code: code,
    error_message: message.slice(0, 2000),
    message: null,
    excerpt: null,
    fk_observer: fkObserver,
    observer_name: null,
    delivery_id: null,
    action_index: null,
    action_type: null,
    event_id: row.id,
    fk_entity_change_log: row.pk_entity_change_log,
    entity_type: row.object_type,
    entity_id: row.object_id,
    event_type: eventType,
    fk_customer_org: row.fk_customer_org,
    trace_id: row.trace_id,
    change: null,
  };
}
