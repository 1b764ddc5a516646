/**
 * Writes one reader's transactions into PostgreSQL: each `commit` call joins the batch being
 * gathered, and one PostgreSQL transaction writes a batch's change-log rows in call order with
 * the last transaction's position (group commit: a busy source is not held to one round trip per
 * transaction), compare-and-set on the position's version and the lease (`commitSourceTransaction`).
 * Once a write fails or the lease is lost, every later call rejects and nothing more is written.
 */
import type { JsonObject } from "../json.ts";
import { metrics } from "../metrics/observers.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import { SourceError, type SourceTransaction } from "../ports/source.ts";
import type { SqlClient } from "../ports/sql.ts";
import { commitSourceTransaction, type SourceChangeRow, type SourceRow } from "../store/sources.ts";
import { sourceChangeRows } from "./change-rows.ts";
import { describeFailure } from "./failure.ts";

const changesTotal = metrics.counter(
  "fraiseql_observer_source_changes_total",
  "Row changes sources wrote to the change log from this process.",
  ["source"],
);

/** Source transactions written in one PostgreSQL transaction at most. */
const MAX_BATCH = 500;

/** Options of `createSourceWriter`. */
export interface SourceWriterOptions {
  sql: SqlClient;
  clock: Clock;
  logger: Logger;
  /** The source as read when its reader started (its `position_version` is where writing starts). */
  source: SourceRow;
  /** The lease holder this process writes as, and how long each write extends the lease. */
  owner: string;
  leaseMs: number;
  /** Aborted by the writer when the lease is lost (the reader then stops); a write after it fails. */
  abort: AbortController;
  /** Hears of each batch written: rows written, and the last transaction's lag (ms), if known. */
  onWritten(rows: number, lagMs: number | null): void;
}

/** A writer; see the file comment. */
export interface SourceWriter {
  /** The reader's `commit`: resolves once the transaction is written with its position. */
  commit(transaction: SourceTransaction): Promise<void>;
}

interface Pending {
  transaction: SourceTransaction;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Creates a writer for one run of a source's reader. */
export function createSourceWriter(options: SourceWriterOptions): SourceWriter {
  const { sql, clock, logger, source, owner, leaseMs, abort } = options;
  const changes = changesTotal.labels(source.name);
  let version = source.position_version;
  let pending: Pending[] = [];
  let writing = false;
  let failure: SourceError | null = null;

  async function write(batch: readonly Pending[]): Promise<void> {
    const rows: SourceChangeRow[] = [];
    let transactions = 0;
    for (const { transaction } of batch) {
      const written = sourceChangeRows(source.kind, source.tables, transaction, (table) =>
        logger.log("warn", "source: a tenant value is neither an integer nor a UUID", {
          source: source.name,
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
      abort.abort();
      throw new SourceError(
        "SOURCE_LEASE_LOST",
        "another server reads this source now, or it was deleted",
        true,
      );
    }
    version = next;
    changes.inc(rows.length);
    options.onWritten(rows.length, lagMs === null ? null : Math.max(0, lagMs));
  }

  async function flush(): Promise<void> {
    writing = true;
    // Calls made together (a reader handing over what it has queued) join one batch.
    await Promise.resolve();
    while (pending.length > 0) {
      const batch = pending.slice(0, MAX_BATCH);
      pending = pending.slice(batch.length);
      if (failure === null && abort.signal.aborted) {
        failure = new SourceError("SOURCE_STOPPED", "the source's reading is stopping", true);
      }
      if (failure === null) {
        try {
          await write(batch);
        } catch (error) {
          failure = describeFailure(error, null);
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
    commit(transaction) {
      if (failure !== null) return Promise.reject(failure);
      return new Promise<void>((resolve, reject) => {
        pending.push({ transaction, resolve, reject });
        if (!writing) void flush();
      });
    },
  };
}
