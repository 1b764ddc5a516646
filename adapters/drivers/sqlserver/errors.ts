/**
 * Failures of the SQL Server reader as `SourceError`s with stable codes (docs/sqlserver.md lists
 * them) and messages saying what to change. The codes shared with the MySQL reader
 * (`SOURCE_AUTH_FAILED`, `SOURCE_UNREACHABLE`, `SOURCE_CONNECTION_LOST`, `SOURCE_PRIVILEGES`,
 * `SOURCE_POSITION_PURGED`, `SOURCE_FAILED`) mean the same for both kinds.
 *
 * Driver and server messages are outside text: they are quoted only after every secret of the
 * connection (password, the whole URL) has been cut out by value.
 */
import { SourceError } from "../../../src/ports/source.ts";

/** What mssql/tedious errors carry (ConnectionError / RequestError and their `originalError`). */
interface DriverError {
  code?: unknown;
  number?: unknown;
  message?: unknown;
  originalError?: unknown;
}

/** SQL Server error numbers this reader distinguishes (sys.messages). */
// 22981: sys.sp_cdc_get_captured_columns without SELECT on the captured columns (SQL Server 2008 R2
// documentation; later versions document 229).
const PERMISSION_NUMBERS = new Set([229, 230, 262, 297, 300, 916, 15247, 22981]);
/** 208: invalid object name; 313: "insufficient number of arguments", CDC's out-of-range LSN. */
export const OBJECT_MISSING = 208;
export const LSN_OUT_OF_RANGE = 313;

/** Connection-level driver codes (tedious) that retrying may fix. */
const NETWORK_CODES = new Set([
  "ESOCKET",
  "ETIMEOUT",
  "EINSTLOOKUP",
  "ECONNCLOSED",
  "ECONNRESET",
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ENOTOPEN",
]);

/** Cuts every secret out of `text` (longest first, so a password inside the URL goes too). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  const sorted = secrets.filter((secret) => secret.length >= 3).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join("[redacted]");
  return out;
}

function details(error: unknown): DriverError {
  return typeof error === "object" && error !== null ? (error as DriverError) : {};
}

/** The SQL Server error number of a failed query, if the server sent one. */
export function serverErrorNumber(error: unknown): number | undefined {
  const outer = details(error);
  if (typeof outer.number === "number") return outer.number;
  const inner = details(outer.originalError);
  return typeof inner.number === "number" ? inner.number : undefined;
}

function driverCode(error: unknown): string | undefined {
  const outer = details(error);
  if (typeof outer.code === "string") return outer.code;
  const inner = details(outer.originalError);
  return typeof inner.code === "string" ? inner.code : undefined;
}

function quoted(error: unknown, secrets: readonly string[]): string {
  const message = details(error).message;
  const text = typeof message === "string" ? message : String(error);
  const number = serverErrorNumber(error);
  return redact(`${number === undefined ? "" : `error ${number}: `}${text}`, secrets).slice(0, 500);
}

/**
 * A failure of connecting or querying as a `SourceError`. `SourceError`s pass through; `secrets`
 * are the connection's password and URL.
 */
export function classifySqlServerError(
  error: unknown,
  secrets: readonly string[],
  phase: "connect" | "query" = "query",
): SourceError {
  if (error instanceof SourceError) return error;
  const code = driverCode(error);
  const number = serverErrorNumber(error);
  const text = quoted(error, secrets);
  if (code === "ELOGIN" || number === 18456 || number === 4060) {
    if (number === 4060 || /cannot open database/i.test(text)) {
      return new SourceError(
        "SOURCE_AUTH_FAILED",
        `SQL Server would not open the database named in the source's URL for its login: check the database name and that the login has a user in it (${text})`,
        false,
      );
    }
    return new SourceError(
      "SOURCE_AUTH_FAILED",
      `SQL Server refused the login: check the user name and password in the source's URL, and that SQL Server authentication is enabled (${text})`,
      false,
    );
  }
  if (number !== undefined && PERMISSION_NUMBERS.has(number)) {
    return permissionDenied(text);
  }
  if (number === LSN_OUT_OF_RANGE) {
    return new SourceError(
      "SOURCE_POSITION_PURGED",
      `SQL Server no longer holds the changes at the source's position (the CDC cleanup job removed them): changes made meanwhile are lost to this source. Delete and create the source again, and keep changes longer (sys.sp_cdc_change_job @job_type = 'cleanup', @retention = minutes) (${text})`,
      false,
    );
  }
  if (phase === "query" && code === "ETIMEOUT") {
    return new SourceError(
      "SOURCE_FAILED",
      `a query to SQL Server timed out; reading resumes from the stored position (${text})`,
      true,
    );
  }
  if (
    phase === "query" &&
    (code === "ECONNCLOSED" || code === "ESOCKET" || code === "ECONNRESET")
  ) {
    return new SourceError(
      "SOURCE_CONNECTION_LOST",
      `the connection to SQL Server was lost; reading resumes from the stored position (${text})`,
      true,
    );
  }
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return new SourceError(
      "SOURCE_UNREACHABLE",
      `SQL Server cannot be reached (${code}): check the host and port in the source's URL, the firewall, and that SQL Server accepts TCP connections (${text})`,
      true,
    );
  }
  return new SourceError("SOURCE_FAILED", `reading SQL Server failed: ${text}`, true);
}

/** The login lacks a permission reading change data needs. */
export function permissionDenied(detail: string): SourceError {
  return new SourceError(
    "SOURCE_PRIVILEGES",
    `the source's login may not read the change data: it needs SELECT on every captured column of the tracked tables (db_datareader, or GRANT SELECT) and membership in each capture instance's gating role (sp_cdc_enable_table @role_name), or db_owner (${detail})`,
    false,
  );
}
