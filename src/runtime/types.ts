import type { ActionEnvironment, ActionRegistry } from "../actions/types.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ChangeConsumer, IngestDedup, TransportHealth } from "../ports/transport.ts";
import type { CircuitSettings } from "../store/destination-health.ts";
import type { Bridge } from "../transport/bridge.ts";

/** How far behind the runtime is. */
export interface RuntimeLag {
  /** Committed changes not yet matched (read by this runtime's listener). */
  pending_changes: number;
  /** Deliveries due now and not yet claimed, across every runtime on the database. */
  due_deliveries: number;
  /** Age of the oldest change not yet matched, in milliseconds (0 when caught up). */
  oldest_pending_ms: number;
}

/** `GET /api/observers/runtime/health` (FraiseQL's fields, plus `lag`). */
export interface RuntimeHealth {
  running: boolean;
  /** Enabled, live observers loaded into the matcher. */
  observer_count: number;
  /** The change-log id (`pk_entity_change_log`) the listener's cursor has passed, or null. */
  last_checkpoint: number | null;
  /** Changes this process has matched since it started. */
  events_processed: number;
  /** Failures this process has counted: unreadable changes, conditions that could not be evaluated, database errors. */
  errors: number;
  lag: RuntimeLag;
  /**
   * How changes reach this runtime: `postgres` (it reads the change log), or `nats` with the
   * broker's connection and the stream's and consumer's lag; unhealthy answers 503.
   */
  transport?: TransportHealth;
  /**
   * Endpoint health (docs/delivery.md): destinations whose circuit is open, and those disabled
   * (their deliveries held until reset). Counts only: the health needs no token.
   */
  destinations?: { open: number; disabled: number };
}

/**
 * NATS mode (`OBSERVERS_TRANSPORT=nats`): the runtime does not read the change log itself. A
 * worker (`consumer`) consumes change messages; a bridge (`bridge`) publishes them; `all` both.
 */
export interface RuntimeTransportOptions {
  role: "all" | "bridge" | "worker";
  /** Workers: the durable consumer to pull from. */
  consumer?: ChangeConsumer;
  /** Bridges: started and stopped with the runtime. */
  bridge?: Bridge;
  stream: string;
  subjectPrefix: string;
  /** The consumer's ack wait (in-progress messages are marked working every third of it). */
  ackWaitMs: number;
  /** With Redis: checked before PostgreSQL for changes already matched. */
  dedup?: IngestDedup;
  /** The broker's health (connection, stream and consumer lag). */
  health(): Promise<Omit<TransportHealth, "role" | "transport" | "bridge">>;
}

/** Options of `createObserverRuntime`. */
export interface ObserverRuntimeOptions {
  sql: SqlClient;
  /** What actions get: fetch, env, clock, logger, and the optional services. */
  environment: ActionEnvironment;
  /** Default: every built-in action. */
  registry?: ActionRegistry;
  /** The cursor's name in `core.tb_observer_checkpoint` (default "default"). */
  listenerId?: string;
  /**
   * Names this runtime in the leases it takes (default a fresh `runtime-<uuid>`): a host that must
   * tell its own leases from other runtimes' (a Worker's tick) gives a unique one.
   */
  owner?: string;
  /** Look at the tables this often even without a notification (default 1 000 ms). */
  pollIntervalMs?: number;
  /** Changes read per ingest transaction, and deliveries per claim (default 500). */
  batchSize?: number;
  /** Attempts running at once (default 64). */
  concurrency?: number;
  /**
   * Attempts one tenant's deliveries may run at once (default: half of `concurrency`, rounded
   * up), so one tenant's slow receivers leave slots to the others. Deliveries of changes without
   * a tenant are not capped.
   */
  tenantConcurrency?: number;
  /**
   * Deliveries one ingest statement creates at most (default 10 000): the batch of changes is cut
   * to stay under it; a change whose deliveries alone exceed it is written in a statement of its
   * own.
   */
  ingestMaxDeliveries?: number;
  /**
   * Attempts running at once against one destination: the cap of its adaptive limit (default
   * 256), or the fixed limit when `adaptiveConcurrency` is false.
   */
  perDestination?: number;
  /** Learn each destination's limit from its round trips (default true; docs/delivery.md). */
  adaptiveConcurrency?: boolean;
  /** A claim's lease; renewed every third of it while the attempt runs (default 30 000 ms). */
  leaseMs?: number;
  /** How long `stop` lets running attempts finish before cancelling them (default 10 000 ms). */
  shutdownTimeoutMs?: number;
  retention?: Partial<RetentionOptions>;
  /**
   * How often this runtime vacuums the delivery table itself (0: never). Default: every
   * 10 000 ms where autovacuum does not run (off, or embedded PGlite), else never.
   */
  vacuumIntervalMs?: number;
  /**
   * Endpoint health (docs/delivery.md): consecutive transient failures that open a destination's
   * circuit (0: off), the probe backoff, and how long a failing destination runs before it is
   * disabled (0: never). Defaults: `DEFAULT_CIRCUIT_SETTINGS`.
   */
  circuits?: Partial<CircuitSettings>;
  /** How stale this runtime's view of the shared circuits may be (default 1 000 ms). */
  circuitCacheMs?: number;
  /** Jitter source for retry backoff (default Math.random). */
  random?: () => number;
  /**
   * Called after the runtime committed changes it read or outcomes it recorded: a live feed
   * (WebSocket notifications) in the same process can read them now instead of at its next poll.
   */
  onCommitted?: () => void;
  /** NATS mode; unset: the PostgreSQL path (the runtime reads the change log). */
  transport?: RuntimeTransportOptions;
}

/** How long what is kept is kept. Dead letters are never deleted before their own retention. */
export interface RetentionOptions {
  /** Change-log rows older than this, already matched and no longer needed by a pending delivery (default 7). */
  changeLogDays: number;
  /** `tb_observer_log` rows (default 30). */
  logDays: number;
  /** `tb_observer_dlq` rows (default 30). */
  dlqDays: number;
  /** How often the sweep runs (default 1 hour; the first run is one interval after start). */
  intervalMs: number;
}

/** The observer runtime: turns committed changes into delivered actions. */
export interface ObserverRuntime {
  /** Loads observers and starts listening, polling and delivering. */
  start(): Promise<void>;
  /**
   * Stops claiming, lets running attempts finish within `shutdownTimeoutMs`, cancels the rest,
   * releases leases and records every outcome. Does not close the SQL client.
   */
  stop(): Promise<void>;
  health(): Promise<RuntimeHealth>;
  /** Reloads observers now; resolves to how many are enabled. */
  reload(): Promise<number>;
  /** A hint that there may be new changes or due deliveries: look now. */
  wake(): void;
}
