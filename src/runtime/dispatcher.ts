import { batchSettingsOf } from "../actions/batch.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { Executor } from "../executor/executor.ts";
import type { Delivery, ExecutionOutcome } from "../executor/outcome.ts";
import type { JsonValue } from "../json.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import {
  type ClaimedDelivery,
  claimDeliveries,
  observerDeleted,
  renewLeases,
} from "../store/claims.ts";
import { sqlState } from "../store/common.ts";
import { deferDeliveries } from "../store/deferred-deliveries.ts";
import type { OutcomeRecord } from "../store/outcomes.ts";
import { type QuarantinedOutcome, recordOutcomesIsolating } from "../store/quarantine.ts";
import { createBatcher } from "./batcher.ts";
import { ConfigCache, deletedRecord, outcomeRecord, planDelivery } from "./delivery-plan.ts";
import { type DeliveryGate, type ProbeFailure, unchargedProbe } from "./destination-health.ts";
import { createTenantWindow } from "./tenant-window.ts";

/** The tenant a delivery counts against: its row's, which is what claims filter on. */
const tenantOf = (claim: ClaimedDelivery): string | null => claim.origin.fk_customer_org;

/** Options of `createDispatcher`. */
export interface DispatcherOptions {
  sql: SqlExecutor;
  executor: Executor;
  /** This runtime's lease owner name. */
  owner: string;
  /** Deliveries claimed and not yet recorded, at most. */
  maxInFlight: number;
  /** ...of one tenant (default `maxInFlight`): claims skip a tenant at its cap. */
  maxInFlightPerTenant?: number;
  /** Deliveries per claim, at most. */
  batchSize: number;
  leaseMs: number;
  clock: Clock;
  logger: Logger;
  /** A database failure (claim, record, renew): counted by the runtime. */
  onError(error: unknown, where: string): void;
  /**
   * One delivery or outcome ended abnormally without stopping the others (its change row was
   * gone, or the database refused its outcome and it was quarantined): counted and logged by the
   * runtime.
   */
  onFault(message: string, fields: Readonly<Record<string, JsonValue>>): void;
  /** Recorded outcomes made room: deliveries it could not take on before may fit now. */
  onRoom?(): void;
  /** Outcomes were committed (their log rows are readable). */
  onRecorded?(): void;
  /**
   * Deliveries (by row pk) whose outcome was just recorded (done, retry scheduled, dead-lettered
   * or quarantined): NATS workers acknowledge a message once all of its deliveries are.
   */
  onSettled?(pks: readonly string[]): void;
  /**
   * Circuits and rate limits (src/runtime/destination-health.ts), also given to the executor as
   * its `admit`: a delivery it keeps back is put back without spending an attempt.
   */
  gate?: DeliveryGate;
}

/** Claims due deliveries, runs them through the executor, records outcomes in batches. */
export interface Dispatcher {
  /** Claims while there is capacity and due work. */
  pump(): void;
  /**
   * Runs deliveries this runtime created already leased to itself, with the events ingest read
   * for them (by change-log id), so they are not parsed twice.
   */
  adopt(claims: ClaimedDelivery[], events: Map<string, ChangeEvent>): void;
  /** How many more deliveries it can take on now. */
  readonly room: number;
  /** How many more deliveries of `tenant` it can take on now (at most `room`). */
  roomFor(tenant: string | null): number;
  /** Stops claiming; waits for running attempts up to `timeoutMs`, then cancels them; records everything. */
  stop(timeoutMs: number, cancel: () => void): Promise<void>;
  readonly inFlight: number;
}

/** Creates the claim → execute → record pipeline of one runtime. */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { sql, executor, owner, clock, logger } = options;
  const configs = new ConfigCache();
  /** Claimed, not yet recorded: their leases are renewed. */
  const inFlight = new Map<string, ClaimedDelivery>();
  const tenants = createTenantWindow(options.maxInFlightPerTenant ?? options.maxInFlight);
  let executing = 0;
  let pending: OutcomeRecord[] = [];
  let stopping = false;
  let claiming: Promise<void> | null = null;
  let claimAgain = false;
  /**
   * Deliveries may be due that no claim has looked for yet: set by `pump` and by a claim that
   * came back full, cleared by one that did not. A flush claims after itself only then, so that
   * a runtime running what it created leased does not query for due work after every flush.
   */
  let mayBeDue = false;
  let flushing: Promise<void> | null = null;
  let retryTimer: unknown = null;
  let retryAt = Number.POSITIVE_INFINITY;
  let flushFailures = 0;
  const drained: (() => void)[] = [];
  // Deliveries of actions with `batch` wait here for their group (batcher.ts); counted as executing.
  const batcher = createBatcher({
    clock,
    executor,
    // One write for the whole batch: recorded one by one, the first member's outcome alone would
    // make room for one claim, and a full runtime would send that one as a batch of its own.
    done(results, batch) {
      // A batch is one probe (its first member's admit): a failed probe charges none of them.
      const reports = results.map(
        ({ member, outcome }) => options.gate?.report(member.claim.id, outcome) ?? null,
      );
      const probe = reports.find((report) => report !== null) ?? null;
      for (const [i, { member, outcome }] of results.entries()) {
        const uncharged =
          probe !== null && (reports[i] !== null || outcome.failureKind === "transient");
        const record = ended(member.claim, member.actionType, outcome, uncharged ? probe : null);
        if (record) pending.push({ ...record, batch_id: batch.id, batch_size: batch.size });
      }
      flush();
    },
    // Members waited up to max_wait_ms since their claim: an observer deleted meanwhile cancels
    // them, as its claim would have (one group is one observer).
    async admit(members) {
      const first = members[0];
      if (first === undefined || !(await observerDeleted(sql, first.claim.fk_observer))) {
        return members;
      }
      const now = clock.now();
      for (const member of members) {
        executing--;
        options.gate?.forget(member.claim.id);
        pending.push(deletedRecord(member.claim, member.actionType, now));
      }
      flush();
      return [];
    },
  });
  const deferredQueue: { pk: string; at: string; destination: string | null }[] = [];
  let deferring: Promise<void> | null = null;

  // Leases of claimed deliveries are renewed every third of their length until recorded.
  let heartbeat: unknown = null;
  /** Whether the runtime asked for claims yet (it started). */
  let pumped = false;
  function beat(): void {
    heartbeat = clock.setTimeout(
      () => {
        if (inFlight.size > 0) {
          renewLeases(sql, owner, [...inFlight.keys()], options.leaseMs).catch((e: unknown) =>
            options.onError(e, "renew"),
          );
        }
        // Reads the circuits though nothing is claimed (an overdue probe with nothing due).
        if (pumped && !stopping) options.gate?.tick();
        beat();
      },
      Math.max(1, Math.floor(options.leaseMs / 3)),
    );
  }
  beat();

  function pump(): void {
    pumped = true;
    mayBeDue = true;
    claim();
  }

  function claim(): void {
    if (stopping) return;
    if (claiming) {
      claimAgain = true;
      return;
    }
    claiming = claimLoop()
      .catch((error: unknown) => {
        mayBeDue = true;
        options.onError(error, "claim");
      })
      .finally(() => {
        claiming = null;
        if (claimAgain && !stopping) claim();
      });
  }

  async function claimLoop(): Promise<void> {
    do {
      claimAgain = false;
      const room = Math.min(options.batchSize, options.maxInFlight - inFlight.size);
      // Full: the claim waits for recorded outcomes to make room (flush claims then).
      if (room <= 0) return;
      mayBeDue = false;
      const claims = await claimDeliveries(sql, owner, room, options.leaseMs, tenants.full());
      if (claims.length > 0) start(claims);
      if (claims.length === room) {
        mayBeDue = true;
        claimAgain = true;
      }
    } while (claimAgain && !stopping);
  }

  function start(claims: ClaimedDelivery[], known?: Map<string, ChangeEvent>): void {
    const events = new Map<string, ChangeEvent | Error>(known);
    const now = clock.now();
    for (const claim of claims) {
      inFlight.set(claim.pk, claim);
      tenants.add(tenantOf(claim));
      const planned = planDelivery(claim, configs, events, now);
      if (!planned.ok) {
        if (claim.change === null) {
          options.onFault("delivery ended: its change row is gone, the action was not run", {
            code: planned.record.error_code,
            delivery_id: claim.id,
            observer: claim.observer_name,
            change_log_id: claim.origin.fk_entity_change_log,
          });
        }
        settle(planned.record);
        continue;
      }
      executing++;
      options.gate?.track(claim);
      const batch = batchSettingsOf(planned.delivery.action);
      if (batch !== null) {
        batcher.add({ claim, delivery: planned.delivery, actionType: planned.actionType }, batch);
        continue;
      }
      execute(claim, planned.delivery, planned.actionType);
    }
    // Nothing waits for a batch to fill when stopping (adopted deliveries still run), nor when
    // this dispatcher is full: no claim could add to the groups until they are sent. Likewise for
    // a tenant at its cap: claims skip its deliveries, so its groups cannot fill either.
    if (batcher.waiting > 0) {
      if (stopping || inFlight.size >= options.maxInFlight) batcher.flushAll();
      else {
        const full = new Set(tenants.full());
        if (full.size > 0) {
          batcher.flushWhere((member) => full.has(tenantOf(member.claim) ?? ""));
        }
      }
    }
  }

  function execute(claim: ClaimedDelivery, delivery: Delivery, actionType: string | null): void {
    void executor.execute(delivery).then((outcome) => {
      const record = ended(
        claim,
        actionType,
        outcome,
        options.gate?.report(claim.id, outcome) ?? null,
      );
      if (record) settle(record);
    });
  }

  /**
   * An attempt (alone or in a batch) ended with `reported`: a probe that failed (`probe`, from
   * the gate) waits uncharged and held for the next probe, a deferral goes back to the table as
   * it was; anything else is the record to write (null when deferred).
   */
  function ended(
    claim: ClaimedDelivery,
    actionType: string | null,
    reported: ExecutionOutcome,
    probe: ProbeFailure | null,
  ): OutcomeRecord | null {
    executing--;
    const outcome = probe === null ? reported : unchargedProbe(reported, probe.at);
    if (outcome.deferred) {
      defer(claim.pk, outcome.deferred.at, outcome.deferred.destination);
      return null;
    }
    if (outcome.disposition === "retry" && outcome.nextAttemptAt !== null) {
      scheduleRetry(outcome.nextAttemptAt);
    }
    const record = outcomeRecord(claim, actionType, outcome);
    return probe === null ? record : { ...record, held_destination: probe.destination };
  }

  /** A claimed delivery is no longer ours to run (recorded or put back): room for more. */
  function release(pk: string): void {
    const claim = inFlight.get(pk);
    // Its deliveries skipped by claims while it was full may be due: claim after this.
    if (claim && tenants.remove(tenantOf(claim))) mayBeDue = true;
    inFlight.delete(pk);
  }

  /**
   * Puts a delivery the gate kept back into the table, due at `at`, without an attempt or a log
   * row. If that write fails, its lease runs out and it comes due again all the same.
   */
  function defer(pk: string, at: number, destination: string | null): void {
    deferredQueue.push({ pk, at: new Date(at).toISOString(), destination });
    scheduleRetry(at);
    deferring ??= (async () => {
      while (deferredQueue.length > 0) {
        const batch = deferredQueue.splice(0);
        try {
          await deferDeliveries(sql, owner, batch);
        } catch (error: unknown) {
          options.onError(error, "defer");
        }
        for (const { pk } of batch) release(pk);
        options.onSettled?.(batch.map((d) => d.pk));
        options.onRoom?.();
      }
    })().finally(() => {
      deferring = null;
      if (executing === 0 && inFlight.size === 0 && pending.length === 0 && !flushing)
        for (const resolve of drained.splice(0)) resolve();
      if (mayBeDue && !stopping) claim();
    });
  }

  function settle(record: OutcomeRecord): void {
    pending.push(record);
    flush();
  }

  /**
   * One flush at a time; what arrives meanwhile goes in the next one (natural batching). A record
   * the database refuses is split off and quarantined (`recordOutcomesIsolating`), so it never
   * holds up the others; a failure that may pass (connection lost) puts what was not written back
   * at the head of the queue, to be written after a backoff.
   */
  function flush(): Promise<void> {
    if (flushing || pending.length === 0) return flushing ?? Promise.resolve();
    const batch = pending;
    pending = [];
    flushing = recordOutcomesIsolating(sql, owner, batch)
      .then((result) => {
        const settled = result.recorded.concat(result.quarantined.map((q) => q.record));
        for (const record of settled) if (record.pk !== null) release(record.pk);
        for (const quarantined of result.quarantined) reportQuarantine(quarantined);
        if (options.onSettled && settled.length > 0) {
          const pks: string[] = [];
          for (const record of settled) if (record.pk !== null) pks.push(record.pk);
          options.onSettled(pks);
        }
        if (settled.length > 0) {
          options.onRoom?.();
          options.onRecorded?.();
        }
        if (result.failure === null) {
          flushFailures = 0;
          return;
        }
        // Nothing is dropped: what was not written goes back and is written on the next try.
        // Meanwhile the leases are still renewed, so no other runtime re-sends these deliveries.
        pending = result.failure.unwritten.concat(pending);
        flushFailures++;
        options.onError(result.failure.error, "record");
        return backOff();
      })
      .catch((error: unknown) => {
        // Not expected (the write reports failures in its result): keep everything, try again.
        pending = batch.concat(pending);
        flushFailures++;
        options.onError(error, "record");
        return backOff();
      })
      .finally(() => {
        flushing = null;
        if (pending.length > 0) void flush();
        else if (executing === 0 && inFlight.size === 0)
          for (const done of drained.splice(0)) done();
        if (mayBeDue && !stopping) claim();
      });
    return flushing;
  }

  function backOff(): Promise<void> {
    return new Promise<void>((resolve) =>
      clock.setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(flushFailures, 6))),
    );
  }

  function reportQuarantine({ record, error, how }: QuarantinedOutcome): void {
    options.onFault("outcome quarantined: the database refused to record it", {
      how,
      delivery_id: record.delivery_id,
      observer: record.observer_name,
      status: record.status,
      disposition: record.disposition,
      error: error instanceof Error ? error.message : String(error),
      sqlstate: sqlState(error) ?? null,
      ...(record.trace_id ? { trace_id: record.trace_id } : {}),
    });
  }

  function scheduleRetry(at: number): void {
    if (stopping || at >= retryAt) return;
    if (retryTimer !== null) clock.clearTimeout(retryTimer);
    retryAt = at;
    retryTimer = clock.setTimeout(
      () => {
        retryTimer = null;
        retryAt = Number.POSITIVE_INFINITY;
        pump();
      },
      Math.max(0, at - clock.now()),
    );
  }

  async function stop(timeoutMs: number, cancel: () => void): Promise<void> {
    stopping = true;
    if (retryTimer !== null) clock.clearTimeout(retryTimer);
    await claiming;
    batcher.flushAll();
    const idle = new Promise<void>((resolve) => {
      if (inFlight.size === 0 && executing === 0) resolve();
      else drained.push(resolve);
    });
    if ((await within(idle, timeoutMs)) === "timeout") {
      logger.log("warn", "shutdown: cancelling attempts still running", { running: executing });
      cancel();
      // Cancelled attempts settle at once and their outcomes release the leases; if the database
      // is unreachable the leases simply run out.
      await within(idle, 5_000);
    }
    clock.clearTimeout(heartbeat);
    if (deferring) await within(deferring, 5_000);
    const deadline = clock.now() + 5_000;
    while ((flushing || pending.length > 0) && clock.now() < deadline) {
      await within(flush(), Math.max(1, deadline - clock.now()));
    }
  }

  function within(promise: Promise<void>, ms: number): Promise<"done" | "timeout"> {
    let timer: unknown = null;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = clock.setTimeout(() => resolve("timeout"), ms);
    });
    const done = promise.then(() => "done" as const);
    return Promise.race([done, timeout]).finally(() => clock.clearTimeout(timer));
  }

  return {
    pump,
    stop,
    adopt(claims, events) {
      // After stop began these still run: they are leased to us, and stop waits for them.
      start(claims, events);
    },
    get room() {
      return stopping ? 0 : Math.max(0, options.maxInFlight - inFlight.size);
    },
    roomFor(tenant) {
      const room = stopping ? 0 : Math.max(0, options.maxInFlight - inFlight.size);
      return Math.min(room, tenants.room(tenant));
    },
    get inFlight() {
      return inFlight.size;
    },
  };
}
