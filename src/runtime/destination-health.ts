/**
 * Gentle with struggling receivers (docs/delivery.md): before a claimed delivery runs, its
 * destination's shared circuit and its action's rate limit decide whether it runs now or waits.
 * A delivery that waits is put back without spending an attempt (`deferDeliveries`); an attempt
 * is reported back so the circuit counts transient failures and closes on success.
 */
import type { Delivery, ExecutionOutcome } from "../executor/outcome.ts";
import { deliveriesDeferred } from "../metrics/destinations.ts";
import type { Clock } from "../ports/clock.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { ClaimedDelivery } from "../store/claims.ts";
import { wakeHeldIfClosed, wakeOneForProbe } from "../store/deferred-deliveries.ts";
import {
  type CircuitSettings,
  type DestinationHealth,
  listUnhealthy,
  recordFailure,
  recordSuccess,
  takeProbe,
} from "../store/destination-health.ts";
import { createRateLimiter } from "./rate-limiter.ts";

/** Defaults of the circuit settings (docs/configuration.md). */
export const DEFAULT_CIRCUIT_SETTINGS: CircuitSettings = {
  failureThreshold: 5,
  probeDelayMs: 1_000,
  maxProbeDelayMs: 5 * 60_000,
  probeLeaseMs: 60_000,
  disableAfterMs: 5 * 24 * 60 * 60_000,
};

/** How stale a runtime's view of the shared circuits may be. */
const DEFAULT_CACHE_MS = 1_000;
/** A held delivery of a disabled destination looks again this often (enabling wakes it anyway). */
const DISABLED_RECHECK_MS = 60 * 60_000;
/** The shortest a delivery is put back for (so a waiting delivery is not claimed in a loop). */
const MIN_DEFER_MS = 250;
/**
 * A probe overdue by this much, with nobody holding it, wakes one parked delivery (at most once
 * per this period per destination and server): nothing was left due for it.
 */
const OVERDUE_PROBE_MS = 5_000;

/**
 * After putting deliveries back for a destination, this runtime wakes them itself whenever it
 * reads the circuit closed, until a read that started this long after its last put-back (by then
 * the put-back was committed before the read, and a close after it woke them).
 */
const PARKED_SETTLE_MS = 5_000;

const deferredByCircuit = deliveriesDeferred.labels("circuit");
const deferredByRate = deliveriesDeferred.labels("rate_limit");

/** A delivery kept back: until when, and the destination it waits for (null: a rate limit). */
export interface Deferral {
  at: number;
  destination: string | null;
}

/** Options of `createDeliveryGate`. */
export interface DeliveryGateOptions {
  sql: SqlExecutor;
  owner: string;
  clock: Clock;
  random?: () => number;
  settings?: Partial<CircuitSettings>;
  cacheMs?: number;
  /** Deliveries held for a destination became due (its circuit closed): claim them. */
  onWake(): void;
  onError(error: unknown, where: string): void;
  /** A circuit changed state as this runtime saw it (metrics, logs). */
  onTransition?(health: DestinationHealth | { destination: string; state: "closed" }): void;
}

/**
 * Decides, per claimed delivery, whether it runs now: the dispatcher `track`s a claim before its
 * delivery goes to the executor, the executor asks `admit` once the attempt holds its slot (with
 * the destination it computed), and the dispatcher `report`s the attempt's outcome.
 */
export interface DeliveryGate {
  track(claim: ClaimedDelivery): void;
  /** Null (run it) or a deferral; a promise only when it must ask the database. */
  admit(delivery: Delivery, destination: string | null): Deferral | null | Promise<Deferral | null>;
  /**
   * Counts the attempt for its destination. Returns, when the attempt was the probe of an open
   * circuit and failed transiently, the destination and when its next probe is due: the delivery
   * waits for it uncharged (`unchargedProbe`) and held for that destination (the observer's
   * `held` counts it), so an outage never spends deliveries' attempts on probes.
   */
  report(deliveryId: string, outcome: ExecutionOutcome): ProbeFailure | null;
  /** A tracked delivery ended without an attempt (its observer was deleted while it waited). */
  forget(deliveryId: string): void;
  /**
   * Called now and then (the dispatcher's lease heartbeat): reads the circuits if the view is
   * stale, so an overdue probe with nothing due for it is noticed though nothing is claimed.
   */
  tick(): void;
}

/** A probe that failed transiently: its destination, and when the next probe is due (ms). */
export interface ProbeFailure {
  destination: string;
  at: number;
}

/**
 * The outcome a failed probe's delivery is recorded with: logged as the attempt it was, but put
 * back with its attempt count unchanged, due at the next probe `at` (never dead-lettered: the
 * probe tested the destination, which is down, not the delivery).
 */
export function unchargedProbe(outcome: ExecutionOutcome, at: number): ExecutionOutcome {
  return { ...outcome, disposition: "retry", nextAttempt: outcome.attempt, nextAttemptAt: at };
}

/** A credential-free, bounded destination name: `type:origin` never carries userinfo. */
export function safeDestination(destination: string): string {
  return destination.replace(/\/\/[^/@\s]*@/g, "//").slice(0, 300);
}

/** The jittered wait before the probe of the `openCount`-th opening (0-based): 1 s doubling to 5 min. */
export function probeDelay(openCount: number, settings: CircuitSettings, random: () => number) {
  const base = Math.min(
    settings.maxProbeDelayMs,
    settings.probeDelayMs * 2 ** Math.min(openCount, 30),
  );
  // Full jitter on the upper half: servers that saw the same failure do not probe in step.
  return Math.round(base / 2 + (base / 2) * random());
}

/** A destination's health before anything failed (the local stand-in for a missing row). */
function closedHealth(destination: string): DestinationHealth {
  return {
    id: "",
    destination,
    state: "closed",
    consecutive_failures: 0,
    open_count: 0,
    opened_at: null,
    next_probe_at: null,
    probe_owner: null,
    probe_until: null,
    failing_since: null,
    last_error_code: null,
    last_http_status: null,
    disabled_at: null,
    disabled_reason: null,
  };
}

/** The rate limit of an action config (`rate_limit_per_second`), or null. */
export function rateLimitOf(action: unknown): number | null {
  if (typeof action !== "object" || action === null) return null;
  const rate = (action as { rate_limit_per_second?: unknown }).rate_limit_per_second;
  return typeof rate === "number" && Number.isFinite(rate) && rate > 0 ? rate : null;
}

/** Creates the gate of one runtime: circuits (when the threshold is positive) and rate limits. */
export function createDeliveryGate(options: DeliveryGateOptions): DeliveryGate {
  const { sql, owner, clock } = options;
  const random = options.random ?? Math.random;
  const settings: CircuitSettings = { ...DEFAULT_CIRCUIT_SETTINGS, ...options.settings };
  const cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
  const circuits = settings.failureThreshold > 0;
  const rates = createRateLimiter({ sql, clock, onError: options.onError });
  /** Destinations not plainly healthy, as last read; anything absent is closed without failures. */
  let known = new Map<string, DestinationHealth>();
  let loadedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<void> | null = null;
  /** Destinations this runtime is probing now. */
  const probing = new Set<string>();
  /**
   * This runtime's own changes to `known` (its failures, counted at once; rows its writes
   * returned), by destination: when last made, and how many failure writes are still in flight.
   * A shared read that started before such a change, or while its write was in flight, cannot
   * have seen it and must not undo it (else this runtime sends again to a circuit it just opened).
   */
  const localAt = new Map<string, number>();
  const writing = new Map<string, number>();

  function setLocal(destination: string, health: DestinationHealth | null): void {
    if (health === null) known.delete(destination);
    else known.set(destination, health);
    localAt.set(destination, clock.now());
  }

  /** The shared rows read, with this runtime's newer changes kept over them. */
  function merge(rows: DestinationHealth[], readStartedAt: number): Map<string, DestinationHealth> {
    const read = new Map(rows.map((row) => [row.destination, row]));
    for (const [destination, at] of localAt) {
      if (at < readStartedAt && !writing.has(destination)) {
        localAt.delete(destination);
        continue;
      }
      const local = known.get(destination);
      if (local) read.set(destination, local);
      else read.delete(destination);
    }
    return read;
  }

  function refresh(): Promise<void> {
    if (clock.now() - loadedAt < cacheMs) return Promise.resolve();
    if (loading) return loading;
    const startedAt = clock.now();
    loading = listUnhealthy(sql)
      .then((rows) => {
        known = merge(rows, startedAt);
        loadedAt = clock.now();
        nudgeOverdueProbes(rows);
        wakeAfterClose(rows, startedAt);
      })
      .catch((error: unknown) => {
        // Unknown health: deliveries run (the attempt's outcome is recorded either way).
        loadedAt = clock.now();
        options.onError(error, "circuit");
      })
      .finally(() => {
        loading = null;
      });
    return loading;
  }

  /**
   * Destinations this runtime put deliveries back for (deferred, or a failed probe's), and when
   * last. A close wakes the deliveries held for its destination, but not one being put back at
   * that instant (still leased): its deferral, not seeing the close yet, parked it for 15 minutes.
   * Reading the circuit closed afterwards, this runtime wakes what it may have parked so.
   */
  const parkedFor = new Map<string, number>();

  function wakeAfterClose(rows: readonly DestinationHealth[], readStartedAt: number): void {
    if (parkedFor.size === 0) return;
    const held = new Set(
      rows
        .filter((row) => row.state === "open" || row.disabled_at !== null)
        .map((row) => row.destination),
    );
    for (const [destination, at] of parkedFor) {
      if (held.has(destination)) continue;
      if (at < readStartedAt - PARKED_SETTLE_MS) parkedFor.delete(destination);
      wakeHeldIfClosed(sql, destination)
        .then((woken) => {
          if (woken > 0) options.onWake();
        })
        .catch((error: unknown) => options.onError(error, "circuit"));
    }
  }

  /** When this runtime last woke a parked delivery for a destination's overdue probe. */
  const nudgedAt = new Map<string, number>();

  /**
   * Parked backlogs (`deferDeliveries`) leave only a few deliveries due for each probe; should
   * none be left (all cancelled), one parked delivery is woken so the probe still runs.
   */
  function nudgeOverdueProbes(rows: readonly DestinationHealth[]): void {
    const now = clock.now();
    for (const [destination, at] of nudgedAt)
      if (now - at >= OVERDUE_PROBE_MS) nudgedAt.delete(destination);
    for (const row of rows) {
      const overdue =
        row.state === "open" &&
        row.disabled_at === null &&
        row.next_probe_at !== null &&
        row.next_probe_at < now - OVERDUE_PROBE_MS &&
        (row.probe_owner === null || (row.probe_until ?? 0) < now);
      if (!overdue || nudgedAt.has(row.destination) || probing.has(row.destination)) continue;
      nudgedAt.set(row.destination, now);
      wakeOneForProbe(sql, row.destination, OVERDUE_PROBE_MS)
        .then((woken) => {
          if (woken) options.onWake();
        })
        .catch((error: unknown) => options.onError(error, "circuit"));
    }
  }

  /** Claims tracked until reported, by delivery id; `probe` once the attempt is the probe. */
  const tracked = new Map<
    string,
    { claim: ClaimedDelivery; destination: string | null; probe: boolean }
  >();

  function defer(at: number, destination: string | null): Deferral {
    (destination === null ? deferredByRate : deferredByCircuit).inc();
    if (destination !== null) parkedFor.set(destination, clock.now());
    return { at: Math.max(at, clock.now() + MIN_DEFER_MS), destination };
  }

  /** Whether the circuit keeps the delivery back (and until when), before any token is taken. */
  function circuitWait(destination: string, now: number): number | "probe" | null {
    const health = known.get(destination);
    if (!health) return null;
    if (health.disabled_at !== null) return now + DISABLED_RECHECK_MS;
    if (health.state !== "open") return null;
    const probeFree = health.probe_owner === null || (health.probe_until ?? 0) < now;
    if ((health.next_probe_at ?? 0) <= now && probeFree && !probing.has(destination))
      return "probe";
    // A probe running (here or elsewhere): look again shortly; its success wakes them anyway.
    if (!probeFree || probing.has(destination)) return now + settings.probeDelayMs;
    return health.next_probe_at ?? now;
  }

  /** The common case answered without a promise: fresh view, destination healthy, no rate limit. */
  function admitAtOnce(delivery: Delivery, raw: string | null): Deferral | null | undefined {
    if (rateLimitOf(delivery.action) !== null) return undefined;
    if (!circuits || raw === null) return null;
    if (clock.now() - loadedAt >= cacheMs) return undefined;
    const destination = safeDestination(raw);
    const wait = circuitWait(destination, clock.now());
    if (wait === null) {
      const entry = tracked.get(delivery.id);
      if (entry) entry.destination = destination;
      return null;
    }
    return typeof wait === "number" ? defer(wait, destination) : undefined;
  }

  async function admitAsking(delivery: Delivery, raw: string | null): Promise<Deferral | null> {
    const entry = tracked.get(delivery.id);
    const destination = circuits && raw !== null ? safeDestination(raw) : null;
    let probe = false;
    if (destination !== null) {
      await refresh();
      const wait = circuitWait(destination, clock.now());
      if (typeof wait === "number") return defer(wait, destination);
      probe = wait === "probe";
    }
    const rate = rateLimitOf(delivery.action);
    if (rate !== null && entry) {
      // on_dead_letter's actions have buckets of their own (negative indexes: -1 for the first).
      const { claim } = entry;
      const index = claim.dead_letter ? -1 - claim.action_index : claim.action_index;
      const at = await rates.take(claim.fk_observer, index, rate);
      if (at !== null) return defer(at, null);
    }
    if (probe && destination !== null) {
      // The lease outlasts the probe's own timeout, so no second probe starts while it runs.
      const timeout = delivery.observer.timeout_ms ?? 0;
      const lease = Math.max(settings.probeLeaseMs, timeout + 5_000);
      const taken = await takeProbe(sql, destination, owner, lease).catch((error: unknown) => {
        options.onError(error, "circuit");
        return null;
      });
      if (taken === null) {
        // Another server took it (or it is no longer due): wait like the rest.
        loadedAt = Number.NEGATIVE_INFINITY;
        return defer(clock.now() + MIN_DEFER_MS * 4, destination);
      }
      setLocal(destination, taken);
      probing.add(destination);
    }
    if (entry) {
      entry.destination = destination;
      entry.probe = probe;
    }
    return null;
  }

  /** The probe wait of the `openCount`-th opening: never sooner than the receiver asked. */
  function probeWait(openCount: number, retryAfterMs: number | undefined): number {
    return Math.max(probeDelay(openCount, settings, random), retryAfterMs ?? 0);
  }

  function countLocally(destination: string, probe: boolean, retryAfterMs?: number): void {
    const now = clock.now();
    const health = known.get(destination) ?? closedHealth(destination);
    const failures = health.consecutive_failures + 1;
    localAt.set(destination, now);
    const opens =
      (health.state === "open" && probe) ||
      (health.state === "closed" && failures >= settings.failureThreshold);
    known.set(destination, {
      ...health,
      consecutive_failures: failures,
      failing_since: health.failing_since ?? now,
      ...(opens
        ? {
            state: "open",
            opened_at: health.state === "open" ? health.opened_at : now,
            next_probe_at: now + probeWait(health.open_count, retryAfterMs),
            open_count: health.open_count + 1,
            probe_owner: null,
            probe_until: null,
          }
        : {}),
    });
  }

  async function record(destination: string, outcome: ExecutionOutcome, probe: boolean) {
    try {
      if (outcome.failureKind === "cancelled") return;
      if (outcome.failureKind === "transient") {
        // Counted here at once, so this runtime stops sending before the shared row answers.
        countLocally(destination, probe, outcome.retryAfterMs);
        writing.set(destination, (writing.get(destination) ?? 0) + 1);
        let row: DestinationHealth | null;
        try {
          row = await recordFailure(
            sql,
            destination,
            { code: outcome.errorCode, httpStatus: outcome.httpStatus, probe },
            settings,
            (n) => probeWait(n, outcome.retryAfterMs),
          );
        } finally {
          const left = (writing.get(destination) ?? 1) - 1;
          if (left > 0) writing.set(destination, left);
          else writing.delete(destination);
        }
        if (row) {
          const before = known.get(destination);
          setLocal(destination, row);
          if (
            before?.state !== row.state ||
            (before?.disabled_at === null) !== (row.disabled_at === null)
          )
            options.onTransition?.(row);
        }
        return;
      }
      // The receiver answered (a success, or a 4xx that is the delivery's own fault).
      if (!probe && !known.has(destination)) return;
      const closed = await recordSuccess(sql, destination, probe ? owner : null);
      if (closed) {
        setLocal(destination, null);
        // A count of failures reset below the threshold is no transition: the circuit was closed.
        if (closed.wasOpen) options.onTransition?.({ destination, state: "closed" });
        options.onWake();
      }
    } catch (error: unknown) {
      options.onError(error, "circuit");
    } finally {
      if (probe) probing.delete(destination);
    }
  }

  return {
    track(claim) {
      tracked.set(claim.id, { claim, destination: null, probe: false });
    },
    admit(delivery, raw) {
      const now = admitAtOnce(delivery, raw);
      return now === undefined ? admitAsking(delivery, raw) : now;
    },
    forget(deliveryId) {
      tracked.delete(deliveryId);
    },
    tick() {
      if (circuits) void refresh();
    },
    report(deliveryId, outcome) {
      const entry = tracked.get(deliveryId);
      tracked.delete(deliveryId);
      if (!entry?.destination || outcome.deferred) return null;
      // Synchronously counted (countLocally) before its first await: `known` has the next probe.
      void record(entry.destination, outcome, entry.probe);
      if (!entry.probe || outcome.failureKind !== "transient") return null;
      const at = known.get(entry.destination)?.next_probe_at ?? null;
      if (at === null) return null;
      parkedFor.set(entry.destination, clock.now());
      return { destination: entry.destination, at };
    },
  };
}
