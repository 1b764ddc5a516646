/**
 * The bridge: reads committed changes from `core.tb_entity_change_log` with the runtime's
 * gap-free rule (`readNextChanges`, its own cursor), publishes each as a NATS message, and moves
 * its cursor only after the broker acknowledged every publish of the batch, compare-and-set from
 * where it read it (`writeIngest` with no deliveries). Several bridges may run: the one holding
 * the lease (`core.tb_nats_bridge_lease`, renewed every loop) publishes, the others wait and
 * take over once it expires. A bridge that cannot publish (its broker unreachable, or publishes
 * failing for longer than a lease) gives the lease up, so a bridge connected to a healthy broker
 * takes over; it competes again once it can publish. A bridge killed at any moment republishes at most the batch it had
 * not recorded, under the same message ids, which the stream's duplicate window drops.
 */
import { toObserversError } from "../errors.ts";
import { metrics } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ChangePublisher } from "../ports/transport.ts";
import { type CaptureDoorbell, createCaptureDoorbell } from "../runtime/capture-doorbell.ts";
import { startWakeups, type Wakeups } from "../runtime/wakeups.ts";
import { readNextChanges } from "../store/change-log.ts";
import { writeIngest } from "../store/deliveries.ts";
import { holdBridgeLease, releaseBridgeLease, startCursorAt } from "../store/transport.ts";
import { encodeChange } from "./wire.ts";

const publishedTotal = metrics.counter(
  "fraiseql_observer_nats_published_total",
  "Changes this process's bridge published to NATS and recorded (its cursor moved past them).",
);

/** Options of `createBridge`. */
export interface BridgeOptions {
  sql: SqlClient;
  publisher: ChangePublisher;
  clock: Clock;
  logger: Logger;
  /** Subject prefix (`OBSERVERS_NATS_SUBJECT_PREFIX`). */
  subjectPrefix: string;
  /** The lease's name and the cursor's: one per stream (default `nats:<stream>`). */
  name: string;
  /** Changes per publish batch (default 500). */
  batchSize?: number;
  /** Look for changes this often without a notification (default 1 000 ms). */
  pollIntervalMs?: number;
  /** How long a lease lasts unrenewed (default 10 000 ms): the takeover delay after a crash. */
  leaseMs?: number;
  /**
   * The PostgreSQL path's cursor (`OBSERVERS_LISTENER_ID`): a bridge starting for the first time
   * starts where it stands, so switching a database to NATS mode does not publish again what the
   * PostgreSQL path already matched. Without it (or that cursor), from the start of the log.
   */
  resumeFrom?: string;
}

/** A running bridge. */
export interface Bridge {
  start(): Promise<void>;
  /** Stops publishing and gives the lease up. */
  stop(): Promise<void>;
  status(): { leader: boolean; published: number; cursor: string | null; lastError: string | null };
  wake(): void;
}

/** Creates a bridge; see the file comment. */
export function createBridge(options: BridgeOptions): Bridge {
  const { sql, publisher, clock, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const leaseMs = options.leaseMs ?? 10_000;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const owner = `bridge-${crypto.randomUUID()}`;
  let leader = false;
  let published = 0;
  let cursor: string | null = null;
  let lastError: string | null = null;
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let wakeups: Wakeups | null = null;
  let renewTimer: unknown = null;
  let retryTimer: unknown = null;
  let failures = 0;

  /** When this bridge last renewed its lease (its own clock): renewed again after a quarter of it. */
  let renewedAt = Number.NEGATIVE_INFINITY;
  /** When publishing began failing (none: it works), and until when this bridge stands down. */
  let failingSince: number | null = null;
  let standDownUntil = Number.NEGATIVE_INFINITY;

  /**
   * Gives the lease up when this bridge cannot publish, so that a bridge connected to a healthy
   * broker takes over (it competes again once it can publish).
   */
  async function giveUpLease(why: string): Promise<void> {
    if (!leader) return;
    leader = false;
    renewedAt = Number.NEGATIVE_INFINITY;
    logger.log("warn", `bridge gives its lease up: ${why}`, { bridge: owner });
    await releaseBridgeLease(sql, options.name, owner).catch(() => undefined);
  }

  async function holdLease(): Promise<boolean> {
    if (publisher.connected?.() === false) {
      await giveUpLease("the broker is unreachable");
      return false;
    }
    if (clock.now() < standDownUntil) return false;
    // A leader that renewed recently still holds it: no round trip per batch.
    if (leader && clock.now() - renewedAt < leaseMs / 4) return true;
    const asked = clock.now();
    const held = await holdBridgeLease(sql, options.name, owner, leaseMs);
    if (held) renewedAt = asked;
    if (held !== leader) {
      logger.log("info", held ? "bridge leads: publishing" : "bridge lost the lease", {
        bridge: owner,
      });
    }
    leader = held;
    return held;
  }

  /**
   * Publishes batches while there are changes and this bridge holds the lease. Resolves true when
   * changes past the cursor wait for a running transaction to end (look again soon).
   */
  async function drain(): Promise<boolean> {
    read = null;
    while (!stopped) {
      if (!(await holdLease())) return false;
      const batch = await readNextChanges(sql, options.name, batchSize);
      if (!batch) return false;
      read ??= 0;
      if (batch.rows.length === 0) return batch.heldBack;
      read += batch.rows.length;
      const max = publisher.maxPayloadBytes?.();
      const messages = batch.rows.map((row) => encodeChange(row, options.subjectPrefix, max));
      await publisher.publish(messages);
      const last = batch.rows[batch.rows.length - 1];
      if (!last) return false;
      // Compare-and-set: had another bridge moved it meanwhile (a lease lost to a long pause),
      // it published the same ids, which the duplicate window dropped.
      const written = await writeIngest(sql, {
        listenerId: options.name,
        from: batch.cursor,
        to: { transactionId: last.transaction_id, changeLogId: last.pk_entity_change_log },
        changes: batch.rows.length,
        deliveries: [],
        owner,
        leaseMs,
      });
      if (!written.moved) {
        logger.log("warn", "bridge cursor moved by another bridge; reading again", {
          bridge: owner,
        });
        continue;
      }
      published += batch.rows.length;
      publishedTotal.inc(batch.rows.length);
      cursor = last.pk_entity_change_log;
      if (batch.rows.length < batchSize) return false;
      // Reading a backlog: busy (the doorbell goes quiet while this drain goes on).
      doorbell?.settle(batch.rows.length);
    }
    return false;
  }

  /**
   * Changes held back by a running transaction become readable when it ends, which sends no
   * notification: look again soon, backing off to the poll interval (as the runtime does).
   */
  let heldBackTimer: unknown = null;
  let heldBackDelayMs = 5;
  /** Changes the last drain read (null: it read nothing, not being the leader). */
  let read: number | null = null;
  /** Capture's doorbell (src/runtime/capture-doorbell.ts), when notifications are heard. */
  let doorbell: CaptureDoorbell | null = null;
  function lookAgainIfHeldBack(heldBack: boolean): void {
    if (!heldBack) {
      heldBackDelayMs = 5;
      return;
    }
    if (heldBackTimer !== null || stopped) return;
    const delay = heldBackDelayMs;
    heldBackDelayMs = Math.min(heldBackDelayMs * 2, 1_000, pollIntervalMs);
    heldBackTimer = clock.setTimeout(() => {
      heldBackTimer = null;
      run();
    }, delay);
  }

  function run(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    again = false;
    running = drain()
      .then((heldBack) => {
        failures = 0;
        failingSince = null;
        lastError = null;
        lookAgainIfHeldBack(heldBack);
        // Nothing read but changes held back: the held-back look-again reads them.
        if (read !== null && (read > 0 || !heldBack)) doorbell?.settle(read);
      })
      .catch(async (error: unknown) => {
        failures++;
        const failure = toObserversError(error);
        lastError = failure.message;
        logger.log("error", "bridge failed to publish; retrying", {
          code: failure.code,
          error: failure.message,
        });
        const now = clock.now();
        failingSince ??= now;
        if (leader && now - failingSince >= leaseMs) {
          // Failing for longer than a lease: stand down for one, so another bridge takes over.
          failingSince = null;
          standDownUntil = now + leaseMs;
          await giveUpLease("publishing failed for longer than a lease");
        }
        // Nothing moved: the same changes are read and published again after a backoff.
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        clock.clearTimeout(retryTimer);
        retryTimer = clock.setTimeout(run, delay);
      })
      .finally(() => {
        running = null;
        if (again) run();
      });
  }

  /** Followers try for the lease, and the leader renews it, every third of its length. */
  function renewLoop(): void {
    renewTimer = clock.setTimeout(
      () => {
        if (stopped) return;
        // A leader whose broker became unreachable gives its lease up now, even while a publish
        // of its waits for the broker.
        if (leader && publisher.connected?.() === false) {
          void giveUpLease("the broker is unreachable");
        }
        run();
        renewLoop();
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
  }

  return {
    async start() {
      if (options.resumeFrom !== undefined) {
        await startCursorAt(sql, options.name, options.resumeFrom);
      }
      wakeups = await startWakeups({ sql, clock, logger, pollIntervalMs, wake: run });
      if (wakeups.listening) {
        doorbell = createCaptureDoorbell({ sql, clock, logger, pollIntervalMs, wake: run });
      }
      renewLoop();
      run();
      logger.log("info", "bridge started", { bridge: owner, name: options.name });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clock.clearTimeout(renewTimer);
      clock.clearTimeout(retryTimer);
      clock.clearTimeout(heldBackTimer);
      await wakeups?.stop();
      await running;
      await doorbell?.stop();
      if (leader) {
        await releaseBridgeLease(sql, options.name, owner).catch((error: unknown) => {
          logger.log("warn", "bridge could not release its lease; it expires by itself", {
            error: error instanceof Error ? error.message : String(error),
          });
        });
      }
      leader = false;
    },
    status: () => ({ leader, published, cursor, lastError }),
    wake: run,
  };
}
