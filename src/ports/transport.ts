/**
 * The change transport: how committed changes travel from the change log to the workers that
 * match and deliver them.
 *
 * - `postgres` (default): the runtime reads `core.tb_entity_change_log` itself, gap-free, and
 *   matches in the same statement that moves its cursor (src/runtime/ingest.ts). Nothing is
 *   published; there is no broker.
 * - `nats`: a bridge (src/transport/bridge.ts) reads the change log with the same rule and
 *   publishes each change (`ChangePublisher`); workers consume them (`ChangeConsumer`) with
 *   explicit acknowledgement (adapters/drivers/nats).
 *
 * Sources added later (MySQL, SQL Server) plug into the same port. Nothing here depends on a
 * broker's client library.
 */

/** One change to publish: where, under which id (the broker's dedup key), with what. */
export interface OutgoingChange {
  /** Full subject, e.g. `fraiseql.mutation.Order.INSERT`. */
  subject: string;
  /** The change's event id: a republish under the same id is dropped by the broker's dedup window. */
  messageId: string;
  headers: Readonly<Record<string, string>>;
  /** UTF-8 JSON text. */
  payload: string;
}

/** Publishes changes; `publish` resolves only once the broker acknowledged every one of them. */
export interface ChangePublisher {
  publish(changes: readonly OutgoingChange[]): Promise<void>;
  /**
   * The largest payload the broker takes, when known: a change beyond it is sent without its
   * images (`truncated: true`), and workers read it from the change log.
   */
  maxPayloadBytes?(): number | undefined;
  /**
   * False while the broker is unreachable (the client reconnecting): a bridge then gives its
   * lease up so a bridge connected elsewhere publishes. Absent: taken as connected.
   */
  connected?(): boolean;
}

/** One consumed message. Exactly one of `ack`, `nak`, `term` ends it. */
export interface IncomingMessage {
  readonly subject: string;
  readonly payload: Uint8Array;
  /** A header's first value, or undefined. */
  header(name: string): string | undefined;
  /** Every header, for dead letters. */
  headers(): Record<string, string[]>;
  /** The stream's sequence number of this message. */
  readonly sequence: number;
  /** Delivered before and not acknowledged then. */
  readonly redelivered: boolean;
  /** Done: never deliver again. */
  ack(): void;
  /** Deliver again, to any consumer, after `delayMs`. */
  nak(delayMs?: number): void;
  /** Never deliver again, and it was not processed (after it was dead-lettered). */
  term(): void;
  /** Still working on it: restart the acknowledgement timer. */
  working(): void;
}

/** Pulls messages in batches, waiting for `handle` before asking for more. */
export interface ChangeConsumer {
  /**
   * Pulls until `signal` aborts, giving at most `maxMessages` at a time to `handle` (which must
   * end each, now or later, by ack/nak/term). Reconnects by itself; never rejects for a lost
   * connection (health says so meanwhile).
   */
  consume(
    handle: (messages: IncomingMessage[]) => Promise<void>,
    options: { maxMessages: number; signal: AbortSignal; room(): number },
  ): Promise<void>;
}

/** What health shows of the transport. */
export interface TransportHealth {
  transport: "postgres" | "nats";
  role: "all" | "bridge" | "worker";
  /** False when the broker cannot be reached: the health endpoint answers 503. */
  healthy: boolean;
  /** Why not healthy, for people (never a URL or credential). */
  reason: string | null;
  connection?: "connected" | "reconnecting" | "disconnected" | "closed";
  stream?: { name: string; messages: number; first_sequence: number; last_sequence: number };
  consumer?: {
    name: string;
    num_pending: number;
    num_ack_pending: number;
    num_redelivered: number;
  };
  /** Bridge only: whether this process holds the publishing lease. */
  bridge?: { leader: boolean; published: number; cursor: string | null };
  /**
   * NATS mode: messages that could not be decoded, kept with their raw payload in
   * `core.tb_nats_dead_letter` (every process's, capped at 100 000). They do not make health fail.
   */
  dead_letters?: number;
}

/** A broker connection: its publisher and consumer, its health, and how to close it. */
export interface ChangeTransport {
  readonly kind: "nats";
  publisher: ChangePublisher;
  consumer: ChangeConsumer;
  /** Creates or updates the stream (and the consumer, for workers) if missing. */
  prepare(options: { consumer: boolean }): Promise<void>;
  health(): Promise<Omit<TransportHealth, "role" | "transport" | "bridge">>;
  close(): Promise<void>;
}

/** Remembers which changes a worker already matched, before PostgreSQL is asked (Redis `SET NX`). */
export interface IngestDedup {
  /** The ids among `eventIds` already recorded as matched. */
  seen(eventIds: readonly string[]): Promise<Set<string>>;
  /** Records them as matched (after PostgreSQL committed their deliveries). */
  remember(eventIds: readonly string[]): Promise<void>;
}
