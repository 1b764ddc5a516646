/**
 * The sources' supervisor: every poll (and when woken: the API created or deleted a source, here
 * or, through NOTIFY, on another server), it
 * lists `core.tb_source`, takes the lease of each source no live server holds, renews the leases
 * it holds, and runs one reader (`SourceReader`, by kind) per source it holds. A reader's
 * `commit` writes the transaction's change-log rows and the new position in one PostgreSQL
 * transaction, compare-and-set on the stored version and the lease: a server that lost the lease
 * (paused past it, or the source was deleted) writes nothing, and its reader stops. A reader that
 * fails is restarted from the stored position with capped, jittered exponential backoff (slowly
 * when the error says a setting must change), its code and message kept on the row for the API
 * and health. Nothing here throws into the host: every failure becomes state and a log line.
 */
import type { ActionPolicy } from "../actions/policy.ts";
import { computeBackoff } from "../executor/backoff.ts";
import { metrics } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import { SourceError, type SourceKind, type SourceReader } from "../ports/source.ts";
import type { SqlClient, SqlListener } from "../ports/sql.ts";
import {
  getSource,
  holdSourceLease,
  listAllSources,
  releaseSourceLease,
  SOURCES_CHANNEL,
  type SourceRow,
  writeSourceState,
} from "../store/sources.ts";
import { describeFailure } from "./failure.ts";
import { readSourceEnv, resolveSourceUrl } from "./source-url.ts";
import { createSourceWriter } from "./writer.ts";

const errorsTotal = metrics.counter(
  "fraiseql_observer_source_errors_total",
  "Source readers that stopped with an error in this process, by stable code.",
  ["source", "code"],
);

/** Creates the reader of a kind, or throws a `SourceError` when this host does not ship it. */
export type SourceReaders = (kind: SourceKind) => SourceReader | Promise<SourceReader>;

/** Options of `createSourceSupervisor`. */
export interface SourceSupervisorOptions {
  sql: SqlClient;
  readers: SourceReaders;
  clock: Clock;
  logger: Logger;
  /** Where `url_env` is read. */
  env: Readonly<Record<string, string | undefined>>;
  /** The secret rules `url_env` obeys (the same as actions' `*_env`, global scope). */
  policy: ActionPolicy;
  /** `OBSERVERS_SOURCE_KEY`: decrypts inline URLs. */
  sourceKey: string | null;
  /** How often the sources are listed and leases renewed (default 2 000 ms). */
  pollIntervalMs?: number;
  /** How long a lease lasts unrenewed: the takeover delay after a crash (default 15 000 ms). */
  leaseMs?: number;
  /** Backoff of transient failures: first delay and cap (default 1 000 and 60 000 ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Delay after a failure a setting must fix, before trying again (default 60 000 ms). */
  misconfiguredRetryMs?: number;
  random?: () => number;
}

/** What this process knows of a source it reads (for health and metrics). */
export interface LocalSourceStatus {
  id: string;
  name: string;
  kind: SourceKind;
  connected: boolean;
  lag_ms: number | null;
  last_error: { code: string; message: string } | null;
  changes: number;
}

/** A running supervisor. */
export interface SourceSupervisor {
  start(): Promise<void>;
  /** Stops every reader and gives the leases up. */
  stop(): Promise<void>;
  /** Lists the sources now (the API created or deleted one). */
  wake(): void;
  /** The sources this process reads now. */
  status(): LocalSourceStatus[];
}

interface Running {
  row: SourceRow;
  abort: AbortController;
  done: Promise<void>;
  status: LocalSourceStatus;
}

/** Creates the supervisor; see the file comment. */
export function createSourceSupervisor(options: SourceSupervisorOptions): SourceSupervisor {
  const { sql, clock, logger } = options;
  const leaseMs = options.leaseMs ?? 15_000;
  // Leases are renewed every poll: at least three times per lease.
  const pollIntervalMs = Math.min(options.pollIntervalMs ?? 2_000, Math.floor(leaseMs / 3));
  const retry = {
    backoff_strategy: "exponential" as const,
    initial_delay_ms: options.retryInitialMs ?? 1_000,
    max_delay_ms: options.retryMaxMs ?? 60_000,
    max_attempts: Number.MAX_SAFE_INTEGER,
  };
  const misconfiguredRetryMs = options.misconfiguredRetryMs ?? 60_000;
  const random = options.random ?? Math.random;
  const owner = `source-${crypto.randomUUID()}`;
  const running = new Map<string, Running>();
  let listener: SqlListener | null = null;
  let stopped = true;
  let timer: unknown = null;
  let ticking: Promise<void> | null = null;
  let again = false;

  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const handle = clock.setTimeout(done, ms);
      function done() {
        clock.clearTimeout(handle);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  function saveState(
    entry: Running,
    error?: { code: string; message: string } | null,
  ): Promise<void> {
    return writeSourceState(sql, entry.row.id, owner, {
      connected: entry.status.connected,
      lagMs: entry.status.lag_ms,
      ...(error === undefined ? {} : { error }),
    }).catch((failure: unknown) => {
      logger.log("warn", "source: its state could not be saved", {
        source: entry.row.name,
        error: failure instanceof Error ? failure.message : String(failure),
      });
    });
  }

  /** Reads one source until aborted, restarting its reader from the stored position. */
  async function read(entry: Running): Promise<void> {
    const { signal } = entry.abort;
    const label = entry.row.name;
    let failures = 0;
    while (!signal.aborted) {
      let url: string | null = null;
      try {
        const current = await getSource(sql, entry.row.id);
        if (current === null || current.lease_owner !== owner) {
          entry.abort.abort();
          break;
        }
        url = await resolveSourceUrl(current, options);
        const reader = await options.readers(current.kind);
        const tables = current.tables;
        const writer = createSourceWriter({
          sql,
          clock,
          logger,
          source: current,
          owner,
          leaseMs,
          abort: entry.abort,
          onWritten: (rows, lagMs) => {
            failures = 0;
            entry.status.changes += rows;
            entry.status.connected = true;
            if (lagMs !== null) entry.status.lag_ms = lagMs;
            // The write cleared the stored error too.
            entry.status.last_error = null;
          },
        });
        await reader.run({
          url,
          readEnv: (name) => readSourceEnv(name, options),
          tables,
          position: current.position,
          start: current.start,
          signal,
          logger,
          status: (status) => {
            const lag = status.lagMs ?? entry.status.lag_ms;
            const changed = status.connected !== entry.status.connected;
            entry.status.connected = status.connected;
            entry.status.lag_ms = lag ?? null;
            // Connected again (past the reader's checks): the error is over, even when no
            // transaction comes to clear it (a quiet source stayed "connected" with an old error).
            const recovered = status.connected && entry.status.last_error !== null;
            if (recovered) entry.status.last_error = null;
            if (changed || recovered) void saveState(entry, recovered ? null : undefined);
          },
          commit: (transaction) => writer.commit(transaction),
        });
        if (signal.aborted) break;
        throw new SourceError("SOURCE_STOPPED", "the source reader stopped on its own", true);
      } catch (error) {
        if (signal.aborted) break;
        const failure = describeFailure(error, url);
        failures++;
        errorsTotal.labels(label, failure.code).inc();
        entry.status.connected = false;
        entry.status.last_error = { code: failure.code, message: failure.message };
        const delay = failure.transient
          ? Math.max(computeBackoff(failures, retry, random), retry.initial_delay_ms / 2)
          : misconfiguredRetryMs;
        logger.log(failure.transient ? "warn" : "error", "source: reading failed; retrying", {
          source: label,
          code: failure.code,
          error: failure.message,
          retry_in_ms: delay,
        });
        await saveState(entry, { code: failure.code, message: failure.message });
        await sleep(delay, signal);
      }
    }
  }

  function launch(row: SourceRow): void {
    const entry: Running = {
      row,
      abort: new AbortController(),
      done: Promise.resolve(),
      status: {
        id: row.id,
        name: row.name,
        kind: row.kind,
        connected: false,
        lag_ms: null,
        last_error:
          row.last_error_code === null
            ? null
            : { code: row.last_error_code, message: row.last_error_message ?? "" },
        changes: 0,
      },
    };
    running.set(row.id, entry);
    logger.log("info", "source: reading", { source: row.name, kind: row.kind });
    entry.done = read(entry)
      .catch((error: unknown) => {
        logger.log("error", "source: supervisor failed", {
          source: row.name,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(async () => {
        running.delete(row.id);
        await releaseSourceLease(sql, row.id, owner).catch(() => undefined);
        logger.log("info", "source: stopped reading", { source: row.name });
      });
  }

  async function tick(): Promise<void> {
    const rows = await listAllSources(sql);
    const present = new Set(rows.map((row) => row.id));
    for (const [id, entry] of running) if (!present.has(id)) entry.abort.abort();
    for (const row of rows) {
      if (stopped) return;
      const held = await holdSourceLease(sql, row.id, owner, leaseMs);
      const entry = running.get(row.id);
      if (entry && !held) entry.abort.abort();
      else if (!entry && held) launch(row);
    }
  }

  function schedule(delay: number): void {
    if (stopped) return;
    if (timer !== null) clock.clearTimeout(timer);
    timer = clock.setTimeout(() => {
      timer = null;
      run();
    }, delay);
  }

  function run(): void {
    if (stopped) return;
    if (ticking) {
      again = true;
      return;
    }
    again = false;
    ticking = tick()
      .catch((error: unknown) => {
        logger.log("warn", "source: listing sources failed; trying again", {
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => {
        ticking = null;
        if (again) run();
        else schedule(pollIntervalMs);
      });
  }

  return {
    async start() {
      if (!stopped) return;
      stopped = false;
      // The API notifies when a source is created or deleted on any server: a nudge, the poll
      // finds it anyway (where LISTEN is not available, too).
      listener =
        (await sql
          .listen?.(SOURCES_CHANNEL, { onNotify: () => run(), onReconnect: () => run() })
          .catch(() => null)) ?? null;
      run();
      await ticking;
    },
    async stop() {
      stopped = true;
      await listener?.close().catch(() => undefined);
      listener = null;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      await ticking;
      const entries = [...running.values()];
      for (const entry of entries) entry.abort.abort();
      await Promise.all(entries.map((entry) => entry.done));
    },
    wake() {
      run();
    },
    status() {
      return [...running.values()].map((entry) => ({ ...entry.status }));
    },
  };
}
