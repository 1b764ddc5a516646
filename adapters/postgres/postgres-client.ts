import postgres from "postgres";
import type { Logger } from "../../src/ports/logger.ts";
import type { ListenHandlers, SqlClient, SqlExecutor, SqlListener } from "../../src/ports/sql.ts";
import { type ListenBackoff, listenWithReconnect } from "./listener.ts";

/** Options of `createPostgresClient`. */
export interface PostgresClientOptions {
  /** Pooled connections for queries and transactions (default 10); LISTEN uses its own. */
  max?: number;
  /** Receives server notices (at debug) and LISTEN reconnections. */
  logger?: Logger;
  /** Seconds a connection attempt may take (default 30). */
  connectTimeoutSeconds?: number;
  /** Close pooled connections idle this long, in seconds (default: never). */
  idleTimeoutSeconds?: number;
  /** Named prepared statements (default true); turn off behind a transaction-mode pooler. */
  prepare?: boolean;
  /** `application_name` of the connections (default "fraiseql-observers"); listeners add ":listen". */
  applicationName?: string;
  /** Re-listen delays after a lost LISTEN connection (default 100 ms doubling to 10 s). */
  listenBackoff?: Partial<ListenBackoff>;
  /** Jitter source of the re-listen backoff (default Math.random). */
  random?: () => number;
}

/** The SQL port over postgres.js; `sql` is the pool itself, for what the port does not cover. */
export interface PostgresClient extends SqlClient {
  readonly sql: postgres.Sql;
  listen(channel: string, handlers: ListenHandlers): Promise<SqlListener>;
}

type Database = postgres.Sql | postgres.TransactionSql;

/**
 * The postgres.js driver of the SQL port (https://github.com/porsager/postgres). Type parsing is
 * postgres.js's default: BIGINT and NUMERIC arrive as strings, TIMESTAMPTZ as Date, JSON parsed.
 * Each `listen` gets a dedicated connection that re-listens with capped, jittered backoff.
 */
export function createPostgresClient(
  url: string,
  options: PostgresClientOptions = {},
): PostgresClient {
  const logger = options.logger;
  const applicationName = options.applicationName ?? "fraiseql-observers";
  const connectionOptions = {
    connect_timeout: options.connectTimeoutSeconds ?? 30,
    prepare: options.prepare ?? true,
    // Notices (e.g. "relation already exists, skipping") are routine: debug, never the console.
    onnotice: (notice: postgres.Notice) => {
      logger?.log("debug", "postgres notice", {
        severity: String(notice.severity ?? ""),
        code: String(notice.code ?? ""),
        message: String(notice.message ?? ""),
      });
    },
  };
  const sql = postgres(url, {
    ...connectionOptions,
    max: options.max ?? 10,
    ...(options.idleTimeoutSeconds === undefined
      ? {}
      : { idle_timeout: options.idleTimeoutSeconds }),
    connection: { application_name: applicationName },
  });
  const listeners = new Set<SqlListener>();
  let closing: Promise<void> | undefined;

  return {
    sql,
    query: (text, params) => run(sql, text, params),
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const result = await sql.begin((tx) =>
        fn({ query: (text, params) => run(tx, text, params) }),
      );
      return result as T;
    },
    async listen(channel, handlers) {
      if (closing) throw new Error("the PostgreSQL client is closed");
      const listener = await listenWithReconnect(url, channel, handlers, {
        postgresOptions: {
          ...connectionOptions,
          connection: { application_name: `${applicationName}:listen` },
        },
        backoff: {
          initialMs: options.listenBackoff?.initialMs ?? 100,
          maxMs: options.listenBackoff?.maxMs ?? 10_000,
        },
        random: options.random ?? Math.random,
        ...(logger ? { logger } : {}),
      });
      if (closing) {
        await listener.close();
        throw new Error("the PostgreSQL client is closed");
      }
      const tracked: SqlListener = {
        async close() {
          listeners.delete(tracked);
          await listener.close();
        },
      };
      listeners.add(tracked);
      return tracked;
    },
    close() {
      closing ??= Promise.all([
        ...[...listeners].map((listener) => listener.close()),
        sql.end({ timeout: 5 }),
      ]).then(() => {});
      return closing;
    },
  };
}

function run<Row extends object>(
  db: Database,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<Row[]>;
async function run(
  db: Database,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<object[]> {
  if (params === undefined || params.length === 0) {
    // The simple protocol runs several statements; postgres.js then resolves to one result per
    // statement that returned rows, else to the one result.
    const result: readonly unknown[] = await db.unsafe(text).simple();
    const last = Array.isArray(result[0]) ? (result.at(-1) as readonly unknown[]) : result;
    return Array.from(last) as object[];
  }
  const result = await db.unsafe(text, params as unknown as postgres.ParameterOrJSON<never>[]);
  return Array.from(result);
}
