import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient, SqlListener } from "../ports/sql.ts";

/** The channel capture triggers and observer writes notify. */
export const NOTIFY_CHANNEL = "fraiseql_observers";

/** Running wake-up sources. */
export interface Wakeups {
  /** Whether notifications are heard (LISTEN succeeded); false: polling alone. */
  readonly listening: boolean;
  stop(): Promise<void>;
}

/**
 * Calls `wake` on every notification (a nudge: the tables are the truth), after the listening
 * connection comes back, and every `pollIntervalMs` regardless, so nothing depends on a
 * notification arriving. Where the driver cannot LISTEN, polling alone.
 */
export async function startWakeups(options: {
  sql: SqlClient;
  clock: Clock;
  logger: Logger;
  pollIntervalMs: number;
  /** `payload`: the notification's (`'observers'` after an observer write); none on a poll. */
  wake: (payload?: string) => void;
  /** Default `NOTIFY_CHANNEL`. */
  channel?: string;
  /** Notifications with this payload wake nothing (the process's own, woken in process). */
  ignorePayload?: string;
}): Promise<Wakeups> {
  const { sql, clock, logger, wake } = options;
  let listener: SqlListener | null = null;
  if (sql.listen) {
    try {
      listener = await sql.listen(options.channel ?? NOTIFY_CHANNEL, {
        onNotify: (payload) => {
          if (options.ignorePayload === undefined || payload !== options.ignorePayload)
            wake(payload);
        },
        onReconnect: () => {
          logger.log("info", "listening again after the connection dropped; catching up");
          wake();
        },
      });
    } catch (error: unknown) {
      logger.log("warn", "LISTEN failed; relying on polling", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  let stopped = false;
  let timer: unknown = null;
  const tick = () => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      wake();
      tick();
    }, options.pollIntervalMs);
  };
  tick();
  return {
    listening: listener !== null,
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      await listener?.close();
    },
  };
}
