import { planTiming } from "../actions/timing.ts";
import { toObserversError } from "../errors.ts";
import { normalizeChangeEvent } from "../events/normalize.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { JsonValue } from "../json.ts";
import { eventsProcessed } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { type ChangeRow, readNextChanges } from "../store/change-log.ts";
import type { ClaimedDelivery } from "../store/claims.ts";
import {
  type LeasedDelivery,
  type NewDelivery,
  orderingKey,
  writeIngest,
} from "../store/deliveries.ts";
import { NO_ATTEMPT, type OutcomeRecord } from "../store/outcomes.ts";
import { recordOutcomesIsolating } from "../store/quarantine.ts";
import type { LoadedObserver, ObserverSet } from "./observer-set.ts";

/** What one ingest transaction did. */
export interface IngestResult {
  /** Another runtime moved the cursor first: this batch was its to match. */
  busy: boolean;
  changes: number;
  deliveries: number;
  /** Deliveries created leased to this runtime: run them now (the transaction has committed). */
  claimed: ClaimedDelivery[];
  /** The events of the claimed deliveries, by change-log id. */
  events: Map<string, ChangeEvent>;
  /** The batch was full: there may be more to read right away. */
  more: boolean;
  /** Nothing was read, but changes past the cursor wait for a running transaction to end. */
  heldBack: boolean;
  /**
   * In how many milliseconds each delivery created for later (`delay_ms`, `run_at_template`,
   * `debounce`) is due (empty when none was): the runtime claims then, not at its next poll.
   */
  dueInMs: readonly number[];
  /** Of `deliveries`, those created for later (not due now, never leased). */
  later: number;
  /** Changes or conditions that could not be read or evaluated (logged, counted, never retried). */
  failures: number;
}

/** What ingest needs from the runtime. */
export interface IngestContext {
  sql: SqlExecutor;
  listenerId: string;
  batchSize: number;
  logger: Logger;
  clock: Clock;
  /** Lease owner and length for the deliveries this runtime takes on at once. */
  owner: string;
  leaseMs: number;
  /** How many new deliveries this runtime can take on now; the rest wait for any claimer. */
  room(): number;
  /** ...of one tenant (default `room()`): a tenant at its share gets its deliveries due, unleased. */
  roomFor?(tenant: string | null): number;
  /**
   * Deliveries one ingest statement creates at most (default: no limit): the batch is cut
   * before the change that would go past it, except that the first change is always taken, so a
   * change whose deliveries alone exceed it still moves the cursor, in a statement of its own.
   */
  maxDeliveries?: number;
  /** The current observers; reloaded when the revision read with the cursor differs. */
  observers(revision: string, sql: SqlExecutor): Promise<ObserverSet>;
}

const IDLE: IngestResult = {
  busy: false,
  changes: 0,
  deliveries: 0,
  claimed: [],
  events: new Map(),
  more: false,
  heldBack: false,
  failures: 0,
  dueInMs: [],
  later: 0,
};

/**
 * Reads the next committed changes in gap-free order, matches them, and in one statement writes
 * their deliveries and moves the cursor past them, if no other runtime moved it first: a change
 * is matched exactly once, and a crash anywhere leaves either all of it or none. Two round trips,
 * no transaction held open between them; a third (log rows) only when something could not be read
 * or evaluated.
 */
export async function ingestBatch(context: IngestContext): Promise<IngestResult> {
  const { sql } = context;
  const batch = await readNextChanges(sql, context.listenerId, context.batchSize);
  if (!batch) return IDLE;
  const observers = await context.observers(batch.observerRevision, sql);
  if (batch.rows.length === 0) return batch.heldBack ? { ...IDLE, heldBack: true } : IDLE;

  const matched: Matched[] = [];
  const failures: OutcomeRecord[] = [];
  const notes: Note[] = [];
  const now = new Date(context.clock.now()).toISOString();
  const maxDeliveries = context.maxDeliveries ?? Number.POSITIVE_INFINITY;
  let taken = 0;
  for (const row of batch.rows) {
    const mark = [matched.length, failures.length, notes.length] as const;
    matchRow(row, observers, matched, failures, notes, now);
    // Over the cap: this change and the rest wait for the next statement (read again at once).
    if (taken > 0 && matched.length > maxDeliveries) {
      matched.length = mark[0];
      failures.length = mark[1];
      notes.length = mark[2];
      break;
    }
    taken++;
  }
  for (const note of notes) context.logger.log(note.level, note.message, note.fields);
  const last = batch.rows[taken - 1] as ChangeRow;
  let room = Math.max(0, context.room());
  const tenantRooms = new Map<string | null, number>();
  const lease = (tenant: string | null): boolean => {
    if (room <= 0) return false;
    const left = tenantRooms.get(tenant) ?? context.roomFor?.(tenant) ?? room;
    if (left <= 0) return false;
    tenantRooms.set(tenant, left - 1);
    room--;
    return true;
  };
  const { deliveries, dueInMs, later } = planDeliveries(
    matched,
    (row) => lease(row.fk_customer_org),
    context.clock.now(),
  );
  const written = await writeIngest(sql, {
    listenerId: context.listenerId,
    from: batch.cursor,
    to: { transactionId: last.transaction_id, changeLogId: last.pk_entity_change_log },
    changes: taken,
    deliveries,
    owner: context.owner,
    leaseMs: context.leaseMs,
  });
  // Another runtime matched this batch first and nothing was written. It is draining: leave the
  // rest to it until the next wake-up rather than race it batch for batch.
  if (!written.moved) return { ...IDLE, busy: true };
  // Committed: these changes are matched, by this process (and by no other).
  eventsProcessed.inc(taken);
  // Owner is irrelevant for log-only records: they touch no delivery. One the database refuses is
  // quarantined (a minimal log row) rather than failing the others.
  const logged = await recordOutcomesIsolating(sql, "", failures);
  for (const { record, error, how } of logged.quarantined) {
    context.logger.log("error", "log row quarantined: the database refused to record it", {
      how,
      event_id: record.event_id,
      code: record.error_code,
      error: error instanceof Error ? error.message : String(error),
    });
  }
  if (logged.failure) throw logged.failure.error;
  return {
    busy: false,
    changes: taken,
    deliveries: deliveries.length,
    claimed: claimsOf(written.leased, matched),
    events: new Map(matched.map((m) => [m.row.pk_entity_change_log, m.event])),
    more: taken < batch.rows.length || batch.rows.length >= context.batchSize,
    heldBack: false,
    failures: failures.length,
    dueInMs,
    later,
  };
}

/** The deliveries a batch of matches creates, and when those created for later are due. */
export interface PlannedDeliveries {
  deliveries: NewDelivery[];
  /** In how many milliseconds each delivery created for later is due (one entry per instant). */
  dueInMs: number[];
  /** Of `deliveries`, those created for later (not due now, never leased). */
  later: number;
}

/**
 * Turns matches into the deliveries to create, for both transports (this file's ingest and the
 * NATS worker, src/runtime/transport-worker.ts): an action with `delay_ms`, `run_at_template` or
 * `debounce` (docs/time.md) gets its timing and is never leased; within the batch a later change
 * replaces an earlier one's debounced delivery of the same key; the others are leased when
 * `lease(row)` says so (the runtime has room).
 */
export function planDeliveries(
  matched: readonly Matched[],
  lease: (row: ChangeRow) => boolean,
  nowMs: number,
): PlannedDeliveries {
  const due = new Set<number>();
  let later = 0;
  const deliveries: NewDelivery[] = [];
  /** Debounced deliveries by key: a later change of the batch replaces an earlier one's. */
  let debounced: Map<string, number> | null = null;
  /** Ordered (observer, action, entity)s of the batch: only the first delivery may be leased. */
  let ordered: Set<string> | null = null;
  for (const { row, event, observer, index } of matched) {
    const timing = observer.timings[index];
    const planned = timing ? planTiming(timing, event, observer) : null;
    let first = true;
    let ordering: NewDelivery["ordering"];
    if (observer.perEntity) {
      ordering = { key: orderingKey(row), txid: row.transaction_id };
      ordered ??= new Set();
      const key = `${observer.pk}:${index}:${ordering.key}`;
      first = !ordered.has(key);
      ordered.add(key);
    }
    // A paused observer's deliveries wait for resume; a later delivery of an entity, for the
    // earlier one (the statement leases the first only if none of its entity is pending).
    const delivery: NewDelivery = {
      event_id: row.id,
      fk_observer: observer.pk,
      fk_entity_change_log: row.pk_entity_change_log,
      action_index: index,
      fk_customer_org: row.fk_customer_org,
      leased: planned === null && first && !observer.paused && lease(row),
    };
    if (ordering) delivery.ordering = ordering;
    if (planned === null) {
      deliveries.push(delivery);
      continue;
    }
    delivery.timing = planned;
    const inMs = planned.debounce
      ? planned.debounce.windowMs
      : planned.dueAt !== undefined
        ? Date.parse(planned.dueAt) - nowMs
        : (planned.delayMs ?? 0);
    due.add(inMs);
    if (planned.debounce) {
      debounced ??= new Map();
      const key = `${observer.pk}:${index}:${planned.debounce.key}`;
      const earlier = debounced.get(key);
      if (earlier !== undefined) {
        deliveries[earlier] = delivery;
        continue;
      }
      debounced.set(key, deliveries.length);
    }
    later++;
    deliveries.push(delivery);
  }
  return { deliveries, dueInMs: [...due], later };
}

/** A log line of matching, written only for the changes the statement takes. */
export interface Note {
  level: "warn" | "error";
  message: string;
  fields: Readonly<Record<string, JsonValue>>;
}

/** One delivery to create: the change, the observer, the action. */
export interface Matched {
  row: ChangeRow;
  event: ChangeEvent;
  observer: LoadedObserver;
  index: number;
}

/** The leased deliveries as claims, from what ingest already holds (no query needed). */
export function claimsOf(
  leased: readonly LeasedDelivery[],
  matched: readonly Matched[],
): ClaimedDelivery[] {
  const byKey = new Map<string, Matched>();
  for (const m of matched) {
    byKey.set(`${m.row.pk_entity_change_log}:${m.observer.pk}:${m.index}`, m);
  }
  const claims: ClaimedDelivery[] = [];
  for (const delivery of leased) {
    const m = byKey.get(
      `${delivery.fk_entity_change_log}:${delivery.fk_observer}:${delivery.action_index}`,
    );
    if (!m) continue;
    claims.push({
      pk: delivery.pk,
      id: delivery.id,
      fk_observer: m.observer.pk,
      action_index: m.index,
      attempt: 1,
      fk_observer_dlq: null,
      scheduled_at: null,
      change: m.row,
      origin: {
        fk_entity_change_log: m.row.pk_entity_change_log,
        event_id: m.row.id,
        fk_customer_org: m.row.fk_customer_org,
      },
      observer_id: m.observer.id,
      observer_name: m.observer.name,
      observer_version: m.observer.version,
      observer_deleted: false,
      observer_tenant:
        m.observer.fk_customer_org == null ? null : String(m.observer.fk_customer_org),
      action: m.observer.actions[m.index] ?? null,
      retry_config: m.observer.retryConfig,
      timeout_ms: m.observer.timeoutMs,
    });
  }
  return claims;
}

/** Matches one change: its deliveries, or the log rows of what could not be read or evaluated. */
export function matchRow(
  row: ChangeRow,
  observers: ObserverSet,
  matched: Matched[],
  failures: OutcomeRecord[],
  notes: Note[],
  now: string,
): void {
  let event: ChangeEvent;
  try {
    event = normalizeChangeEvent(row);
  } catch (error: unknown) {
    const failure = toObserversError(error);
    notes.push({
      level: "error",
      message: "change could not be read; no observer will see it",
      fields: {
        change_log_id: row.pk_entity_change_log,
        event_id: row.id,
        code: failure.code,
        error: failure.message,
      },
    });
    failures.push(logOnly(row, now, null, failure.code, failure.message));
    return;
  }
  const result = observers.matcher.match(event);
  for (const observer of result.matched) {
    for (let index = 0; index < observer.actions.length; index++) {
      matched.push({ row, event, observer, index });
    }
  }
  for (const { observer, error } of result.errors) {
    notes.push({
      level: "warn",
      message: "condition could not be evaluated; the observer did not fire",
      fields: {
        observer: observer.name,
        observer_id: observer.id,
        event_id: event.id,
        code: error.code,
        error: error.message,
      },
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
    ...NO_ATTEMPT,
    completed_at: now,
    error_code: code,
    error_message: message.slice(0, 2000),
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
