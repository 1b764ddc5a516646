/**
 * The load of a fault round: single-row INSERTs into the tracked `fault_orders` table (each its
 * own commit) at an offered rate over a few connections, in the caller's process. Open loop on a
 * 10 ms tick: the schedule does not wait for earlier commits, so a fault does not pause the load.
 * Failures (the database crashed, a connection was terminated) are counted and the load goes on;
 * whether a failed INSERT committed is for the change log to say, which is why rounds count
 * captured changes in the database, never from these figures.
 */
import postgres from "postgres";

/** The producer's side of a round. */
export interface LoadStats {
  /** INSERTs sent. */
  sent: number;
  /** Acknowledged: certainly committed. */
  acknowledged: number;
  /** Failed (an error or no answer): committed or not, the change log says. */
  failed: number;
  /** Not sent because too many were already waiting (the database was down). */
  skipped: number;
}

export interface Load {
  stats(): LoadStats;
  /** Stops sending, waits for the INSERTs in flight (at most `timeoutMs`), closes the pool. */
  stop(timeoutMs?: number): Promise<LoadStats>;
}

/** The application_name of the load's connections (fault rounds never terminate these). */
export const LOAD_APPLICATION_NAME = "fault-load";

export function startLoad(url: string, options: { rate: number; connections: number }): Load {
  const sql = postgres(url, {
    max: options.connections,
    connect_timeout: 3,
    // postgres.js waits up to 20 s between reconnection attempts after repeated failures; the
    // load must resume as soon as the database is back, so it retries every 200 ms.
    backoff: () => 0.2,
    max_lifetime: null,
    // No array-type query at connect: postgres.js 3.4.9 drops its promise when the connection dies
    // during start-up (adapters/drivers/postgres/driver-defects.ts), an unhandled rejection in the
    // test process while PostgreSQL is crashed. These connections read and write no arrays.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: LOAD_APPLICATION_NAME },
  });
  const stats: LoadStats = { sent: 0, acknowledged: 0, failed: 0, skipped: 0 };
  const inFlight = new Set<Promise<void>>();
  // A second's worth waiting is plenty: past it, the database is down and the queue only grows.
  const maxWaiting = Math.max(options.connections * 4, options.rate);
  const tickMs = 10;
  const started = performance.now();
  let due = 0;
  let stopped = false;

  const send = () => {
    stats.sent++;
    const insert = sql`INSERT INTO fault_orders DEFAULT VALUES`
      .then(
        () => {
          stats.acknowledged++;
        },
        () => {
          stats.failed++;
        },
      )
      .finally(() => inFlight.delete(insert));
    inFlight.add(insert);
  };
  const ticker = setInterval(() => {
    const target = Math.floor(((performance.now() - started) / 1000) * options.rate);
    while (due < target) {
      due++;
      if (inFlight.size >= maxWaiting) stats.skipped++;
      else send();
    }
  }, tickMs);

  return {
    stats: () => ({ ...stats }),
    async stop(timeoutMs = 15_000) {
      if (!stopped) {
        stopped = true;
        clearInterval(ticker);
      }
      let patience: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(inFlight),
        new Promise((resolve) => {
          patience = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(patience);
      await sql.end({ timeout: 1 }).catch(() => {});
      return { ...stats };
    },
  };
}
