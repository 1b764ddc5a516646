import { defaultActionRegistry } from "../actions/registry.ts";
import { toObserversError } from "../errors.ts";
import { createExecutor } from "../executor/executor.ts";
import { markStarted, runtimeErrors, scheduleTicks } from "../metrics/observers.ts";
import { DEFAULT_TIMEOUT_MS } from "../observers/schema.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { TransportHealth } from "../ports/transport.ts";
import { readBacklog } from "../store/change-log.ts";
import { countUnhealthy } from "../store/destination-views.ts";
import { autovacuumRuns, vacuumDeliveries } from "../store/maintenance.ts";
import { readObserverRevision } from "../store/observer-rows.ts";
import { sweepRetention } from "../store/retention.ts";
import { fireDueSchedules, type ScheduleRound } from "../store/schedules.ts";
import { countUndecodedMessages, pruneTransportTables } from "../store/transport.ts";
import { type CaptureDoorbell, createCaptureDoorbell } from "./capture-doorbell.ts";
import { createCoalescedTask } from "./coalesced-task.ts";
import { createDeliveryGate } from "./destination-health.ts";
import { createDispatcher } from "./dispatcher.ts";
import { createDueTimer } from "./due-timer.ts";
import { ingestBatch } from "./ingest.ts";
import { EMPTY_OBSERVER_SET, loadObserverSet, type ObserverSet } from "./observer-set.ts";
import { runReplayRound } from "./replay-runner.ts";
import { createTransportWorker, type TransportWorker } from "./transport-worker.ts";
import type {
  ObserverRuntime,
  ObserverRuntimeOptions,
  RetentionOptions,
  RuntimeHealth,
  RuntimeTransportOptions,
} from "./types.ts";
import { startWakeups, type Wakeups } from "./wakeups.ts";

const DEFAULT_RETENTION: RetentionOptions = {
  changeLogDays: 7,
  logDays: 30,
  dlqDays: 30,
  intervalMs: 60 * 60_000,
};

/** Health's transport in PostgreSQL mode: the runtime reads the change log itself. */
const POSTGRES_TRANSPORT: TransportHealth = {
  transport: "postgres",
  role: "all",
  healthy: true,
  reason: null,
};

/** How often the runtime vacuums its delivery table when the server's autovacuum is off. */
const DEFAULT_VACUUM_INTERVAL_MS = 10_000;
/** Deliveries one ingest statement creates at most, unless `ingestMaxDeliveries` says otherwise. */
const DEFAULT_INGEST_MAX_DELIVERIES = 10_000;
/** Ingest transactions in a row before claiming gets a turn, when a backlog keeps batches full. */
const MAX_INGEST_ROUNDS = 8;
/** First and longest wait before looking again at changes a running transaction holds back. */
const HELD_BACK_FIRST_MS = 5;
const HELD_BACK_MAX_MS = 1_000;

/**
 * Creates the observer runtime over a SQL client: reads committed changes gap-free, matches them
 * into durable deliveries, claims due deliveries under a lease, runs them through the executor
 * and records every outcome. Several runtimes may share one database.
 */
export function createObserverRuntime(options: ObserverRuntimeOptions): ObserverRuntime {
  const { sql, environment } = options;
  const { clock, logger } = environment;
  const listenerId = options.listenerId ?? "default";
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const concurrency = options.concurrency ?? 64;
  const leaseMs = options.leaseMs ?? 30_000;
  const tenantConcurrency = options.tenantConcurrency ?? Math.ceil(concurrency / 2);
  const retention = { ...DEFAULT_RETENTION, ...options.retention };
  const owner = options.owner ?? `runtime-${crypto.randomUUID()}`;
  const shutdown = new AbortController();
  const gate = createDeliveryGate({
    sql,
    owner,
    clock,
    ...(options.random ? { random: options.random } : {}),
    ...(options.circuits ? { settings: options.circuits } : {}),
    ...(options.circuitCacheMs !== undefined ? { cacheMs: options.circuitCacheMs } : {}),
    onWake: () => dispatcher.pump(),
    onError: countError,
    onTransition: (health) =>
      logger.log(health.state === "open" ? "warn" : "info", `destination circuit ${health.state}`, {
        destination: health.destination,
        ...("disabled_at" in health && health.disabled_at !== null
          ? { disabled: true, reason: health.disabled_reason }
          : {}),
      }),
  });

  const executor = createExecutor({
    registry: options.registry ?? defaultActionRegistry,
    environment,
    concurrency,
    ...(options.perDestination === undefined ? {} : { perDestination: options.perDestination }),
    ...(options.adaptiveConcurrency === undefined ? {} : { adaptive: options.adaptiveConcurrency }),
    perTenant: tenantConcurrency,
    defaultTimeoutMs: DEFAULT_TIMEOUT_MS,
    signal: shutdown.signal,
    ...(options.random ? { random: options.random } : {}),
    admit: gate.admit,
  });

  let running = false;
  let stopped = false;
  let observers: ObserverSet = EMPTY_OBSERVER_SET;
  let eventsProcessed = 0;
  let errors = 0;
  let wakeups: Wakeups | null = null;
  let doorbell: CaptureDoorbell | null = null;
  let retentionTimer: unknown = null;
  let vacuumTimer: unknown = null;
  /** Ingest paused with a backlog because this runtime had no room for a batch. */
  let awaitingRoom = false;
  /** A look-again while a running transaction holds changes back, and its next delay. */
  let heldBackTimer: unknown = null;
  let heldBackDelayMs = HELD_BACK_FIRST_MS;
  /** When the ingest loop last asked the dispatcher to claim due deliveries. */
  let lastClaimAt = Number.NEGATIVE_INFINITY;

  // The metric's children, resolved once.
  const errorsIn = {
    delivery: runtimeErrors.labels("delivery"),
    match: runtimeErrors.labels("match"),
  };
  function countError(error: unknown, where: string): void {
    errors++;
    runtimeErrors.labels(where).inc();
    const failure = toObserversError(error);
    logger.log("error", `runtime ${where} failed`, { code: failure.code, error: failure.message });
  }

  const maxInFlight = Math.max(concurrency * 4, batchSize * 2);
  const dispatcher = createDispatcher({
    sql,
    executor,
    owner,
    maxInFlight,
    // A tenant's share of the window is its share of the slots.
    maxInFlightPerTenant: Math.ceil(
      (maxInFlight * Math.min(tenantConcurrency, concurrency)) / concurrency,
    ),
    batchSize,
    leaseMs,
    clock,
    logger,
    gate,
    onError: countError,
    onFault(message, fields) {
      errors++;
      errorsIn.delivery.inc();
      logger.log("error", message, fields);
    },
    onRecorded: () => options.onCommitted?.(),
    ...(options.transport?.consumer ? { onSettled: (pks) => worker?.settled(pks) } : {}),
    onRoom() {
      if (awaitingRoom && dispatcher.room >= batchSize) {
        awaitingRoom = false;
        wake();
      }
    },
  });

  /**
   * Whether this runtime executes deliveries: always in PostgreSQL mode; in NATS mode only with
   * a consumer (role `all` or `worker`). A bridge-only runtime publishes and nothing else: it
   * neither fires scheduled observers nor claims or runs a delivery (its dispatcher is never
   * pumped), so schedules and one-off events run where the actions run.
   */
  const executes = !options.transport || options.transport.consumer !== undefined;

  /** Claims when deliveries created for later (docs/time.md) come due. */
  const dueTimer = createDueTimer(clock, () => {
    if (running && !stopped && executes) dispatcher.pump();
  });

  /**
   * Scheduled observers (docs/time.md): fires the ticks due now, then sleeps until the soonest
   * next one (no polling), and looks again whenever the observers change.
   */
  let scheduleTimer: unknown = null;
  const schedules = createCoalescedTask(
    async () => {
      if (stopped || !executes) return;
      const round = await fireDueSchedules(sql, clock.now());
      if (round.fired > 0) scheduleTicks.inc(round.fired);
      if (round.deliveries > 0) dispatcher.pump();
      armSchedules(round);
    },
    (error) => countError(error, "schedules"),
  );
  function armSchedules(round: ScheduleRound): void {
    clock.clearTimeout(scheduleTimer);
    scheduleTimer = null;
    if (stopped) return;
    if (round.more) {
      void schedules.run();
      return;
    }
    if (round.nextRunAt === null) return;
    scheduleTimer = clock.setTimeout(
      () => {
        scheduleTimer = null;
        void schedules.run();
      },
      Math.max(0, round.nextRunAt - clock.now()),
    );
  }

  /**
   * Replays (docs/delivery.md): works a running replay a few pages at a time, on every poll and
   * right after, while one runs; a replay whose runtime died is taken over when its lease ends.
   */
  const replays = createCoalescedTask(
    async () => {
      if (stopped || !running || !executes) return;
      const round = await runReplayRound({ sql, owner, leaseMs, stopped: () => stopped });
      if (round.created > 0) dispatcher.pump();
      if (round.more && !stopped) void replays.run();
    },
    (error) => countError(error, "replay"),
  );

  async function observersAt(revision: string, db: SqlExecutor): Promise<ObserverSet> {
    if (revision !== observers.revision) {
      observers = await loadObserverSet(db, logger);
      logger.log("info", "observers loaded", { count: observers.matcher.size });
      const ordered = observers.perEntity ?? [];
      if (worker && ordered.length > 0) {
        // docs/delivery.md#ordering: a change is ordered only against deliveries already created.
        logger.log(
          "warn",
          "per_entity ordering in NATS mode holds only for changes matched in order: with several workers or a redelivered message, a later change of an entity can be delivered first; use OBSERVERS_TRANSPORT=postgres for strict order",
          { observers: ordered.slice(0, 20).join(", ") },
        );
      }
      void schedules.run();
    }
    return observers;
  }

  const ingest = {
    sql,
    listenerId,
    batchSize,
    logger,
    clock,
    owner,
    leaseMs,
    room: () => dispatcher.room,
    roomFor: (tenant: string | null) => dispatcher.roomFor(tenant),
    maxDeliveries: options.ingestMaxDeliveries ?? DEFAULT_INGEST_MAX_DELIVERIES,
    observers: observersAt,
  };
  // NATS mode: no reading of the change log here; a worker consumes what a bridge publishes.
  const transport = options.transport;
  const consumeStop = new AbortController();
  let consuming: Promise<void> | null = null;
  const worker: TransportWorker | null = transport?.consumer
    ? createTransportWorker({
        sql,
        consumer: transport.consumer,
        dispatcher,
        observers: observersAt,
        logger,
        clock,
        owner,
        leaseMs,
        stream: transport.stream,
        subjectPrefix: transport.subjectPrefix,
        batchSize,
        ackWaitMs: transport.ackWaitMs,
        ...(transport.dedup ? { dedup: transport.dedup } : {}),
        onError: countError,
        onMatched(changes) {
          eventsProcessed += changes;
          if (changes > 0) options.onCommitted?.();
        },
        onDue(dueInMs) {
          for (const inMs of dueInMs) dueTimer.at(clock.now() + inMs);
        },
      })
    : null;
  /** NATS mode's wake-up: claim due deliveries (retries, expired leases), at most every half poll. */
  let claimTimer: unknown = null;
  function claimDue(): void {
    if (!running || stopped || !worker || claimTimer !== null) return;
    const wait = lastClaimAt + pollIntervalMs / 2 - clock.now();
    if (wait <= 0) {
      lastClaimAt = clock.now();
      dispatcher.pump();
      void replays.run();
      return;
    }
    claimTimer = clock.setTimeout(() => {
      claimTimer = null;
      claimDue();
    }, wait);
  }

  const loop = createCoalescedTask(
    async () => {
      let more = false;
      let heldBack = false;
      // For the doorbell: whether this run read changes, and whether it stopped for want of room.
      let found = 0;
      let roomless = false;
      let raced = false;
      // Whether due deliveries may exist that this run did not hand to the dispatcher itself.
      let claimNeeded = false;
      for (let round = 0; round < MAX_INGEST_ROUNDS && !stopped; round++) {
        // Full: leave the backlog in the change log until recorded outcomes make room (or another
        // runtime with room reads it). Read now, its deliveries would be created due, then cost
        // every runtime a claim (an update and a second read of the change) to take them on.
        if (dispatcher.room < batchSize) {
          awaitingRoom = true;
          more = false;
          roomless = true;
          break;
        }
        const result = await ingestBatch(ingest);
        eventsProcessed += result.changes;
        errors += result.failures;
        if (result.failures > 0) errorsIn.match.inc(result.failures);
        if (result.changes > 0 || result.busy) options.onCommitted?.();
        // Created leased to this runtime and committed: run them without a claim round trip.
        if (result.claimed.length > 0) dispatcher.adopt(result.claimed, result.events);
        if (result.deliveries - result.later > result.claimed.length) dispatcher.pump();
        // Every due instant, not only the soonest: the due timer keeps them in order.
        for (const inMs of result.dueInMs) dueTimer.at(clock.now() + inMs);
        // Another runtime matched this batch: its deliveries may be due for anyone.
        if (result.busy) claimNeeded = true;
        found += result.changes;
        if (result.busy) raced = true;
        more = result.more;
        heldBack = result.heldBack;
        if (!more) break;
      }
      if (stopped) return;
      // Due work this runtime did not create (replays, other runtimes' deliveries, expired
      // leases) is claimed on every poll (half an interval apart at least, so a poll timer firing
      // a little early still claims), not on every wake-up: most find only changes, whose
      // deliveries this runtime runs without a claim. Its own retries have timers.
      if (claimNeeded || clock.now() - lastClaimAt >= pollIntervalMs / 2) {
        lastClaimAt = clock.now();
        dispatcher.pump();
        void replays.run();
      }
      lookAgainIfHeldBack(heldBack);
      // A backlog remains: read on once claiming has had its turn, not at the next poll (which
      // would cap a backlog's drain at MAX_INGEST_ROUNDS batches per poll interval).
      if (more) {
        // A backlog is being read: busy, whatever the rounds' pace (the doorbell goes quiet).
        doorbell?.settle(Math.max(found, 2));
        void loop.run();
      }
      // Capture's doorbell (src/runtime/capture-doorbell.ts): reading on its own while changes
      // keep coming silences the triggers' notifications; so does waiting for room (onRoom wakes
      // it, notifications would not). Nothing after losing a batch to another runtime (that one
      // is reading them). Nothing
      // read but changes held back by a running transaction: neither idle nor busy; the held-back
      // look-again (backing off) reads them.
      else if (roomless) doorbell?.hold();
      else if (!raced && (found > 0 || !heldBack)) doorbell?.settle(found);
    },
    (error) => countError(error, "ingest"),
  );

  /**
   * NATS mode: a worker reads the observer revision only with the messages it consumes, so with
   * none coming it would never see an observer written since (a new `SCHEDULE` observer would
   * never fire). Look on every poll and every observer write, not on capture's notifications.
   */
  const observersCheck = createCoalescedTask(
    async () => {
      if (running && !stopped) await observersAt(await readObserverRevision(sql), sql);
    },
    (error) => countError(error, "ingest"),
  );

  function wake(payload?: string): void {
    if (transport) {
      claimDue();
      if (executes && payload !== "") void observersCheck.run();
    } else if (running && !stopped) void loop.run();
  }

  /**
   * Changes held back by a running transaction (anywhere on the server) become readable when it
   * ends, which sends no notification: look again soon, backing off to the poll interval, instead
   * of waiting for the next poll.
   */
  function lookAgainIfHeldBack(heldBack: boolean): void {
    if (!heldBack) {
      heldBackDelayMs = HELD_BACK_FIRST_MS;
      return;
    }
    if (heldBackTimer !== null) return;
    const delay = heldBackDelayMs;
    heldBackDelayMs = Math.min(heldBackDelayMs * 2, HELD_BACK_MAX_MS, pollIntervalMs);
    heldBackTimer = clock.setTimeout(() => {
      heldBackTimer = null;
      wake();
    }, delay);
  }

  /** Vacuums the delivery table every `intervalMs`, when autovacuum does not. */
  function scheduleVacuum(intervalMs: number): void {
    vacuumTimer = clock.setTimeout(() => {
      vacuumDeliveries(sql)
        .catch((error: unknown) => countError(error, "vacuum"))
        .finally(() => {
          if (!stopped) scheduleVacuum(intervalMs);
        });
    }, intervalMs);
  }

  async function vacuumInterval(): Promise<number> {
    if (options.vacuumIntervalMs !== undefined) return options.vacuumIntervalMs;
    if (await autovacuumRuns(sql)) return 0;
    logger.log(
      "warn",
      "autovacuum does not run on this database: the runtime vacuums its delivery table itself",
      { every_ms: DEFAULT_VACUUM_INTERVAL_MS },
    );
    return DEFAULT_VACUUM_INTERVAL_MS;
  }

  function scheduleRetention(): void {
    retentionTimer = clock.setTimeout(() => {
      sweepRetention(sql, retention)
        .then(async (deleted) =>
          worker
            ? {
                ...deleted,
                ...(await pruneTransportTables(sql, retention.changeLogDays, retention.dlqDays)),
              }
            : deleted,
        )
        .then((deleted) => logger.log("info", "retention sweep", { ...deleted }))
        .catch((error: unknown) => countError(error, "retention"))
        .finally(() => {
          if (!stopped) scheduleRetention();
        });
    }, retention.intervalMs);
  }

  async function transportHealth(): Promise<TransportHealth> {
    const t = transport as RuntimeTransportOptions;
    const [broker, deadLetters] = await Promise.all([t.health(), countUndecodedMessages(sql)]);
    const bridge = t.bridge?.status();
    let reason = broker.reason;
    if (reason === null && bridge?.lastError)
      reason = `the bridge cannot publish: ${bridge.lastError}`;
    return {
      transport: "nats",
      role: t.role,
      ...broker,
      healthy: reason === null,
      reason,
      ...(bridge
        ? { bridge: { leader: bridge.leader, published: bridge.published, cursor: bridge.cursor } }
        : {}),
      dead_letters: deadLetters,
    };
  }

  return {
    async start() {
      if (running || stopped) return;
      observers = await loadObserverSet(sql, logger);
      running = true;
      markStarted(clock.now());
      logger.log("info", "runtime started", {
        observers: observers.matcher.size,
        listener: listenerId,
        owner,
      });
      wakeups = await startWakeups({
        sql,
        clock,
        logger,
        pollIntervalMs,
        wake,
      });
      // Only a reader that hears notifications may silence them (a Worker's tick polls).
      if (!transport && wakeups.listening) {
        doorbell = createCaptureDoorbell({ sql, clock, logger, pollIntervalMs, wake });
      }
      scheduleRetention();
      await schedules.run();
      if (worker) consuming = worker.run(consumeStop.signal);
      if (transport?.bridge) await transport.bridge.start();
      const vacuumEvery = await vacuumInterval();
      if (vacuumEvery > 0 && !stopped) scheduleVacuum(vacuumEvery);
      wake();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      clock.clearTimeout(retentionTimer);
      clock.clearTimeout(vacuumTimer);
      clock.clearTimeout(heldBackTimer);
      dueTimer.stop();
      clock.clearTimeout(scheduleTimer);
      clock.clearTimeout(claimTimer);
      await transport?.bridge?.stop();
      consumeStop.abort();
      await consuming;
      await wakeups?.stop();
      await loop.running;
      await doorbell?.stop();
      await observersCheck.running;
      await schedules.running;
      await replays.running;
      await dispatcher.stop(options.shutdownTimeoutMs ?? 10_000, () => shutdown.abort());
      running = false;
      logger.log("info", "runtime stopped", { owner });
    },

    async health(): Promise<RuntimeHealth> {
      const [backlog, destinations] = await Promise.all([
        readBacklog(sql, listenerId),
        countUnhealthy(sql),
      ]);
      const broker = transport ? await transportHealth() : POSTGRES_TRANSPORT;
      return {
        running: running && !stopped,
        // Every enabled observer it runs: those matching changes and the scheduled ones.
        observer_count: observers.matcher.size + observers.scheduled,
        last_checkpoint: backlog.lastChangeLogId === null ? null : Number(backlog.lastChangeLogId),
        events_processed: eventsProcessed,
        errors,
        lag: {
          pending_changes: backlog.pending,
          due_deliveries: backlog.due,
          oldest_pending_ms: backlog.oldestMs,
        },
        transport: broker,
        destinations,
      };
    },

    async reload() {
      observers = await loadObserverSet(sql, logger);
      void schedules.run();
      wake();
      return observers.matcher.size;
    },

    wake,
  };
}
