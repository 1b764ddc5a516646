/**
 * A MySQL or MariaDB source's URL, `mysql://user:password@host:port[/database][?options]` (or
 * `mariadb://`), and its TLS options (docs/sources.md#tls), in the names MySQL's own clients use:
 *
 * - `ssl-mode`: `disabled` (the default without options), `required` (encrypted, the server's
 *   certificate not checked), `verify-ca` (checked against the CAs), `verify-identity` (and its
 *   name against the host's: the recommended mode; the host must then be a DNS name). MySQL's
 *   spelling (`VERIFY_IDENTITY`) is accepted. `preferred` is refused: it falls back to plaintext
 *   whenever the server offers no TLS, which anyone on the path can arrange.
 * - `ssl-ca-env`: the environment variable holding the CA certificates (PEM) to check the
 *   server's certificate against, instead of the runtime's default trust store. Alone, it means
 *   `verify-identity`.
 *
 * Anything else is refused by name, never ignored. Pure (the Web `URL` only): the API validates a
 * URL with it, the MySQL driver connects with it. Messages never hold the URL, its password, or an
 * option's value.
 */
import { SourceError } from "../ports/source.ts";

/** The `ssl-mode` values, weakest first. */
export const MYSQL_SSL_MODES = ["disabled", "required", "verify-ca", "verify-identity"] as const;
export type MysqlSslMode = (typeof MYSQL_SSL_MODES)[number];

/** A parsed source URL. */
export interface MysqlUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string | null;
  sslMode: MysqlSslMode;
  /** The variable holding the CA certificates; null: the runtime's default trust store. */
  sslCaEnv: string | null;
}

export type MysqlUrlResult = { ok: true; url: MysqlUrl } | { ok: false; message: string };

const FORM = "mysql://user:password@host:3306[/database][?ssl-mode=verify-identity]";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
const OPTIONS = "ssl-mode and ssl-ca-env";
/** An IPv4 address as `URL` normalises it, or an IPv6 one (the brackets removed). */
const IP_ADDRESS = /^(\d{1,3}\.){3}\d{1,3}$|:/;

function optionName(key: string): string {
  const shown = key.length > 40 ? `${key.slice(0, 40)}...` : key;
  return JSON.stringify(shown);
}

function unknownOption(key: string): string {
  // Other clients' names for the same settings: say which one this URL uses.
  const hint = /ssl|tls/i.test(key)
    ? " (TLS is set with ssl-mode=disabled|required|verify-ca|verify-identity and ssl-ca-env=VARIABLE, the variable holding the CA certificates in PEM)"
    : "";
  return `unknown option ${optionName(key)}: a source URL takes only ${OPTIONS}${hint}`;
}

function sslMode(value: string): MysqlSslMode | string {
  const mode = value.trim().toLowerCase().replaceAll("_", "-");
  if ((MYSQL_SSL_MODES as readonly string[]).includes(mode)) return mode as MysqlSslMode;
  if (mode === "preferred") {
    return "ssl-mode=preferred is refused: it connects without encryption whenever the server offers no TLS, which anyone on the path can arrange; use verify-identity (recommended), verify-ca, or required";
  }
  return `ssl-mode must be one of ${MYSQL_SSL_MODES.join(", ")} (verify-identity recommended)`;
}

/** `text` parsed, or why it is not a source URL (a message holding nothing of it). */
export function safeParseMysqlUrl(text: string): MysqlUrlResult {
  const fail = (message: string): MysqlUrlResult => ({ ok: false, message });
  if (!URL.canParse(text)) return fail(`cannot be parsed as a URL: ${FORM}`);
  const parsed = new URL(text);
  if (parsed.protocol !== "mysql:" && parsed.protocol !== "mariadb:") {
    return fail(`must start with mysql:// or mariadb://: ${FORM}`);
  }
  if (parsed.hash !== "") return fail(`must not hold a fragment (#...): ${FORM}`);
  let mode: MysqlSslMode | null = null;
  let caEnv: string | null = null;
  const seen = new Set<string>();
  for (const [key, value] of parsed.searchParams) {
    if (seen.has(key)) return fail(`option ${optionName(key)} is given twice`);
    seen.add(key);
    if (key === "ssl-mode") {
      const found = sslMode(value);
      if (!(MYSQL_SSL_MODES as readonly string[]).includes(found)) return fail(found);
      mode = found as MysqlSslMode;
    } else if (key === "ssl-ca-env") {
      if (!ENV_NAME.test(value)) {
        return fail(
          "ssl-ca-env must be an environment variable name (the variable holding the CA certificates in PEM)",
        );
      }
      caEnv = value;
    } else {
      return fail(unknownOption(key));
    }
  }
  if (caEnv !== null && (mode === "disabled" || mode === "required")) {
    return fail(
      `ssl-ca-env is used only to check the server's certificate: with ssl-mode=${mode} it would be ignored; use ssl-mode=verify-identity (or verify-ca)`,
    );
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const resolvedMode = mode ?? (caEnv !== null ? "verify-identity" : "disabled");
  if (resolvedMode === "verify-identity" && IP_ADDRESS.test(host)) {
    // mysql2 (3.26) gives TLS no server name for an IP address, and Node (20) then checks the
    // certificate against "localhost" instead: any certificate naming localhost would pass.
    return fail(
      `ssl-mode=verify-identity${mode === null ? " (what ssl-ca-env alone means)" : ""} checks the certificate's name against the URL's host, which must then be a DNS name: the MySQL driver cannot check an IP address. Connect by the name the certificate holds, or use ssl-mode=verify-ca`,
    );
  }
  try {
    return {
      ok: true,
      url: {
        host: decodeURIComponent(host),
        port: parsed.port ? Number(parsed.port) : 3306,
        user: decodeURIComponent(parsed.username),
        password: decodeURIComponent(parsed.password),
        database: parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : null,
        sslMode: resolvedMode,
        sslCaEnv: caEnv,
      },
    };
  } catch {
    return fail("holds an invalid %-escape in its user, password or database: encode % as %25");
  }
}

/** `text` parsed; throws a non-transient `SourceError` `SOURCE_URL_INVALID` saying what is wrong. */
export function parseMysqlUrl(text: string): MysqlUrl {
  const result = safeParseMysqlUrl(text);
  if (!result.ok) {
    throw new SourceError("SOURCE_URL_INVALID", `the source's URL: ${result.message}`, false);
  }
  return result.url;
}
