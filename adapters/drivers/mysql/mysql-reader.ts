/**
 * The MySQL/MariaDB source reader (docs/sources.md): checks the server's settings and the user's
 * grants, then reads the binlog with @vlasky/zongji from the stored position (file and offset
 * after the last transaction committed to PostgreSQL), collects each transaction's row events of
 * the tracked tables (before and after images, in binlog order: commit order) and hands it to
 * `commit` at its XID (or COMMIT). The binlog connection is paused while commits are pending, so
 * memory stays bounded. Column names come from information_schema when zongji meets a table map
 * whose shape it has not seen, so a column added by ALTER TABLE appears in later events.
 * Transactions touching no tracked table only move the position, recorded at most every
 * `POSITION_ONLY_EVERY_MS` and once reading goes quiet that long (so does the start of the next
 * binlog file), so a quiet source's position never stays in a binlog the server purges. JSON columns: MySQL's binary JSON arrives decoded; MariaDB's JSON is
 * LONGTEXT with a `json_valid` check, found in information_schema (json-columns.ts) and parsed
 * before the transaction is committed. Both libraries are optional peers, loaded on first use.
 */
import type { JsonObject, JsonValue } from "../../../src/json.ts";
import {
  type SourceChange,
  SourceError,
  type SourceReader,
  type SourceReaderOptions,
  type SourceTransaction,
} from "../../../src/ports/source.ts";
import { parseMysqlUrl } from "../../../src/sources/mysql-url.ts";
import { type BinlogColumn, decodeRow } from "./decode.ts";
import { classifyMysqlError } from "./errors.ts";
import { createJsonColumns } from "./json-columns.ts";
import {
  type BinlogPosition,
  checkBinlogSettings,
  checkPrivileges,
  missingColumns,
  missingTables,
  startPosition,
} from "./preflight.ts";
import { tlsOptions } from "./tls.ts";

/** Transactions of untracked tables move the stored position at most this often. */
const POSITION_ONLY_EVERY_MS = 5_000;
/** Transactions queued for `commit` beyond which the binlog connection is paused. */
const MAX_QUEUED = 1_000;

/**
 * mysql2 connection options (also zongji's: it opens its connections with mysql2) from the
 * source's URL, with its TLS settings; `readEnv` reads the variable `ssl-ca-env` names.
 */
export function connectionOptions(url: string, readEnv: (name: string) => string | undefined) {
  const parsed = parseMysqlUrl(url);
  const ssl = tlsOptions(parsed, readEnv);
  return {
    host: parsed.host,
    port: parsed.port,
    user: parsed.user,
    password: parsed.password,
    ...(parsed.database === null ? {} : { database: parsed.database }),
    ...(ssl === undefined ? {} : { ssl }),
    // Exact values: dates as text (TIMESTAMP in UTC), big numbers as text.
    dateStrings: true,
    timezone: "Z",
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 10_000,
  };
}

interface TableMapEntry {
  parentSchema: string;
  tableName: string;
  columns?: BinlogColumn[];
}

interface BinlogEvent {
  getEventName(): string;
  timestamp: number;
  nextPosition: number;
  tableId?: number;
  tableMap?: Record<number, TableMapEntry>;
  rows?: Record<string, unknown>[];
  /** Which columns the row images hold (the after images of updates: `columns_present_bitmap2`). */
  numberOfColumns?: number;
  columns_present_bitmap?: Uint8Array;
  columns_present_bitmap2?: Uint8Array;
  query?: string;
  gtid?: unknown;
}

interface ZongJiLike {
  on(event: "binlog", listener: (event: BinlogEvent) => void): void;
  on(event: "error", listener: (error: unknown) => void): void;
  on(event: "ready" | "stopped", listener: () => void): void;
  start(options: Record<string, unknown>): void;
  stop(): void;
  options: { filename?: string; position?: number };
  connection: { pause(): void; resume(): void; on(event: string, l: () => void): void } | null;
}

/** Whether a rows event's images lack a column (binlog_row_image MINIMAL or NOBLOB). */
function partialImage(event: BinlogEvent): boolean {
  const count = event.numberOfColumns ?? 0;
  for (const bitmap of [event.columns_present_bitmap, event.columns_present_bitmap2]) {
    if (!bitmap) continue;
    for (let i = 0; i < count; i++) {
      if (((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) === 0) return true;
    }
  }
  return false;
}

const DML = /^\s*(?:\/\*[\s\S]*?\*\/\s*)*(?:INSERT|UPDATE|DELETE|REPLACE|LOAD\s+DATA)\b/i;

/**
 * The tracked table a data-changing statement logged as a statement (binlog_format STATEMENT or
 * MIXED in its session) names, or null. In ROW format the binlog holds such statements as row
 * events, never as text; a statement naming no tracked table is left alone.
 */
function statementDml(query: string, tracked: ReadonlySet<string>): string | null {
  if (!DML.test(query)) return null;
  const text = query.toLowerCase().replace(/[`"]/g, "");
  for (const name of tracked) {
    const table = name.slice(name.indexOf(".") + 1).toLowerCase();
    if (
      new RegExp(
        `(^|[^a-z0-9_$])${table.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^a-z0-9_$])`,
      ).test(text)
    ) {
      return name;
    }
  }
  return null;
}

function gtidText(gtid: unknown): string | null {
  if (gtid === undefined || gtid === null) return null;
  if (typeof gtid === "string") return gtid;
  const g = gtid as { domainId?: number; serverId?: number; seqNo?: unknown };
  if (g.domainId !== undefined && g.serverId !== undefined && g.seqNo !== undefined) {
    return `${g.domainId}-${g.serverId}-${String(g.seqNo)}`;
  }
  return null;
}

function storedPosition(position: JsonObject | null): BinlogPosition | null {
  if (position === null) return null;
  const { file, pos } = position;
  if (typeof file !== "string" || typeof pos !== "number") return null;
  return { file, pos };
}

/**
 * zongji pauses the binlog connection while it reads a table's columns, and this reader pauses it
 * while commits are pending: counted, so that one's resume never lifts the other's pause (rows
 * decoded before their table's columns are known would be lost).
 */
function countPauses(connection: ZongJiLike["connection"]): void {
  if (!connection) return;
  const pause = connection.pause.bind(connection);
  const resume = connection.resume.bind(connection);
  let holds = 0;
  connection.pause = () => {
    holds++;
    if (holds === 1) pause();
  };
  connection.resume = () => {
    if (holds === 0) return;
    holds--;
    if (holds === 0) resume();
  };
}

/** A server id for the binlog connection, unlike any real replica's. */
function replicaServerId(): number {
  return 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
}

async function run(options: SourceReaderOptions): Promise<void> {
  const { signal } = options;
  if (signal.aborted) return;
  const connection = connectionOptions(options.url, options.readEnv);
  const context = { tls: "ssl" in connection };
  const mysql = await import("mysql2/promise");
  const { default: ZongJi } = (await import("@vlasky/zongji")) as unknown as {
    default: new (dsn: unknown) => ZongJiLike;
  };

  // Checks and the start position, on a connection of their own.
  let start: BinlogPosition;
  try {
    const control = await mysql.createConnection(connection);
    try {
      await checkBinlogSettings(control);
      await checkPrivileges(control);
      start = await startPosition(control, storedPosition(options.position), options.start);
      for (const table of await missingTables(control, options.tables)) {
        options.logger.log("warn", "source: a tracked table does not exist (yet)", { table });
      }
      for (const missing of await missingColumns(control, options.tables)) {
        options.logger.log(
          "warn",
          `source: a configured column does not exist: ${missing.field} ${missing.column} of ${missing.table}`,
          missing,
        );
      }
    } finally {
      await control.end().catch(() => undefined);
    }
  } catch (error) {
    throw classifyMysqlError(error, context);
  }
  if (signal.aborted) return;

  const tracked = new Set(options.tables.map((t) => t.table));
  const includeSchema: Record<string, string[]> = {};
  for (const name of tracked) {
    const dot = name.indexOf(".");
    if (dot < 0) continue;
    const db = name.slice(0, dot);
    includeSchema[db] = [...(includeSchema[db] ?? []), name.slice(dot + 1)];
  }

  const jsonColumns = createJsonColumns(mysql.createPool({ ...connection, connectionLimit: 1 }));
  const zongji = new ZongJi(connection);
  const queue: SourceTransaction[] = [];
  let changes: SourceChange[] = [];
  let gtid: string | null = null;
  let lastCommitAt = 0;
  /** A position-only transaction held back by `POSITION_ONLY_EVERY_MS`, written when reading goes quiet. */
  let pending: SourceTransaction | null = null;
  let quietTimer: ReturnType<typeof setInterval> | null = null;
  let draining = false;
  /** An event that cannot be read faithfully was met: stop once what came before it is written. */
  let failing: SourceError | null = null;
  let paused = false;
  let settled = false;

  return new Promise<void>((resolve, reject) => {
    /** Ends reading; `error` from `commit` (the supervisor's own) is passed on as it is. */
    const finish = (error?: unknown, fromCommit = false) => {
      if (settled) return;
      settled = true;
      if (quietTimer !== null) clearInterval(quietTimer);
      signal.removeEventListener("abort", onAbort);
      options.status({ connected: false });
      void jsonColumns.close();
      try {
        zongji.stop();
      } catch {
        // Stopping a half-started reader: nothing more to close.
      }
      if (error === undefined || signal.aborted) resolve();
      else reject(fromCommit ? error : classifyMysqlError(error, context));
    };
    const onAbort = () => finish();
    signal.addEventListener("abort", onAbort, { once: true });

    /**
     * Commits the queued transactions in order, then lets the binlog flow again. `draining` is
     * cleared before resuming: resuming hands over buffered packets at once, whose transactions
     * start the next drain.
     */
    const drain = async () => {
      if (draining) return;
      draining = true;
      try {
        while (queue.length > 0 && !settled) {
          // Everything queued goes to `commit` at once (pipelined: the supervisor writes them
          // together), in order; reading resumes once all of it is committed.
          const batch = queue.splice(0);
          for (const transaction of batch) await jsonColumns.parse(transaction.changes);
          await Promise.all(batch.map((transaction) => options.commit(transaction)));
        }
      } catch (error) {
        draining = false;
        finish(error, true);
        return;
      }
      draining = false;
      if (failing !== null) {
        // Everything read before the failure is written: now stop, at its position.
        if (queue.length > 0 && !settled) void drain();
        else finish(failing, true);
        return;
      }
      if (paused && !settled) {
        paused = false;
        zongji.connection?.resume();
      }
      if (queue.length > 0 && !settled) void drain();
    };

    /** Stops at an event that cannot be read faithfully, once the transactions before it are written. */
    const failAfterQueued = (error: SourceError) => {
      if (failing !== null) return;
      failing = error;
      changes = [];
      pending = null;
      if (!draining && queue.length === 0) finish(error, true);
      else void drain();
    };

    const enqueue = (transaction: SourceTransaction) => {
      pending = null;
      queue.push(transaction);
      lastCommitAt = Date.now();
      if (queue.length >= MAX_QUEUED && !paused) {
        paused = true;
        zongji.connection?.pause();
      }
      void drain();
    };

    /** Ends the transaction at `event` (its XID or COMMIT). */
    const endTransaction = (event: BinlogEvent) => {
      const file = zongji.options.filename ?? start.file;
      const pos = zongji.options.position ?? event.nextPosition;
      const position: JsonObject = { file, pos };
      const id = gtidText(event.gtid) ?? gtid;
      if (id !== null) position.gtid = id;
      const collected = changes;
      changes = [];
      gtid = null;
      const source: Record<string, JsonValue> = { file, pos };
      if (id !== null) source.gtid = id;
      const transaction: SourceTransaction = {
        changes: collected,
        position,
        committedAtMs: event.timestamp > 0 ? event.timestamp : null,
        source,
      };
      if (collected.length === 0 && Date.now() - lastCommitAt < POSITION_ONLY_EVERY_MS) {
        // Written with the next transaction, or when reading goes quiet: a position left behind
        // on a quiet source would be purged with its binlog, and read as changes lost.
        pending = transaction;
        return;
      }
      enqueue(transaction);
    };

    zongji.on("error", (error) => finish(error ?? new Error("binlog connection failed")));
    zongji.on("ready", () => options.status({ connected: true, lagMs: null }));
    zongji.on("binlog", (event) => {
      if (settled || failing !== null) return;
      const name = event.getEventName();
      switch (name) {
        case "writerows":
        case "updaterows":
        case "deleterows": {
          const table = event.tableMap?.[event.tableId ?? -1];
          if (!table) return;
          const qualified = `${table.parentSchema}.${table.tableName}`;
          if (!tracked.has(qualified)) return;
          if (partialImage(event)) {
            // Read as they are, the missing columns would be nulls: wrong values, not changes.
            failAfterQueued(
              new SourceError(
                "SOURCE_BINLOG_ROW_IMAGE",
                `the binlog holds a row image of ${qualified} without every column (in ${zongji.options.filename ?? start.file}, after position ${zongji.options.position ?? "?"}): a session wrote it with binlog_row_image other than FULL (SET GLOBAL binlog_row_image = 'FULL', and reconnect the sessions, which keep their own setting). Those rows cannot be read faithfully: once every session writes FULL images, delete the source and create it again to start after them`,
                false,
              ),
            );
            return;
          }
          const columns = table.columns ?? [];
          for (const row of event.rows ?? []) {
            if (name === "updaterows") {
              const pair = row as {
                before: Record<string, unknown>;
                after: Record<string, unknown>;
              };
              changes.push({
                table: qualified,
                op: "u",
                before: decodeRow(columns, pair.before),
                after: decodeRow(columns, pair.after),
              });
            } else {
              const image = decodeRow(columns, row);
              changes.push({
                table: qualified,
                op: name === "writerows" ? "c" : "d",
                before: name === "deleterows" ? image : null,
                after: name === "writerows" ? image : null,
              });
            }
          }
          return;
        }
        case "rotate": {
          // The next binlog file (a restart, FLUSH, or the size limit): its start is a position
          // between transactions. Not the dump's own first rotate, which names the start itself.
          const rotate = event as BinlogEvent & { binlogName?: string; position?: number };
          const next = rotate.binlogName;
          if (changes.length > 0 || !next || next === start.file) return;
          pending = {
            changes: [],
            position: { file: next, pos: rotate.position ?? 4 },
            committedAtMs: null,
            source: {},
          };
          return;
        }
        case "mariadbgtid":
        case "gtid":
          gtid = gtidText(event.gtid);
          return;
        case "xid":
          endTransaction(event);
          return;
        case "query": {
          // Non-transactional tables (MyISAM) end their group with a COMMIT query, not an XID.
          if (event.query?.trim().toUpperCase() === "COMMIT") {
            endTransaction(event);
            return;
          }
          const statement = statementDml(event.query ?? "", tracked);
          if (statement !== null) {
            // A session in STATEMENT (or MIXED) format: the rows it changed are not in the binlog.
            failAfterQueued(
              new SourceError(
                "SOURCE_BINLOG_FORMAT",
                `the binlog holds a statement on ${statement} instead of its rows (in ${zongji.options.filename ?? start.file}, after position ${zongji.options.position ?? "?"}): a session wrote it with binlog_format other than ROW (SET GLOBAL binlog_format = 'ROW', and reconnect the sessions, which keep their own setting). The rows it changed are not in the binlog: once every session writes ROW, delete the source and create it again to start after it`,
                false,
              ),
            );
          }
          return;
        }
        default:
          return;
      }
    });

    // First run: record where reading starts, so a restart never skips what happened meanwhile.
    const first =
      options.position === null
        ? options.commit({
            changes: [],
            position: { file: start.file, pos: start.pos },
            committedAtMs: null,
            source: {},
          })
        : Promise.resolve();
    first.then(
      () => {
        if (settled) return;
        lastCommitAt = Date.now();
        quietTimer = setInterval(() => {
          if (pending === null || settled || Date.now() - lastCommitAt < POSITION_ONLY_EVERY_MS) {
            return;
          }
          enqueue(pending);
        }, POSITION_ONLY_EVERY_MS / 5);
        zongji.start({
          serverId: replicaServerId(),
          filename: start.file,
          position: start.pos,
          includeEvents: [
            "tablemap",
            "writerows",
            "updaterows",
            "deleterows",
            "xid",
            "query",
            "rotate",
            "gtid",
            "mariadbgtid",
          ],
          includeSchema,
        });
        countPauses(zongji.connection);
      },
      (error: unknown) => finish(error, true),
    );
  });
}

/** The MySQL/MariaDB reader; see the file comment. */
export function createMysqlReader(): SourceReader {
  return { run };
}
