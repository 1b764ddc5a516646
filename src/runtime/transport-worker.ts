/**
 * A NATS mode worker: consumes change messages, matches them with the same observer set and
 * creates the same deliveries (same webhook-ids, planned by the same `planDeliveries`: delays,
 * `run_at_template` and debounce included) the PostgreSQL path would, runs them through the
 * runtime's dispatcher, and acknowledges a message only once every outcome of its change is
 * recorded (log rows written, retries scheduled in `core.tb_observer_delivery`, dead letters
 * written). Retries are the dispatcher's, from the delivery table: they never hold the stream;
 * nor do deliveries created for later, whose rows are their durable record (the message is
 * acknowledged at once, and the runtime's due timer claims them when due).
 *
 * A redelivered change creates nothing twice: the statement creating its deliveries also records
 * its event id in `core.tb_nats_ingested` (exactly once, whichever worker gets there first), and
 * with Redis a `SET NX` record per change is checked before PostgreSQL is asked. A message that
 * cannot be decoded is kept with its raw payload in `core.tb_nats_dead_letter` and terminated.
 */
import { toObserversError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import { eventsProcessed } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { ChangeConsumer, IncomingMessage, IngestDedup } from "../ports/transport.ts";
import type { OutcomeRecord } from "../store/outcomes.ts";
import { recordOutcomesIsolating } from "../store/quarantine.ts";
import {
  readChangeRows,
  readIngested,
  recordUndecodedMessage,
  writeTransportIngest,
} from "../store/transport.ts";
import { type DecodedChange, decodeChange, UndecodableMessage } from "../transport/wire.ts";
import type { Dispatcher } from "./dispatcher.ts";
import { claimsOf, type Matched, matchRow, type Note, planDeliveries } from "./ingest.ts";
import type { ObserverSet } from "./observer-set.ts";

/** What a worker needs from its runtime. */
export interface TransportWorkerOptions {
  sql: SqlExecutor;
  consumer: ChangeConsumer;
  dispatcher: Dispatcher;
  observers(revision: string, sql: SqlExecutor): Promise<ObserverSet>;
  logger: Logger;
  clock: Clock;
  owner: string;
  leaseMs: number;
  stream: string;
  subjectPrefix: string;
  /** Messages handed over at once, at most (default 500). */
  batchSize: number;
  /** The consumer's ack wait: messages in progress are marked `working()` every third of it. */
  ackWaitMs: number;
  dedup?: IngestDedup;
  onError(error: unknown, where: string): void;
  /** Changes matched (counted in health's `events_processed`). */
  onMatched(changes: number): void;
  /**
   * Deliveries were created for later (`delay_ms`, `run_at_template`, `debounce`), due in
   * `dueInMs`: the runtime arms its due timer, as its PostgreSQL path does.
   */
  onDue(dueInMs: readonly number[]): void;
}

/** A running worker. */
export interface TransportWorker {
  /** Consumes until `signal` aborts; resolves when the consumer has stopped. */
  run(signal: AbortSignal): Promise<void>;
  /** The dispatcher recorded the outcomes of these deliveries. */
  settled(pks: readonly string[]): void;
  /** Messages held until their deliveries' outcomes are recorded. */
  readonly holding: number;
}

interface Held {
  message: IncomingMessage;
  left: number;
}

/** Creates a worker over the runtime's dispatcher; see the file comment. */
export function createTransportWorker(options: TransportWorkerOptions): TransportWorker {
  const { sql, logger, clock } = options;
  /** Messages waiting for their deliveries, by delivery pk. */
  const byDelivery = new Map<string, Held>();
  const held = new Set<Held>();
  let heartbeat: unknown = null;

  function beat(): void {
    heartbeat = clock.setTimeout(
      () => {
        for (const entry of held) entry.message.working();
        beat();
      },
      Math.max(100, Math.floor(options.ackWaitMs / 3)),
    );
  }

  async function deadLetter(message: IncomingMessage, error: string): Promise<void> {
    try {
      await recordUndecodedMessage(sql, {
        stream: options.stream,
        sequence: message.sequence,
        subject: message.subject,
        headers: message.headers(),
        payload: message.payload,
        error,
      });
      logger.log("error", "message could not be decoded: dead-lettered with its payload", {
        subject: message.subject,
        stream_sequence: message.sequence,
        error,
      });
      message.term();
    } catch (failure: unknown) {
      options.onError(failure, "dead-letter");
      message.nak(1_000);
    }
  }

  async function handle(messages: IncomingMessage[]): Promise<void> {
    const decoded: { message: IncomingMessage; row: DecodedChange }[] = [];
    for (const message of messages) {
      try {
        decoded.push({ message, row: decodeChange(message, options.subjectPrefix) });
      } catch (error: unknown) {
        const reason = error instanceof UndecodableMessage ? error.message : String(error);
        await deadLetter(message, reason);
      }
    }
    if (decoded.length === 0) return;
    try {
      await ingest(decoded);
    } catch (error: unknown) {
      // Nothing was recorded (or only markers whose deliveries exist): let them come again.
      options.onError(error, "ingest");
      for (const { message } of decoded) {
        if (!isHeld(message)) message.nak(1_000);
      }
    }
  }

  function isHeld(message: IncomingMessage): boolean {
    for (const entry of held) if (entry.message === message) return true;
    return false;
  }

  async function ingest(
    decoded: { message: IncomingMessage; row: DecodedChange }[],
  ): Promise<void> {
    // One message per change: a second copy in the batch (a redelivery) is acknowledged at once;
    // the first stays unacknowledged until its change is recorded.
    const first = new Map<string, { message: IncomingMessage; row: DecodedChange }>();
    for (const item of decoded) {
      if (first.has(item.row.id)) item.message.ack();
      else first.set(item.row.id, item);
    }
    let ids = [...first.keys()];
    if (options.dedup) {
      const seen = await options.dedup.seen(ids).catch((error: unknown) => {
        logger.log("warn", "Redis dedup check failed; asking PostgreSQL", {
          error: error instanceof Error ? error.message : String(error),
        });
        return new Set<string>();
      });
      for (const id of seen) {
        first.get(id)?.message.ack();
        first.delete(id);
      }
      ids = [...first.keys()];
      if (ids.length === 0) return;
    }
    const { revision, ingested } = await readIngested(sql, ids);
    for (const id of ingested) {
      first.get(id)?.message.ack();
      first.delete(id);
    }
    if (first.size === 0) return;
    await readTruncated(first);
    const observers = await options.observers(revision, sql);
    const matched: Matched[] = [];
    const failures: OutcomeRecord[] = [];
    const notes: Note[] = [];
    const now = new Date(clock.now()).toISOString();
    for (const { row } of first.values()) matchRow(row, observers, matched, failures, notes, now);
    // The PostgreSQL path's planning: timed actions (docs/time.md) are created for later, never
    // leased; the rest leased to this worker (the consumer pulls only what the dispatcher has
    // room for).
    const { deliveries, dueInMs } = planDeliveries(matched, () => true, clock.now());
    const written = await writeTransportIngest(sql, {
      changes: [...first.values()].map(({ row }) => ({
        eventId: row.id,
        changeLogId: row.pk_entity_change_log,
      })),
      deliveries,
      owner: options.owner,
      leaseMs: options.leaseMs,
    });
    for (const note of notes) {
      if (written.recorded.has(String(note.fields.event_id))) {
        logger.log(note.level, note.message, note.fields);
      }
    }
    if (written.recorded.size > 0) eventsProcessed.inc(written.recorded.size);
    options.onMatched(written.recorded.size);
    if (dueInMs.length > 0 && written.recorded.size > 0) options.onDue(dueInMs);
    if (options.dedup && written.recorded.size > 0) {
      options.dedup.remember([...written.recorded]).catch((error: unknown) => {
        logger.log("warn", "Redis dedup record failed (PostgreSQL keeps the guarantee)", {
          error: error instanceof Error ? error.message : String(error),
        });
      });
    }
    const logOnly = failures.filter((record) => written.recorded.has(record.event_id));
    if (logOnly.length > 0) {
      const logged = await recordOutcomesIsolating(sql, "", logOnly);
      if (logged.failure) options.onError(logged.failure.error, "log");
    }
    const claims = claimsOf(written.leased, matched);
    const events = new Map<string, ChangeEvent>(
      matched.map((m) => [m.row.pk_entity_change_log, m.event]),
    );
    const perChange = new Map<string, number>();
    for (const claim of claims) {
      perChange.set(claim.origin.event_id, (perChange.get(claim.origin.event_id) ?? 0) + 1);
    }
    for (const [id, { message }] of first) {
      const left = perChange.get(id) ?? 0;
      // Matched by another worker meanwhile, or matched nothing: nothing of ours to wait for.
      if (left === 0) {
        message.ack();
        continue;
      }
      const entry: Held = { message, left };
      held.add(entry);
      for (const claim of claims) {
        if (claim.origin.event_id === id) byDelivery.set(claim.pk, entry);
      }
    }
    if (claims.length > 0) options.dispatcher.adopt(claims, events);
  }

  /**
   * Changes sent without their images (too large for the broker) are read from the change log.
   * One whose row is gone is matched as an unreadable change (logged, never delivered).
   */
  async function readTruncated(
    first: Map<string, { message: IncomingMessage; row: DecodedChange }>,
  ): Promise<void> {
    const truncated = [...first.values()].filter(({ row }) => row.truncated);
    if (truncated.length === 0) return;
    const rows = await readChangeRows(
      sql,
      truncated.map(({ row }) => row.pk_entity_change_log),
    );
    for (const item of truncated) {
      const stored = rows.get(item.row.pk_entity_change_log);
      item.row =
        stored && stored.id === item.row.id
          ? stored
          : { ...item.row, object_data: '"the change-log row of this truncated message is gone"' };
    }
  }

  return {
    async run(signal) {
      beat();
      try {
        await options.consumer.consume(
          (messages) =>
            handle(messages).catch((error: unknown) => {
              const failure = toObserversError(error);
              options.onError(failure, "consume");
            }),
          {
            maxMessages: options.batchSize,
            signal,
            room: () => options.dispatcher.room,
          },
        );
      } finally {
        clock.clearTimeout(heartbeat);
      }
    },
    settled(pks) {
      for (const pk of pks) {
        const entry = byDelivery.get(pk);
        if (!entry) continue;
        byDelivery.delete(pk);
        entry.left--;
        if (entry.left === 0) {
          held.delete(entry);
          entry.message.ack();
        }
      }
    },
    get holding() {
      return held.size;
    },
  };
}
