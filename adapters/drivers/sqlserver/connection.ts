/**
 * The reader talks to SQL Server through `SqlServerConnection`, a query function small enough to
 * fake in tests; `connectMssql` is the real one over `mssql` (tedious), loaded with a dynamic
 * import so that nothing loads it unless a sqlserver source runs.
 */
import type { config as MssqlConfig } from "mssql";
import { SourceError } from "../../../src/ports/source.ts";
import { classifySqlServerError } from "./errors.ts";
import { lsnToBytes } from "./lsn.ts";

/** A query parameter: an LSN (`binary(10)`, given as hex), a name (`nvarchar(128)`), an int. */
export type SqlParam =
  | { type: "lsn"; value: string }
  | { type: "nvarchar"; value: string }
  | { type: "int"; value: number };

/** A result column as mssql's recordset `columns` describe it (`type`: the T-SQL type name). */
export interface SqlColumn {
  name: string;
  type: string;
}

/** One result set: rows by column name, values as tedious returns them. */
export interface SqlResult {
  rows: readonly Readonly<Record<string, unknown>>[];
  columns: readonly SqlColumn[];
}

/** One connection to the source database. */
export interface SqlServerConnection {
  /**
   * Runs one batch; `@name` placeholders take `params[name]`. Rejects with the driver's error
   * (mssql's RequestError: `code`, `number`, `message`), classified by the reader.
   */
  query(
    text: string,
    params?: Readonly<Record<string, SqlParam>>,
    signal?: AbortSignal,
  ): Promise<SqlResult>;
  close(): Promise<void>;
  /** Values to cut out of any message (the password as parsed from the URL). */
  readonly secrets: readonly string[];
}

/** Opens a connection from the source's URL; rejects with a `SourceError` (no secret in it). */
export type SqlServerConnect = (url: string) => Promise<SqlServerConnection>;

/** Query parameters of an `mssql://` URL, and the driver option each sets. */
const BOOLEAN_PARAMS = {
  encrypt: "encrypt",
  trustservercertificate: "trustServerCertificate",
} as const;
const INTEGER_PARAMS = {
  connecttimeout: "connectTimeout",
  requesttimeout: "requestTimeout",
} as const;

function invalidUrl(why: string): SourceError {
  return new SourceError(
    "SOURCE_URL_INVALID",
    `the source's URL is not a SQL Server connection string: ${why}. Use mssql://user:password@host:1433/database?encrypt=true or Server=host,1433;Database=database;User Id=user;Password=password (docs/sqlserver.md)`,
    false,
  );
}

function parseBoolean(name: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === "true" || lower === "yes" || lower === "1") return true;
  if (lower === "false" || lower === "no" || lower === "0") return false;
  throw invalidUrl(`${name} must be true or false`);
}

/** The driver configuration and the secrets to keep out of every message. */
export interface ParsedSqlServerUrl {
  config: MssqlConfig;
  secrets: string[];
}

/**
 * An `mssql://` (or `sqlserver://`) URL: `mssql://user:password@host[:port][/database]
 * [?encrypt=&trustServerCertificate=&instanceName=&connectTimeout=&requestTimeout=]`. User and
 * password are percent-decoded; an unknown query parameter is refused, never ignored.
 */
export function parseSqlServerUrl(url: string): ParsedSqlServerUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidUrl("it does not parse as a URL");
  }
  if (parsed.protocol !== "mssql:" && parsed.protocol !== "sqlserver:") {
    throw invalidUrl("the scheme must be mssql:// or sqlserver://");
  }
  if (!parsed.hostname) throw invalidUrl("it names no host");
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database.includes("/")) throw invalidUrl("the path must be one database name");
  const options: NonNullable<MssqlConfig["options"]> = {};
  const config: MssqlConfig = { server: parsed.hostname.replace(/^\[|\]$/g, ""), options };
  if (parsed.port) config.port = Number(parsed.port);
  if (user) config.user = user;
  if (password) config.password = password;
  if (database) config.database = database;
  for (const [rawName, value] of parsed.searchParams) {
    const name = rawName.toLowerCase();
    if (name in BOOLEAN_PARAMS) {
      options[BOOLEAN_PARAMS[name as keyof typeof BOOLEAN_PARAMS]] = parseBoolean(rawName, value);
    } else if (name in INTEGER_PARAMS) {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0) throw invalidUrl(`${rawName} must be milliseconds`);
      options[INTEGER_PARAMS[name as keyof typeof INTEGER_PARAMS]] = ms;
    } else if (name === "instancename") {
      options.instanceName = value;
    } else {
      throw invalidUrl(`unknown parameter ${rawName}`);
    }
  }
  return { config, secrets: [url, parsed.password, password].filter((s) => s !== "") };
}

/** The URL is an ADO.NET connection string (`Server=...;Database=...;...`), not a URL. */
export function isAdoConnectionString(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(url.trim()) && /=/.test(url);
}

type MssqlModule = typeof import("mssql");

async function loadMssql(): Promise<MssqlModule> {
  try {
    const module = (await import("mssql")) as MssqlModule & { default?: MssqlModule };
    return module.default ?? module;
  } catch {
    throw new SourceError(
      "SOURCE_DRIVER_MISSING",
      "the SQL Server client is not installed: add the mssql package (npm install mssql) to the server",
      false,
    );
  }
}

/**
 * Parses either form of the URL. ADO.NET strings go through mssql's own parser
 * (@tediousjs/connection-string): `Server`/`Data Source` (`host,port`, `host\instance`),
 * `Database`/`Initial Catalog`, `User Id`, `Password`, `Encrypt`, `TrustServerCertificate`,
 * `Connect Timeout` and the other keys it knows.
 */
export async function resolveSqlServerUrl(
  url: string,
  mssql?: MssqlModule,
): Promise<ParsedSqlServerUrl> {
  if (!isAdoConnectionString(url)) return parseSqlServerUrl(url);
  const driver = mssql ?? (await loadMssql());
  let config: MssqlConfig;
  try {
    config = driver.ConnectionPool.parseConnectionString(url);
  } catch {
    throw invalidUrl("the connection string does not parse");
  }
  if (!config.server) throw invalidUrl("it names no Server");
  const secrets = [url];
  if (typeof config.password === "string" && config.password !== "") secrets.push(config.password);
  return { config, secrets };
}

/** The driver's options this reader relies on, over whatever the URL set. */
function readerConfig(config: MssqlConfig): MssqlConfig {
  return {
    ...config,
    // One connection: the reader runs one query at a time.
    pool: { max: 1, min: 0 },
    options: {
      ...config.options,
      // datetime, smalldatetime and date come as Dates whose UTC fields are the stored wall
      // clock (tedious's default; set so that a changed default cannot shift them).
      useUTC: true,
      appName: "fraiseql-observers",
    },
  };
}

/** The T-SQL type name of an mssql recordset column. */
function columnType(column: { type?: unknown; udt?: { name?: unknown } }): string {
  const type = column.type as { declaration?: unknown } | undefined;
  if (type && typeof type.declaration === "string") return type.declaration;
  if (column.udt && typeof column.udt.name === "string") return column.udt.name.toLowerCase();
  return "unknown";
}

/** Connects with `mssql` (a `ConnectionPool` of one). */
export const connectMssql: SqlServerConnect = async (url) => {
  const mssql = await loadMssql();
  const { config, secrets } = await resolveSqlServerUrl(url, mssql);
  const pool = new mssql.ConnectionPool(readerConfig(config));
  // An idle connection that drops emits "error" on the pool; the next query reports it.
  pool.on("error", () => {});
  try {
    await pool.connect();
  } catch (error) {
    throw classifySqlServerError(error, secrets, "connect");
  }
  return {
    async query(text, params = {}, signal) {
      const request = pool.request();
      for (const [name, param] of Object.entries(params)) {
        if (param.type === "lsn") {
          request.input(name, mssql.VarBinary(10), Buffer.from(lsnToBytes(param.value)));
        } else if (param.type === "nvarchar") {
          request.input(name, mssql.NVarChar(128), param.value);
        } else {
          request.input(name, mssql.Int, param.value);
        }
      }
      const cancel = () => request.cancel();
      signal?.addEventListener("abort", cancel, { once: true });
      try {
        const result = await request.query(text);
        const recordset = result.recordset ?? [];
        const columns = Object.values(recordset.columns ?? {}).map((column) => ({
          name: column.name,
          type: columnType(column),
        }));
        return { rows: [...recordset] as Record<string, unknown>[], columns };
      } finally {
        signal?.removeEventListener("abort", cancel);
      }
    },
    async close() {
      await pool.close();
    },
    secrets,
  };
};
