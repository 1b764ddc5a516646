import postgres from "postgres";
import { computeBackoff } from "../../../src/executor/backoff.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type {
  ListenHandlers,
  SqlClient,
  SqlExecutor,
  SqlListener,
} from "../../../src/ports/sql.ts";
import { type ListenBackoff, type ListenTarget, listenWithReconnect } from "./listener.ts";

/** Options of `createPostgresClient`. */
export interface PostgresClientOptions {
  /** Pooled connections for queries and transactions (default 10); LISTEN uses its own. */
  max?: number;
  /** Receives server notices (at debug) and LISTEN reconnections. */
  logger?: Logger;
  /**
   * Seconds a connection attempt may take, handshake included (default 10). postgres.js 3.4.9 can
   * leave a new connection whose backend was terminated during its start-up waiting for this
   * timeout, with every query queued on it: at its own default (30 s) the fault suite saw delivery
   * stall 29 s after `pg_terminate_backend`.
   */
  connectTimeoutSeconds?: number;
  /** Close pooled connections idle this long, in seconds (default: never). */
  idleTimeoutSeconds?: number;
  /** Named prepared statements (default true); turn off behind a transaction-mode pooler. */
  prepare?: boolean;
  /** `application_name` of the connections (default "fraiseql-observers"); listeners add ":listen". */
  applicationName?: string;
  /** Re-listen delays after a lost LISTEN connection (default 100 ms doubling to 10 s). */
  listenBackoff?: Partial<ListenBackoff>;
  /**
   * Delays between attempts to reopen a pooled connection after failures (default 100 ms doubling
   * to 2 s, full jitter). postgres.js's own reach 20 s, so after a PostgreSQL restart the runtime
   * could sit idle that long with the database already back.
   */
  reconnectBackoff?: Partial<ListenBackoff>;
  /** Jitter source of the re-listen and reconnect backoffs (default Math.random). */
  random?: () => number;
  /**
   * `statement_timeout` of the pooled connections, in ms (default: the server's): longer
   * statements fail with SQLSTATE 57014. Sent as a startup parameter, so it holds for every
   * statement on the connection without a round trip.
   */
  statementTimeoutMs?: number;
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
  const connectionOptions = sharedConnectionOptions(options);
  const sql = postgres(url, {
    ...connectionOptions,
    max: options.max ?? 10,
    ...(options.idleTimeoutSeconds === undefined
      ? {}
      : { idle_timeout: options.idleTimeoutSeconds }),
    connection: {
      application_name: options.applicationName ?? "fraiseql-observers",
      ...(options.statementTimeoutMs === undefined
        ? {}
        : { statement_timeout: options.statementTimeoutMs }),
    },
  });
  return clientOver(sql, url, connectionOptions, options, () => sql.end({ timeout: 5 }));
}

/** Options of `wrapPostgresSql`: those that concern LISTEN and notices (the pool is the host's). */
export type WrappedPostgresOptions = Pick<
  PostgresClientOptions,
  "logger" | "applicationName" | "listenBackoff" | "random"
> & {
  /** Named prepared statements for the core's recurring statements (default: the pool's `prepare`). */
  prepare?: boolean;
};

/**
 * The SQL port over a postgres.js pool someone else owns (a host's `postgres()` instance): queries
 * and transactions run on that pool; each `listen` opens its own connection to the same server
 * with the same credentials (as `createPostgresClient` does). `close` ends those listeners only:
 * the pool stays open for its owner. A pool that transforms columns or values (`transform`, e.g.
 * `postgres.camel`) is refused: the core reads columns by their names in SQL.
 */
export function wrapPostgresSql(
  sql: postgres.Sql,
  options: WrappedPostgresOptions = {},
): PostgresClient {
  const parsed = sql.options;
  const transform = parsed.transform;
  if (transform?.column?.from || transform?.value?.from || transform?.row?.from) {
    throw new TypeError(
      "the postgres.js instance given as `sql` has a `transform` option; fraiseql-observers reads " +
        "rows by their column names in SQL: pass an instance without `transform`",
    );
  }
  const target = postgresTarget(sql);
  const connectionOptions = {
    ...sharedConnectionOptions({ ...options, prepare: options.prepare ?? parsed.prepare }),
  };
  // The host's pool keeps its own backoff, timeouts and notice handler.
  return clientOver(sql, target, connectionOptions, options, async () => {});
}

/**
 * The server, database and credentials of an existing pool, for a connection of our own beside it
 * (a LISTEN): postgres.js keeps them parsed in `sql.options` (hosts and ports as lists, a password
 * or a function returning one, TLS settings, a custom socket factory).
 */
function postgresTarget(sql: postgres.Sql): ListenTarget {
  const o = sql.options as postgres.ParsedOptions & {
    path?: string | false;
    pass?: unknown;
    socket?: unknown;
    target_session_attrs?: unknown;
  };
  return {
    host: o.host as unknown as string,
    port: o.port as unknown as number,
    ...(o.path ? { path: o.path } : {}),
    database: o.database,
    user: o.user,
    pass: o.pass as unknown as string,
    ssl: o.ssl,
    ...(o.socket ? { socket: o.socket } : {}),
    ...(o.target_session_attrs ? { target_session_attrs: o.target_session_attrs } : {}),
    connection: { ...o.connection },
  } as ListenTarget & object;
}

type ConnectionOptions = ReturnType<typeof sharedConnectionOptions>;

/** What the pool and its LISTEN connections share: timeouts, backoff, prepare, notices. */
function sharedConnectionOptions(options: PostgresClientOptions) {
  const logger = options.logger;
  const random = options.random ?? Math.random;
  const reconnect = {
    max_attempts: Number.MAX_SAFE_INTEGER,
    backoff_strategy: "exponential",
    initial_delay_ms: options.reconnectBackoff?.initialMs ?? 100,
    max_delay_ms: options.reconnectBackoff?.maxMs ?? 2_000,
  } as const;
  return {
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    // postgres.js counts failed attempts across the pool and asks for the delay in seconds.
    backoff: (failures: number) => computeBackoff(failures, reconnect, random) / 1000,
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
}

/** The port over `sql`; `endPool` closes the pool itself (nothing, when the pool is a host's). */
function clientOver(
  sql: postgres.Sql,
  target: ListenTarget,
  connectionOptions: ConnectionOptions,
  options: PostgresClientOptions,
  endPool: () => Promise<void>,
): PostgresClient {
  const logger = options.logger;
  const applicationName = options.applicationName ?? "fraiseql-observers";
  const prepared = createPreparedTexts(connectionOptions.prepare);
  const listeners = new Set<SqlListener>();
  let closing: Promise<void> | undefined;

  return {
    sql,
    query: (text, params) => run(sql, text, params, prepared),
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const result = await sql.begin((tx) =>
        fn({ query: (text, params) => run(tx, text, params, prepared) }),
      );
      return result as T;
    },
    async listen(channel, handlers) {
      if (closing) throw new Error("the PostgreSQL client is closed");
      const listener = await listenWithReconnect(target, channel, handlers, {
        postgresOptions: {
          ...connectionOptions,
          connection: {
            ...(typeof target === "string" ? {} : target.connection),
            application_name: `${applicationName}:listen`,
          },
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
        endPool(),
      ]).then(() => {});
      return closing;
    },
  };
}

/**
 * Which statement texts run as named prepared statements. postgres.js prepares nothing passed to
 * `unsafe` unless asked, so each statement would be parsed and planned on every call (and sent
 * with an extra Describe round trip). A text is prepared from its second run on: the core's
 * statements are static and recur, while generated SQL (conditions, function calls) may not, and
 * a prepared statement stays in its connection for good; hence the bound.
 */
function createPreparedTexts(enabled: boolean, limit = 256): (text: string) => boolean {
  const prepared = new Set<string>();
  let seen = new Set<string>();
  return (text) => {
    if (!enabled) return false;
    if (prepared.has(text)) return true;
    if (prepared.size < limit && seen.has(text)) {
      prepared.add(text);
      return true;
    }
    if (seen.size >= 4 * limit) seen = new Set();
    seen.add(text);
    return false;
  };
}

function run<Row extends object>(
  db: Database,
  text: string,
  params: readonly unknown[] | undefined,
  prepare: (text: string) => boolean,
): Promise<Row[]>;
async function run(
  db: Database,
  text: string,
  params: readonly unknown[] | undefined,
  prepare: (text: string) => boolean,
): Promise<object[]> {
  if (params === undefined || params.length === 0) {
    // The simple protocol runs several statements; postgres.js then resolves to one result per
    // statement that returned rows, else to the one result.
    const result: readonly unknown[] = await db.unsafe(text).simple();
    const last = Array.isArray(result[0]) ? (result.at(-1) as readonly unknown[]) : result;
    return Array.from(last) as object[];
  }
  const result = await db.unsafe(text, params as unknown as postgres.ParameterOrJSON<never>[], {
    prepare: prepare(text),
  });
  return Array.from(result);
}
