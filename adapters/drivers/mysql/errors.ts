/**
 * MySQL and MariaDB failures as `SourceError`s with stable codes (docs/sources.md lists them) and
 * messages that say what to change. Built from the error's code and number only: a driver's
 * message may quote the host, never the URL (the supervisor redacts the URL again anyway).
 */
import { SourceError } from "../../../src/ports/source.ts";

interface DriverError {
  code?: string;
  errno?: number;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

const NETWORK = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
]);
const DROPPED = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "ECONNRESET",
  "EPIPE",
  "ER_SERVER_SHUTDOWN",
  "ER_CONNECTION_KILLED",
  "PROTOCOL_SEQUENCE_TIMEOUT",
]);

/** The error's text from the server, if it sent one (never holds the password). */
function serverText(error: DriverError): string {
  return error.sqlMessage ?? "";
}

/** `error` (from mysql2 or zongji) as a `SourceError`. */
export function classifyMysqlError(error: unknown): SourceError {
  if (error instanceof SourceError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as DriverError;
  const code = e.code ?? "";
  const text = serverText(e);
  if (
    code === "ER_ACCESS_DENIED_ERROR" ||
    code === "ER_DBACCESS_DENIED_ERROR" ||
    e.errno === 1045
  ) {
    return new SourceError(
      "SOURCE_AUTH_FAILED",
      `the source refused the user name or password in the source's URL${text ? ` (${text})` : ""}`,
      false,
    );
  }
  if (code === "ER_SPECIFIC_ACCESS_DENIED_ERROR" || e.errno === 1227) {
    return new SourceError(
      "SOURCE_PRIVILEGES",
      `the source's user lacks a privilege the binlog needs: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO the user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR), and SELECT on the tracked tables${text ? ` (${text})` : ""}`,
      false,
    );
  }
  if (e.errno === 1236 || code === "ER_MASTER_FATAL_ERROR_READING_BINLOG") {
    return new SourceError(
      "SOURCE_POSITION_PURGED",
      `the source no longer has the binlog at the stored position (purged or expired): delete and create the source again to start from now, and keep binlogs longer (binlog_expire_logs_seconds)${text ? ` (${text})` : ""}`,
      false,
    );
  }
  if (NETWORK.has(code)) {
    return new SourceError(
      "SOURCE_UNREACHABLE",
      `the source cannot be reached (${code}): check its host and port, and that it is running`,
      true,
    );
  }
  if (DROPPED.has(code) || e.fatal === true) {
    return new SourceError(
      "SOURCE_CONNECTION_LOST",
      `the connection to the source was lost (${code || "closed"}); reading resumes from the stored position`,
      true,
    );
  }
  const detail = text || (code ? code : e.message ? e.message : String(error));
  return new SourceError("SOURCE_FAILED", `reading the binlog failed: ${detail}`, true);
}
