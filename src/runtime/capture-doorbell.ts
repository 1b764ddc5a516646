/**
 * The reader's side of capture's doorbell (migrations/0015_capture_doorbell.sql). Capture triggers
 * notify only while `core.sq_capture_quiet_until` lies in the past: PostgreSQL serialises
 * notifying commits, so a notification per commit caps how fast tracked tables commit, and a
 * reader that keeps finding changes does not need them. A reader (the runtime's ingest loop, a
 * NATS bridge) tells the doorbell after every round of reading whether it found changes:
 *
 * - ringing (the default): notifications flow. A round that read several changes at once, or two
 *   rounds finding changes within `BURST_GAP_MS` (changes arrive faster than ~200/s, or faster
 *   than this reader reads them one by one), turn it quiet.
 * - quiet: the reader silences the triggers with a lease (`QUIET_LEASE_MS`, renewed while it
 *   finds changes) and reads again on its own after `LINGER_MS`; after a few empty rounds in a
 *   row (~7 ms with nothing new) it arms the doorbell again and is back to ringing.
 *
 * Arming races with writers that found it quiet just before: `core.fn_capture_arm` returns a
 * transaction id taken once it is armed, and the reader looks again (backing off to the poll
 * interval) until every transaction below it has ended, then reads once more. A writer that
 * looked before the arm has a lower id (it wrote first), so its change is read then; one that
 * looks after finds it armed. A reader that dies while quiet silences the triggers for one lease at most,
 * and every reader polls anyway: a lost notification costs at most a poll interval, as before.
 * Several readers share the one doorbell: any of them busy silences it, which is right, since
 * the busy one reads what the others would have been woken for.
 */
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";

/** Two rounds finding changes this close together: changes are frequent, go quiet. */
export const BURST_GAP_MS = 5;
/** While quiet, the first look-again after a round; doubled after each empty round. */
export const LINGER_MS = 1;
/** Empty rounds in a row (at 1, 2, 4 ms) before arming the doorbell again. */
export const LINGER_ROUNDS = 3;
/** How long one quiet lease silences the triggers; renewed at half of it while busy. */
export const QUIET_LEASE_MS = 1_000;
/** First wait for writers that may have missed the arm; doubled up to the poll interval. */
const PENDING_FIRST_MS = 2;

/** See the file comment. */
export interface CaptureDoorbell {
  /**
   * A round of reading ended, having read `found` changes (true: some, false: none). Not to be
   * called when the reader stopped for lack of room (see `hold`).
   */
  settle(found: boolean | number): void;
  /**
   * The reader stopped reading for lack of room, with changes waiting: busy, and it wakes itself
   * when room frees. Keeps (or makes) the doorbell quiet, without looking again on its own.
   */
  hold(): void;
  /** `"ringing"` or `"quiet"`, and the transactions still awaited since the last arm. */
  readonly state: { mode: "ringing" | "quiet"; awaiting: boolean };
  /** Stops its timers; a quiet doorbell is armed again for the other readers (best effort). */
  stop(): Promise<void>;
}

/** Options of `createCaptureDoorbell`. */
export interface CaptureDoorbellOptions {
  sql: SqlExecutor;
  clock: Clock;
  logger: Logger;
  /** The reader's poll interval: the longest wait for a writer that missed an arm. */
  pollIntervalMs: number;
  /** Makes the reader read again (coalesced by the reader). */
  wake: () => void;
}

/** Creates the doorbell of one reader; see the file comment. */
export function createCaptureDoorbell(options: CaptureDoorbellOptions): CaptureDoorbell {
  const { sql, clock, logger, wake } = options;
  let mode: "ringing" | "quiet" = "ringing";
  let lastFoundAt = Number.NEGATIVE_INFINITY;
  let leaseAt = Number.NEGATIVE_INFINITY;
  let emptyRounds = 0;
  /** Taken when this reader last armed the doorbell: it waits until all below it have ended. */
  let awaiting: string | null = null;
  let awaitDelayMs = PENDING_FIRST_MS;
  let timer: unknown = null;
  let working = false;
  let stopped = false;
  /** The doorbell's SQL failed (e.g. migration 0015 missing): notifications on every commit. */
  let disabled = false;

  function lookAgain(delayMs: number): void {
    if (timer !== null || stopped) return;
    timer = clock.setTimeout(() => {
      timer = null;
      if (!stopped) wake();
    }, delayMs);
  }

  function fail(error: unknown): void {
    disabled = true;
    mode = "ringing";
    awaiting = null;
    logger.log("warn", "capture doorbell unavailable; capture notifies on every commit", {
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /**
   * Runs one doorbell statement at a time; the reader reads again once it is done, unless the
   * task says to wait (it then set a timer).
   */
  let current: Promise<void> = Promise.resolve();
  function work(task: () => Promise<"read" | "wait">): void {
    if (working) return;
    working = true;
    current = task()
      .catch((error: unknown) => {
        fail(error);
        return "read" as const;
      })
      .then((next) => {
        working = false;
        if (next === "read" && !stopped) wake();
      });
  }

  /**
   * The doorbell's statements run one after another, in the order asked: a lease renewal still
   * waiting for a pooled connection must not land after the arm that followed it (the triggers
   * would stay silent for a lease while this reader waits for them).
   */
  let chain: Promise<unknown> = Promise.resolve();
  function inOrder<T>(statement: () => Promise<T>): Promise<T> {
    const next = chain.then(statement);
    chain = next.catch(() => {});
    return next;
  }

  function renewLease(now: number): void {
    leaseAt = now;
    inOrder(() => sql.query("SELECT core.fn_capture_quiet($1)", [QUIET_LEASE_MS])).catch(fail);
  }

  return {
    settle(read) {
      if (disabled || stopped) return;
      const now = clock.now();
      const changes = read === true ? 1 : read === false ? 0 : read;
      if (changes > 0) {
        if (mode === "ringing") {
          // Several changes in one round: they came faster than this reader's rounds.
          const burst = changes > 1 || now - lastFoundAt < BURST_GAP_MS;
          lastFoundAt = now;
          if (!burst) return;
          mode = "quiet";
          emptyRounds = 0;
          renewLease(now);
        } else {
          emptyRounds = 0;
          if (now - leaseAt >= QUIET_LEASE_MS / 2) renewLease(now);
        }
        lookAgain(LINGER_MS);
        return;
      }
      if (mode === "quiet") {
        emptyRounds++;
        if (emptyRounds <= LINGER_ROUNDS) {
          lookAgain(LINGER_MS * 2 ** (emptyRounds - 1));
          return;
        }
        mode = "ringing";
        lastFoundAt = Number.NEGATIVE_INFINITY;
        work(async () => {
          const rows = await inOrder(() =>
            sql.query<{ marker: string }>("SELECT core.fn_capture_arm()::text AS marker"),
          );
          awaiting = rows[0]?.marker ?? null;
          awaitDelayMs = PENDING_FIRST_MS;
          return "read";
        });
        return;
      }
      if (awaiting === null || working) return;
      const marker = awaiting;
      work(async () => {
        const rows = await inOrder(() =>
          sql.query<{ ended: boolean }>(
            "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8 AS ended",
            [marker],
          ),
        );
        // All ended: read once more, their changes are readable now. Else wait and look again.
        if (rows[0]?.ended === true) {
          awaiting = null;
          return "read";
        }
        const delay = awaitDelayMs;
        awaitDelayMs = Math.min(awaitDelayMs * 2, options.pollIntervalMs);
        lookAgain(delay);
        return "wait";
      });
    },
    hold() {
      if (disabled || stopped) return;
      const now = clock.now();
      if (mode === "ringing") {
        mode = "quiet";
        renewLease(now);
      } else if (now - leaseAt >= QUIET_LEASE_MS / 2) renewLease(now);
      emptyRounds = 0;
    },
    get state() {
      return { mode, awaiting: awaiting !== null };
    },
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      timer = null;
      await current;
      if (mode === "quiet" && !disabled) {
        await inOrder(() => sql.query("SELECT core.fn_capture_arm()")).catch(() => {});
      }
    },
  };
}
