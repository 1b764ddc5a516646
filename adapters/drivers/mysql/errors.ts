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

/** How the connection that failed was made. */
export interface MysqlErrorContext {
  /** The URL asked for TLS (any `ssl-mode` but `disabled`). */
  tls: boolean;
}

/**
 * A TLS handshake's failure. mysql2 replaces the TLS error's code with `HANDSHAKE_SSL_ERROR`,
 * so the certificate's failures are told apart by the TLS library's message (OpenSSL's and
 * BoringSSL's verify texts all name the certificate, its issuer, or a self-signed one), and a
 * name mismatch also by Node's `reason`.
 */
function tlsFailure(e: DriverError & { reason?: unknown }): SourceError {
  const detail = e.message ?? "TLS handshake failed";
  if (typeof e.reason === "string" || /Hostname\/IP does not match/i.test(detail)) {
    return new SourceError(
      "SOURCE_TLS_CERTIFICATE",
      `the source's certificate is not for the host in the URL (${typeof e.reason === "string" ? e.reason : detail}): connect with a host name the certificate holds (ssl-mode=verify-identity checks it), or use ssl-mode=verify-ca to check only that a trusted CA signed it`,
      false,
    );
  }
  if (/certificate|self[- ]signed|issuer/i.test(detail)) {
    return new SourceError(
      "SOURCE_TLS_CERTIFICATE",
      `the source's TLS certificate could not be verified (${detail}): give the CA that signed it in the variable the URL's ssl-ca-env names (its PEM text), or renew the server's certificate if it expired`,
      false,
    );
  }
  return new SourceError(
    "SOURCE_TLS_HANDSHAKE",
    `the TLS handshake with the source failed (${detail}): check the server's TLS setup (TLS 1.2 or later, its certificate and key)`,
    true,
  );
}

/** `error` (from mysql2 or zongji) as a `SourceError`. */
export function classifyMysqlError(
  error: unknown,
  context: MysqlErrorContext = { tls: false },
): SourceError {
  if (error instanceof SourceError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as DriverError;
  const code = e.code ?? "";
  const text = serverText(e);
  if (code === "HANDSHAKE_SSL_ERROR") return tlsFailure(e);
  if (code === "HANDSHAKE_NO_SSL_SUPPORT") {
    return new SourceError(
      "SOURCE_TLS_UNAVAILABLE",
      "the source's URL asks for TLS (ssl-mode) but the source does not offer it: enable TLS on the server (ssl_cert and ssl_key), or, on a private network only, remove ssl-mode from the URL",
      false,
    );
  }
  if (code === "ER_SECURE_TRANSPORT_REQUIRED" || e.errno === 3159) {
    return new SourceError(
      "SOURCE_TLS_REQUIRED",
      "the source accepts only TLS connections (require_secure_transport): add ?ssl-mode=verify-identity to the source's URL (with ssl-ca-env naming a variable that holds its CA certificate when the CA is not a public one)",
      false,
    );
  }
  if (
    code === "ER_ACCESS_DENIED_ERROR" ||
    code === "ER_DBACCESS_DENIED_ERROR" ||
    e.errno === 1045
  ) {
    // MariaDB refuses a connection without TLS to a server or user that requires it
    // (require_secure_transport, REQUIRE SSL) with this same error.
    const plaintext = context.tls
      ? ""
      : "; or, if the source accepts only TLS connections, add ?ssl-mode=verify-identity to the URL (MariaDB refuses a connection without TLS with this same error)";
    return new SourceError(
      "SOURCE_AUTH_FAILED",
      `the source refused the user name or password in the source's URL${text ? ` (${text})` : ""}: fix them${plaintext}`,
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
