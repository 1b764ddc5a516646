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
import { secretRefusal } from "../actions/policy.ts";
import { computeBackoff } from "../executor/backoff.ts";
import type { JsonObject } from "../json.ts";
import { metrics } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import {
  SourceError,
  type SourceKind,
  type SourceReader,
  type SourceTransaction,
} from "../ports/source.ts";
import type { SqlClient, SqlListener } from "../ports/sql.ts";
import {
  commitSourceTransaction,
  getSource,
  holdSourceLease,
  listAllSources,
  releaseSourceLease,
  SOURCES_CHANNEL,
  type SourceChangeRow,
  type SourceRow,
  writeSourceState,
} from "../store/sources.ts";
import { sourceChangeRows } from "./change-rows.ts";
import { decryptSourceUrl } from "./url-secret.ts";

const changesTotal = metrics.counter(
  "fraiseql_observer_source_changes_total",
  "Row changes sources wrote to the change log from this process.",
  ["source"],
);
/** Source transactions written in one PostgreSQL transaction at most. */
const MAX_BATCH = 500;

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

/** A failure as stored: a code and a message that never holds the URL. */
export function describeFailure(error: unknown, url: string | null): SourceError {
  const failure =
    error instanceof SourceError
      ? error
      : new SourceError(
          "SOURCE_FAILED",
          `the source reader failed: ${error instanceof Error ? error.message : String(error)}`,
          true,
        );
  const message = redactUrl(failure.message, url);
  return message === failure.message
    ? failure
    : new SourceError(failure.code, message, failure.transient);
}

/** `text` without `url`, nor its password or user info, in any form. */
export function redactUrl(text: string, url: string | null): string {
  if (url === null || url === "") return text;
  const secrets = [url];
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    if (parsed.password) {
      secrets.push(parsed.password);
      try {
        secrets.push(decodeURIComponent(parsed.password));
      } catch {
        // An undecodable escape: the raw form is redacted already.
      }
    }
  }
  let out = text;
  for (const secret of secrets.sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join("[REDACTED]");
  }
  return out;
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

  async function resolveUrl(row: SourceRow): Promise<string> {
    if (row.url_env !== null) {
      const refusal = secretRefusal(options.policy, row.url_env, null);
      if (refusal) throw new SourceError("SOURCE_URL_NOT_ALLOWED", refusal.message, false);
      const value = options.env[row.url_env];
      if (value === undefined || value === "") {
        throw new SourceError(
          "SOURCE_URL_MISSING",
          `environment variable ${row.url_env} (url_env) is not set on this server`,
          false,
        );
      }
      return value;
    }
    if (options.sourceKey === null) {
      throw new SourceError(
        "SOURCE_KEY_MISSING",
        "the source's url is stored encrypted and OBSERVERS_SOURCE_KEY is not set on this server",
        false,
      );
    }
    const url = await decryptSourceUrl(row.url_ciphertext ?? "", row.id, options.sourceKey);
    if (url === null) {
      throw new SourceError(
        "SOURCE_KEY_MISMATCH",
        "the source's url cannot be decrypted with this server's OBSERVERS_SOURCE_KEY (it was stored under another key)",
        false,
      );
    }
    return url;
  }

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

  /**
   * Writes a reader's transactions: each `commit` call joins the batch being gathered, and one
   * PostgreSQL transaction writes a batch's rows in call order with the last one's position
   * (group commit: a busy source is not held to one round trip per transaction). Once a write
   * fails, every later call rejects and nothing more is written by this writer.
   */
  function createWriter(
    entry: Running,
    source: SourceRow,
    startVersion: string,
    onWritten: () => void,
  ) {
    interface Pending {
      transaction: SourceTransaction;
      resolve: () => void;
      reject: (error: unknown) => void;
    }
    const label = source.name;
    const changes = changesTotal.labels(label);
    let version = startVersion;
    let pending: Pending[] = [];
    let writing = false;
    let failure: SourceError | null = null;

    async function write(batch: Pending[]): Promise<void> {
      const rows: SourceChangeRow[] = [];
      let transactions = 0;
      for (const { transaction } of batch) {
        const written = sourceChangeRows(source.kind, source.tables, transaction, (table) =>
          logger.log("warn", "source: a tenant value is neither an integer nor a UUID", {
            source: label,
            table,
          }),
        );
        if (written.length > 0) transactions++;
        rows.push(...written);
      }
      const last = (batch.at(-1) as Pending).transaction;
      const lagMs = last.committedAtMs === null ? null : clock.now() - last.committedAtMs;
      const next = await sql
        .transaction((tx) =>
          commitSourceTransaction(tx, {
            id: source.id,
            owner,
            leaseMs,
            expectedVersion: version,
            position: last.position as JsonObject,
            changes: rows,
            transactions,
            lagMs,
          }),
        )
        .catch((error: unknown) => {
          throw new SourceError(
            "SOURCE_WRITE_FAILED",
            `writing the source's changes to PostgreSQL failed: ${error instanceof Error ? error.message : String(error)}`,
            true,
          );
        });
      if (next === null) {
        entry.abort.abort();
        throw new SourceError(
          "SOURCE_LEASE_LOST",
          "another server reads this source now, or it was deleted",
          true,
        );
      }
      version = next;
      onWritten();
      changes.inc(rows.length);
      entry.status.changes += rows.length;
      entry.status.connected = true;
      if (lagMs !== null) entry.status.lag_ms = Math.max(0, lagMs);
      // The commit cleared the stored error too.
      entry.status.last_error = null;
    }

    async function flush(): Promise<void> {
      writing = true;
      // Let the calls made together join one batch.
      await Promise.resolve();
      while (pending.length > 0) {
        const batch = pending.slice(0, MAX_BATCH);
        pending = pending.slice(batch.length);
        if (failure === null && entry.abort.signal.aborted) {
          failure = new SourceError("SOURCE_STOPPED", "stopping", true);
        }
        if (failure === null) {
          try {
            await write(batch);
          } catch (error) {
            failure = error instanceof SourceError ? error : describeFailure(error, null);
          }
        }
        for (const call of batch) {
          if (failure === null) call.resolve();
          else call.reject(failure);
        }
      }
      writing = false;
    }

    return {
      commit(transaction: SourceTransaction): Promise<void> {
        if (failure !== null) return Promise.reject(failure);
        return new Promise<void>((resolve, reject) => {
          pending.push({ transaction, resolve, reject });
          if (!writing) void flush();
        });
      },
    };
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
        const version = current.position_version;
        url = await resolveUrl(current);
        const reader = await options.readers(current.kind);
        const tables = current.tables;
        const writer = createWriter(entry, current, version, () => {
          failures = 0;
        });
        await reader.run({
          url,
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
            if (changed) void saveState(entry);
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
