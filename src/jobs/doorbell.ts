/**
 * The builtin jobs' doorbell: how runners hear that a job became pending, without a NOTIFY in the
 * transaction that made it pending. PostgreSQL serialises notifying commits (one queue lock held
 * through the commit's WAL flush), so a `pg_notify` in every enqueue caps how fast jobs can be
 * enqueued (bench/README.md, jobs). Instead, once the enqueue has committed, `ring()`:
 * - wakes this process's runner at once, in process;
 * - rings other processes with `pg_notify` on `JOBS_NOTIFY_CHANNEL`, in a statement of its own,
 *   at most one in flight per process: rings while one is in flight are owed one more, sent after
 *   it (many enqueues, two notifies at most in a row).
 * The payload is the doorbell's id, so the runner of the same process ignores its own rings (it
 * was woken already). Polling stays the truth: a lost ring costs at most a poll interval.
 */
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";

/** The channel runners LISTEN to and doorbells notify. */
export const JOBS_NOTIFY_CHANNEL = "fraiseql_observers_jobs";

/** See the file comment. */
export interface JobDoorbell {
  /** This doorbell's id: the payload of its notifications. */
  readonly id: string;
  /** Builtin jobs became due (committed): wakes the local runner now and rings the others. */
  ring(): void;
  /** Calls `wake` on every ring of this doorbell, in process; returns the undo. */
  onRing(wake: () => void): () => void;
  /** Resolves once no notification is in flight or owed (before closing its connections). */
  idle(): Promise<void>;
}

/** Options of `createJobDoorbell`. */
export interface JobDoorbellOptions {
  /** Where the notifications go: a pool (each one a statement of its own, autocommit). */
  sql: SqlExecutor;
  logger?: Logger;
  /** Default a random UUID. */
  id?: string;
}

/** Creates a doorbell; see the file comment. */
export function createJobDoorbell(options: JobDoorbellOptions): JobDoorbell {
  const { sql, logger } = options;
  const id = options.id ?? crypto.randomUUID();
  const listeners = new Set<() => void>();
  let inFlight: Promise<void> | null = null;
  let owed = false;

  function send(): void {
    owed = false;
    inFlight = sql
      .query("SELECT pg_notify($1, $2)", [JOBS_NOTIFY_CHANNEL, id])
      .then(
        () => {},
        (error: unknown) =>
          logger?.log("warn", "jobs: notifying other processes failed; they poll", {
            error: error instanceof Error ? error.message : String(error),
          }),
      )
      .finally(() => {
        inFlight = null;
        if (owed) send();
      });
  }

  return {
    id,
    ring() {
      for (const wake of listeners) wake();
      if (inFlight) owed = true;
      else send();
    },
    onRing(wake) {
      listeners.add(wake);
      return () => listeners.delete(wake);
    },
    async idle() {
      while (inFlight) await inFlight;
    },
  };
}
