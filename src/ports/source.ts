/**
 * A source: a foreign database (MySQL or MariaDB by binlog, SQL Server by CDC) whose committed
 * row changes enter the pipeline as rows of `core.tb_entity_change_log` (docs/sources.md).
 *
 * A `SourceReader` is one connection's worth of reading: it connects, reads committed
 * transactions in the source's commit order from a position, hands each one to `commit` and waits
 * for it before reading on. The supervisor in the core (src/sources/) writes each transaction's
 * changes and its position in one PostgreSQL transaction, keeps state for the API and health, and
 * restarts a reader that failed from the stored position, with backoff. Nothing here depends on a
 * database client library: readers live in adapters/drivers/mysql and adapters/drivers/sqlserver.
 */
import type { JsonObject, JsonValue } from "../json.ts";
import type { Logger } from "./logger.ts";

/** The kinds of source. */
export const SOURCE_KINDS = ["mysql", "sqlserver"] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** One tracked table of a source, as configured (`tables[]` of `POST /api/sources`). */
export interface SourceTable {
  /** `schema.table` (MySQL: `database.table`), as the source names it. */
  table: string;
  entityType: string;
  /** The column holding the entity id (default `id`). */
  idColumn?: string;
  /** The column holding the tenant, if any. */
  tenantColumn?: string;
  /** The columns to capture (default all). */
  columns?: readonly string[];
}

/** One row change, decoded: values are JSON (exact decimals and big integers as strings, etc.). */
export interface SourceChange {
  /** The configured `table` it belongs to. */
  table: string;
  op: "c" | "u" | "d";
  /** The row before (updates and deletes), every column. */
  before: JsonObject | null;
  /** The row after (inserts and updates), every column. */
  after: JsonObject | null;
}

/** One committed source transaction. */
export interface SourceTransaction {
  /** In the order the source applied them. Empty: only the position moves (see `commit`). */
  changes: readonly SourceChange[];
  /**
   * Where reading resumes after this transaction (opaque to the core, stored as JSON): MySQL
   * `{file, pos}` (plus `gtid` when known), SQL Server `{lsn}` (hex).
   */
  position: JsonObject;
  /** When the source committed it (epoch ms), if known: the envelope's `source.ts_ms`, and lag. */
  committedAtMs: number | null;
  /** Extra fields of the Debezium `source` block (`gtid`, `file`, `pos`, `lsn`, ...). */
  source: Readonly<Record<string, JsonValue>>;
}

/** What a reader reports while running, for `GET /api/sources/{id}` and health. */
export interface SourceStatus {
  connected: boolean;
  /** How far behind the source's head the reader is (ms), when known. */
  lagMs?: number | null;
}

/** Why a reader stopped: `code` is stable (docs/sources.md lists them), `message` says what to do. */
export class SourceError extends Error {
  /** Retrying may help (a dropped connection); false: a setting must change first. */
  readonly transient: boolean;
  /** Stable: docs/sources.md lists them. */
  readonly code: string;
  constructor(code: string, message: string, transient: boolean) {
    super(message);
    this.name = "SourceError";
    this.code = code;
    this.transient = transient;
  }
}

export interface SourceReaderOptions {
  /** The connection URL (a secret: never logged, never in an error text). */
  url: string;
  /**
   * A server environment variable the URL names (MySQL's `ssl-ca-env`), under the secret rules
   * of `url_env`: throws a `SourceError` `SOURCE_URL_NOT_ALLOWED` for a name they refuse;
   * undefined when it is unset or empty.
   */
  readEnv(name: string): string | undefined;
  tables: readonly SourceTable[];
  /**
   * The position committed with the last transaction written, or null on the first run: then
   * reading starts at the source's current head (`start: "now"`) or its oldest retained change
   * (`"beginning"`), and the reader first calls `commit` with no changes and that position, so a
   * restart never skips what happened in between.
   */
  position: JsonObject | null;
  start: "now" | "beginning";
  /** Aborted on stop: `run` then resolves. */
  signal: AbortSignal;
  logger: Logger;
  /**
   * Called once per committed transaction, in commit order; the reader reads on only after it
   * resolves (it resolves once the changes and the position are committed in PostgreSQL).
   * A reader may call it again before an earlier call resolved (pipelining, to keep up with a
   * busy source): calls are applied in call order, several may be written in one PostgreSQL
   * transaction, and once one rejects every later one rejects too (nothing after it is written).
   */
  commit(transaction: SourceTransaction): Promise<void>;
  status(status: SourceStatus): void;
}

/**
 * Reads one source until `signal` aborts (then resolves) or reading fails (then rejects, with a
 * `SourceError` when the cause is known). It never retries on its own: the supervisor does.
 */
export interface SourceReader {
  run(options: SourceReaderOptions): Promise<void>;
}

/** Creates the reader for a kind (the hosts register the drivers they ship). */
export type SourceReaderFactory = (kind: SourceKind) => SourceReader;
