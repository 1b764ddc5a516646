import type postgres from "postgres";
import { computeBackoff } from "../../../src/executor/backoff.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type {
  ListenHandlers,
  SqlClient,
  SqlExecutor,
  SqlListener,
} from "../../../src/ports/sql.ts";
import {
  type ConnectionServer,
  type ConnectionTarget,
  connectPostgres,
  type ListenBackoff,
  listenWithReconnect,
} from "./listener.ts";

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

/**
 * What the SQL port uses of a postgres.js instance (`postgres(url)`), typed by those members only
 * so that an instance of postgres.js 3 and one of postgres.js 4 both fit without a cast: a host's
 * `sql` is whatever `npm install postgres` gave it, not necessarily this package's own copy.
 */
export interface PostgresJsSql extends PostgresJsQueryable {
  /** The parsed options: where LISTEN connects beside the pool, `prepare`, `transform`. */
  readonly options: PostgresJsOptions;
  begin(fn: (tx: PostgresJsQueryable) => Promise<unknown>): PromiseLike<unknown>;
}

/** A pool or a transaction: what runs the core's statements. */
export interface PostgresJsQueryable {
  unsafe(
    query: string,
    parameters?: readonly unknown[],
    options?: { prepare?: boolean },
  ): PostgresJsQuery;
}

/** A pending `unsafe` query: rows, or with `simple()` one result per statement that had rows. */
export interface PostgresJsQuery extends PromiseLike<readonly object[]> {
  simple(): PromiseLike<readonly object[]>;
}

/**
 * The parsed options postgres.js 3 and 4 both keep in `sql.options` (hosts and ports as lists, a
 * password or a function returning one); those only one of them has, or does not declare in its
 * types, are optional.
 */
export interface PostgresJsOptions {
  readonly host: readonly string[];
  readonly port: readonly number[];
  /** A Unix socket's path, or false. */
  readonly path?: string | false | undefined;
  /** null on postgres.js 4 when `user` is a function and no database was given. */
  readonly database: string | null;
  /** A function only on postgres.js 4. */
  readonly user: string | (() => string | Promise<string>);
  /** Declared null by postgres.js 3's types, though it holds the password there too. */
  readonly pass?: string | (() => string | Promise<string>) | null | undefined;
  /** postgres.js 4 also takes "disable". */
  readonly ssl: boolean | "require" | "allow" | "prefer" | "verify-full" | "disable" | object;
  readonly sslnegotiation?: "postgres" | "direct" | null | undefined;
  readonly socket?: unknown;
  readonly target_session_attrs?:
    | "read-write"
    | "read-only"
    | "primary"
    | "standby"
    | "prefer-standby"
    | null
    | undefined;
  readonly connection: object;
  readonly prepare: boolean;
  readonly transform: {
    readonly column: { readonly from?: unknown };
    readonly value: { readonly from?: unknown };
    readonly row: { readonly from?: unknown };
  };
  /** postgres.js 4 only. */
  readonly channel_binding?: string | undefined;
  /** postgres.js 4 only. */
  readonly require_auth?: string | null | undefined;
  /** postgres.js 4 only: the pgpass file it reads a missing password from. */
  readonly passfile?: string | null | undefined;
}

/**
 * The SQL port over postgres.js; `sql` is the pool itself, for what the port does not cover (this
 * package's postgres.js 3 from `createPostgresClient`, the host's own from `wrapPostgresSql`).
 */
export interface PostgresClient<Pool extends PostgresJsSql = postgres.Sql> extends SqlClient {
  readonly sql: Pool;
  listen(channel: string, handlers: ListenHandlers): Promise<SqlListener>;
}

/**
 * The postgres.js driver of the SQL port (https://github.com/porsager/postgres). Type parsing is
 * postgres.js's default: BIGINT and NUMERIC arrive as strings, TIMESTAMPTZ as Date, JSON parsed.
 * Each `listen` gets a dedicated connection that re-listens with capped, jittered backoff.
 */
export function createPostgresClient(
  url: string,
  options: PostgresClientOptions = {},
): PostgresClient {
  return openClient(url, options);
}

/**
 * A pool of our own (postgres.js 3, closed by `close`) to the server of a host's postgres.js
 * instance, with its credentials and connection parameters as its LISTEN connections get them
 * (`wrapPostgresSql`), and refused for the same settings: for what must not share the host's
 * pool, such as the API's statements with their timeout. `prepare` defaults to the host pool's
 * (off behind a transaction-mode pooler).
 */
export function createPostgresClientBeside(
  sql: PostgresJsSql,
  options: PostgresClientOptions = {},
): PostgresClient {
  return openClient(postgresTarget(sql.options), {
    ...options,
    prepare: options.prepare ?? sql.options.prepare,
  });
}

function openClient(target: ConnectionTarget, options: PostgresClientOptions): PostgresClient {
  const connectionOptions = sharedConnectionOptions(options);
  const sql = connectPostgres(target, {
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
  return clientOver(sql, target, connectionOptions, options, () => sql.end({ timeout: 5 }));
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
 * The SQL port over a postgres.js pool someone else owns (a host's `postgres()` instance, of
 * postgres.js 3 or 4): queries and transactions run on that pool; each `listen` opens its own
 * connection to the same server with the same credentials (as `createPostgresClient` does), made
 * by this package's postgres.js 3 from the pool's parsed options. `close` ends those listeners
 * only: the pool stays open for its owner. Refused with a TypeError naming the option: a pool that
 * transforms columns or values (`transform`, e.g. `postgres.camel`; the core reads columns by
 * their names in SQL), and settings of postgres.js 4 the LISTEN connection could not honour.
 */
export function wrapPostgresSql<Pool extends PostgresJsSql>(
  sql: Pool,
  options: WrappedPostgresOptions = {},
): PostgresClient<Pool> {
  const parsed = sql.options;
  const transform = parsed.transform;
  if (transform.column.from || transform.value.from || transform.row.from) {
    throw new TypeError(
      "the postgres.js instance given as `sql` has a `transform` option; fraiseql-observers reads " +
        "rows by their column names in SQL: pass an instance without `transform`",
    );
  }
  const target = postgresTarget(parsed);
  const connectionOptions = {
    ...sharedConnectionOptions({ ...options, prepare: options.prepare ?? parsed.prepare }),
  };
  // The host's pool keeps its own backoff, timeouts and notice handler.
  return clientOver(sql, target, connectionOptions, options, async () => {});
}

/**
 * The server, database and credentials of an existing pool, for connections of our own beside it
 * (LISTEN, a pool of ours): postgres.js 3 and 4 keep them parsed in `sql.options` (hosts and ports
 * as lists, a password or a function returning one, TLS settings, a custom socket factory). What
 * only postgres.js 4 can do is refused rather than quietly dropped: authentication requirements
 * (`require_auth`, `channel_binding: "require"`) would not hold for our connections, and
 * its `socket` factory and `user` function follow contracts postgres.js 3 does not have.
 */
function postgresTarget(o: PostgresJsOptions): ConnectionServer {
  const refuse = (option: string, why: string) => {
    throw new TypeError(
      `the postgres.js instance given as \`sql\` sets \`${option}\`, which the connections ` +
        `fraiseql-observers opens beside it (LISTEN, the API's pool) cannot honour (${why}); ` +
        "pass an instance without it, or give `databaseUrl` instead of `sql`",
    );
  };
  // Present, even when null, in every postgres.js 4 instance's options; unknown to 3.
  const version4 = "sslnegotiation" in o && "channel_binding" in o;
  if (o.require_auth) refuse("require_auth", "postgres.js 3 has no such setting");
  if (o.channel_binding === "require")
    refuse("channel_binding", "postgres.js 3 has no such setting");
  if (typeof o.user !== "string") refuse("user", "postgres.js 3 takes the user name as a string");
  if (version4 && o.socket) {
    refuse("socket", "postgres.js 4 expects a connected socket, postgres.js 3 one to connect");
  }
  const user = typeof o.user === "string" ? o.user : "";
  return {
    host: [...o.host],
    port: [...o.port],
    ...(o.path ? { path: o.path } : {}),
    ...(o.database ? { database: o.database } : {}),
    user,
    ...(o.pass ? { pass: o.pass } : {}),
    // postgres.js 4 takes "disable" for no TLS; postgres.js 3 would read any string as TLS.
    ssl: o.ssl === "disable" ? false : o.ssl,
    ...(o.sslnegotiation ? { sslnegotiation: o.sslnegotiation } : {}),
    ...(o.socket ? { socket: o.socket } : {}),
    ...(o.target_session_attrs ? { target_session_attrs: o.target_session_attrs } : {}),
    connection: { ...o.connection },
  };
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
function clientOver<Pool extends PostgresJsSql>(
  sql: Pool,
  target: ConnectionTarget,
  connectionOptions: ConnectionOptions,
  options: PostgresClientOptions,
  endPool: () => Promise<void>,
): PostgresClient<Pool> {
  const logger = options.logger;
  const applicationName = options.applicationName ?? "fraiseql-observers";
  const prepared = createPreparedTexts(connectionOptions.prepare);
  const listeners = new Set<SqlListener>();
  let closing: Promise<void> | undefined;

  return {
    sql,
    query: (text, params) => run(sql, text, params, prepared),
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      // Kept here rather than taken from `begin`'s result, which both versions type their own way.
      let result: { value: T } | undefined;
      await sql.begin(async (tx) => {
        result = { value: await fn({ query: (text, params) => run(tx, text, params, prepared) }) };
      });
      if (!result) throw new Error("postgres.js committed a transaction that did not finish");
      return result.value;
    },
    async listen(channel, handlers) {
      if (closing) throw new Error("the PostgreSQL client is closed");
      const listener = await listenWithReconnect(target, channel, handlers, {
        postgresOptions: {
          ...connectionOptions,
          // Over the target's own connection parameters (connectPostgres).
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
  db: PostgresJsQueryable,
  text: string,
  params: readonly unknown[] | undefined,
  prepare: (text: string) => boolean,
): Promise<Row[]>;
async function run(
  db: PostgresJsQueryable,
  text: string,
  params: readonly unknown[] | undefined,
  prepare: (text: string) => boolean,
): Promise<object[]> {
  if (params === undefined || params.length === 0) {
    // The simple protocol runs several statements; postgres.js then resolves to one result per
    // statement that returned rows, else to the one result.
    const result = await db.unsafe(text).simple();
    const last = Array.isArray(result[0]) ? (result.at(-1) as readonly object[]) : result;
    return Array.from(last);
  }
  return Array.from(await db.unsafe(text, params, { prepare: prepare(text) }));
}
