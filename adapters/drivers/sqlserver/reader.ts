/**
 * The SQL Server source reader: polls change data capture by LSN and hands each committed
 * transaction to the supervisor, in commit order (docs/sqlserver.md).
 *
 * Position `{lsn}`: the commit LSN of the last transaction handed over (or of a range read to its
 * end): every change at or before it is captured, none after it. Reading resumes at
 * `sys.fn_cdc_increment_lsn(lsn)`. A transaction is never split (a position is only ever a whole
 * transaction's commit LSN), so no `__$seqval` is needed to resume and none is stored.
 */
import type { JsonObject } from "../../../src/json.ts";
import {
  SourceError,
  type SourceReader,
  type SourceReaderOptions,
} from "../../../src/ports/source.ts";
import { checkHarvesting, loadCatalog } from "./catalog.ts";
import { type CdcTransaction, type InstanceRows, toTransactions } from "./changes.ts";
import {
  connectMssql,
  type SqlParam,
  type SqlServerConnect,
  type SqlServerConnection,
} from "./connection.ts";
import { classifySqlServerError, OBJECT_MISSING, serverErrorNumber } from "./errors.ts";
import { compareLsn, isLsn, lsnFromBytes, maxLsn, minLsn, ZERO_LSN } from "./lsn.ts";
import { CatalogChanged, instanceMin, type PlanItem, planRange } from "./plan.ts";
import { changesSql, headSql } from "./queries.ts";

/** Options of `createSqlServerReader`. */
export interface SqlServerReaderOptions {
  /** Opens the connection (default: `mssql`). Tests pass a fake. */
  connect?: SqlServerConnect;
  /** Wait between polls that found nothing (ms, default 500). */
  pollIntervalMs?: number;
  /** Wait after a poll that found changes (ms, default 50): polls faster while changes flow. */
  busyPollIntervalMs?: number;
  /** Rows read per capture instance per query (default 5000); a transaction is never split. */
  batchRows?: number;
  /**
   * While no tracked table changes, the position still moves to the newest LSN read, at most this
   * often (ms, default 60 000), so that the CDC cleanup never passes a quiet source's position.
   */
  heartbeatMs?: number;
  /** How often to look for new capture instances (a schema change), in ms (default 30 000). */
  catalogRefreshMs?: number;
  /** The clock (epoch ms). */
  now?: () => number;
}

const MAX_ROWS = 2_147_483_647;

/** The stored position's LSN; a `SourceError` when it is not one this reader wrote. */
export function positionLsn(position: JsonObject | null): string | null {
  if (position === null) return null;
  const lsn = position.lsn;
  if (!isLsn(lsn)) {
    throw new SourceError(
      "SOURCE_POSITION_INVALID",
      'the stored position is not a SQL Server position ({"lsn": "<20 hex digits>"}): delete and create the source again',
      false,
    );
  }
  return lsn;
}

/** `00000027:00000758:0005`, as SQL Server tools and Debezium print an LSN. */
export function formatLsn(lsn: string): string {
  return `${lsn.slice(0, 8)}:${lsn.slice(8, 16)}:${lsn.slice(16)}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The connection, or null as soon as `signal` aborts (a connection that still arrives is closed):
 * a stop never waits for a connect timeout.
 */
function connectUnlessAborted(
  pending: Promise<SqlServerConnection>,
  signal: AbortSignal,
): Promise<SqlServerConnection | null> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      resolve(null);
      pending.then((late) => late.close()).catch(() => {});
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    pending.then(
      (connection) => {
        signal.removeEventListener("abort", abort);
        // Aborted meanwhile: `abort` has resolved already and closes this connection.
        resolve(connection);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(error);
      },
    );
  });
}

/** A wall clock read as UTC (tedious, useUTC) to epoch ms, given the server's UTC offset. */
function epochMs(wallClock: unknown, offsetMinutes: number): number | null {
  if (!(wallClock instanceof Date) || Number.isNaN(wallClock.getTime())) return null;
  return wallClock.getTime() - offsetMinutes * 60_000;
}

/** Creates the SQL Server CDC reader (`kind: "sqlserver"`). */
export function createSqlServerReader(options: SqlServerReaderOptions = {}): SourceReader {
  const connect = options.connect ?? connectMssql;
  const idleMs = options.pollIntervalMs ?? 500;
  const busyMs = options.busyPollIntervalMs ?? 50;
  const batchRows = options.batchRows ?? 5000;
  const heartbeatMs = options.heartbeatMs ?? 60_000;
  const refreshMs = options.catalogRefreshMs ?? 30_000;
  const now = options.now ?? Date.now;

  return {
    async run(run: SourceReaderOptions): Promise<void> {
      const { signal, logger } = run;
      const stored = positionLsn(run.position);
      if (signal.aborted) return;
      let connection: SqlServerConnection | null = null;
      try {
        connection = await connectUnlessAborted(connect(run.url), signal);
        if (connection === null) return;
        run.status({ connected: true, lagMs: null });
        await read(connection, run, stored);
      } catch (error) {
        if (signal.aborted) return;
        const failure = classifySqlServerError(error, [run.url, ...(connection?.secrets ?? [])]);
        logger.log("warn", "sqlserver source stopped", { code: failure.code });
        throw failure;
      } finally {
        run.status({ connected: false, lagMs: null });
        await connection?.close().catch(() => {});
      }
    },
  };

  async function read(
    connection: SqlServerConnection,
    run: SourceReaderOptions,
    stored: string | null,
  ): Promise<void> {
    const { signal } = run;
    const q = (text: string, params: Readonly<Record<string, SqlParam>> = {}) =>
      connection.query(text, params, signal);
    let catalog = await loadCatalog(connection, run.tables, signal);
    await checkHarvesting(connection, catalog, signal, run.logger);
    let catalogAt = now();
    let instances = catalog.tables.flatMap((table) => table.instances);

    const head = async (after: string) => {
      const params: Record<string, SqlParam> = { after: { type: "lsn", value: after } };
      instances.forEach((instance, i) => {
        params[`i${i}`] = { type: "nvarchar", value: instance.name };
      });
      const row = (await q(headSql(instances.length), params)).rows[0] ?? {};
      return row;
    };

    let readThrough: string;
    let committed: string;
    if (stored === null) {
      const row = await head(ZERO_LSN);
      if (run.start === "now") {
        readThrough = lsnFromBytes(row.max_lsn) ?? ZERO_LSN;
      } else {
        let oldest: number | null = null;
        instances.forEach((_, i) => {
          const min = instanceMin(row, i);
          if (min !== null && (oldest === null || min < (instanceMin(row, oldest) as string)))
            oldest = i;
        });
        readThrough =
          oldest === null ? ZERO_LSN : (lsnFromBytes(row[`before_min_lsn_${oldest}`]) ?? ZERO_LSN);
      }
      if (signal.aborted) return;
      await run.commit({
        changes: [],
        position: { lsn: readThrough },
        committedAtMs: null,
        source: { db: catalog.database, lsn: readThrough, commit_lsn: formatLsn(readThrough) },
      });
      committed = readThrough;
    } else {
      readThrough = stored;
      committed = stored;
    }
    let committedAt = now();
    let lastCommitTime: number | null = null;

    // A capture instance can vanish between two catalog reads (the old one of a schema change is
    // dropped): read the catalog again at once, once; a second miss in a row is an error.
    let refreshedForMiss = false;
    // Tables whose capture instance was dropped while this run read them: if the position is then
    // before every remaining instance, what only the dropped one held is gone.
    const lostInstance = new Set<string>();
    while (!signal.aborted) {
      if (refreshedForMiss || now() - catalogAt >= refreshMs) {
        const previous = catalog;
        catalog = await loadCatalog(connection, run.tables, signal);
        instances = catalog.tables.flatMap((table) => table.instances);
        catalogAt = now();
        for (const [k, table] of previous.tables.entries()) {
          const names = new Set(catalog.tables[k]?.instances.map((instance) => instance.name));
          if (table.instances.some((instance) => !names.has(instance.name))) {
            lostInstance.add(table.table.table);
          }
        }
      }
      let found: boolean;
      try {
        found = await poll();
        refreshedForMiss = false;
      } catch (error) {
        const missing =
          error instanceof CatalogChanged || serverErrorNumber(error) === OBJECT_MISSING;
        if (!missing) throw error;
        if (refreshedForMiss) throw error instanceof CatalogChanged ? notReadable() : error;
        refreshedForMiss = true;
        continue;
      }
      if (signal.aborted) return;
      await sleep(found ? busyMs : idleMs, signal);
    }

    function notReadable(): SourceError {
      return new SourceError(
        "SOURCE_PRIVILEGES",
        "a capture instance of a tracked table reports no LSN range: the login may not read it (membership in its gating role, SELECT on its captured columns) or it was just dropped",
        false,
      );
    }

    async function commitTransactions(
      transactions: readonly CdcTransaction[],
      offsetMinutes: number,
    ): Promise<void> {
      for (const transaction of transactions) {
        if (signal.aborted) return;
        const committedAtMs = epochMs(transaction.commitTime, offsetMinutes);
        await run.commit({
          changes: transaction.changes,
          position: { lsn: transaction.lsn },
          committedAtMs,
          source: {
            db: catalog.database,
            lsn: transaction.lsn,
            commit_lsn: formatLsn(transaction.lsn),
          },
        });
        committed = transaction.lsn;
        committedAt = now();
        if (committedAtMs !== null) lastCommitTime = committedAtMs;
      }
    }

    /** One round: reads what is new, hands it over; true when it found changes. */
    async function poll(): Promise<boolean> {
      const row = await head(readThrough);
      const max = lsnFromBytes(row.max_lsn) ?? ZERO_LSN;
      const from = lsnFromBytes(row.from_lsn);
      const offsetMinutes = Number(row.utc_offset_minutes) || 0;
      const maxTime = epochMs(row.max_time, offsetMinutes);
      if (from === null || compareLsn(from, max) > 0) {
        run.status({ connected: true, lagMs: 0 });
        await heartbeat();
        return false;
      }
      const { plan, to } = planRange(catalog, row, from, max, lostInstance);
      const results = await readRange(plan, to, batchRows);
      let cut: string | null = null;
      for (const result of results) {
        if (result.rows.length >= batchRows) {
          const last = lsnFromBytes(result.rows[result.rows.length - 1]?.__$start_lsn);
          if (last !== null) cut = cut === null ? last : minLsn(cut, last);
        }
      }
      let transactions: CdcTransaction[];
      let through: string;
      if (cut === null) {
        transactions = toTransactions(results, unpaired);
        through = to;
      } else {
        const limit = cut;
        const below = results.map((result) => ({
          ...result,
          rows: result.rows.filter(
            (r) => compareLsn(lsnFromBytes(r.__$start_lsn) ?? "", limit) < 0,
          ),
        }));
        transactions = toTransactions(below, unpaired);
        const last = transactions[transactions.length - 1];
        if (last) {
          through = last.lsn;
        } else {
          // One transaction larger than a batch: read it whole (it is never split).
          const whole = plan.map((item) => ({ ...item, from: maxLsn(item.from, limit) }));
          transactions = toTransactions(await readRange(whole, limit, MAX_ROWS), unpaired);
          through = limit;
        }
      }
      await commitTransactions(transactions, offsetMinutes);
      if (signal.aborted) return transactions.length > 0;
      readThrough = maxLsn(readThrough, through);
      const caughtUp = compareLsn(readThrough, max) >= 0;
      const lagMs =
        caughtUp || maxTime === null || lastCommitTime === null
          ? caughtUp
            ? 0
            : null
          : Math.max(0, maxTime - lastCommitTime);
      run.status({ connected: true, lagMs });
      if (transactions.length === 0) await heartbeat();
      return transactions.length > 0 || !caughtUp;
    }

    async function readRange(
      plan: readonly PlanItem[],
      to: string,
      limit: number,
    ): Promise<InstanceRows[]> {
      const results: InstanceRows[] = [];
      for (const item of plan) {
        if (compareLsn(item.from, to) > 0) continue;
        const result = await q(changesSql(item.instance.name, item.instance.columns), {
          limit: { type: "int", value: limit },
          from_lsn: { type: "lsn", value: item.from },
          to_lsn: { type: "lsn", value: to },
        });
        results.push({
          table: item.table,
          instance: item.instance.name,
          columns: item.instance.columns,
          rows: result.rows,
        });
      }
      return results;
    }

    /** Moves the position over a quiet stretch, at most every `heartbeatMs`. */
    async function heartbeat(): Promise<void> {
      if (compareLsn(readThrough, committed) <= 0 || now() - committedAt < heartbeatMs) return;
      await run.commit({
        changes: [],
        position: { lsn: readThrough },
        committedAtMs: null,
        source: { db: catalog.database, lsn: readThrough, commit_lsn: formatLsn(readThrough) },
      });
      committed = readThrough;
      committedAt = now();
    }

    function unpaired(entry: { lsn: string; table: string; op: number }): void {
      run.logger.log("warn", "sqlserver source: an update row without its other half", {
        table: entry.table,
        lsn: entry.lsn,
        operation: entry.op,
      });
    }
  }
}
