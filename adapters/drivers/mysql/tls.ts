/**
 * The TLS settings of a MySQL/MariaDB source's connections, from its URL's `ssl-mode` and
 * `ssl-ca-env` (src/sources/mysql-url.ts), as mysql2's `ssl` option. mysql2 checks the host name
 * only when `verifyIdentity` is set, so it is always given explicitly. The same object goes to
 * every connection the reader opens (checks, column lookups, and zongji's two), so none of them
 * can end up less protected than the others. CA certificates come from the variable `ssl-ca-env`
 * names (PEM; one or several), else the runtime's default trust store.
 * https://sidorares.github.io/node-mysql2/docs/documentation/ssl
 */
import { X509Certificate } from "node:crypto";
import { SourceError } from "../../../src/ports/source.ts";
import type { MysqlUrl } from "../../../src/sources/mysql-url.ts";

/** mysql2's `ssl` option, as this reader sets it. */
export interface MysqlTlsOptions {
  rejectUnauthorized: boolean;
  verifyIdentity: boolean;
  ca?: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of `pem` (the variable `name`'s value), or a `SourceError` saying what is wrong. */
function caCertificates(name: string, pem: string): string {
  // A variable set where newlines cannot be written may hold them as the two characters `\n`.
  const text = pem.includes("\n") ? pem : pem.replaceAll("\\n", "\n");
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  const invalid = (why: string) =>
    new SourceError(
      "SOURCE_TLS_CA_INVALID",
      `environment variable ${name} (ssl-ca-env) ${why}: set it to the PEM text of the CA certificates that signed the source's certificate (-----BEGIN CERTIFICATE----- ...)`,
      false,
    );
  if (blocks.length === 0) throw invalid("holds no PEM certificate");
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw invalid(
        `holds a certificate that cannot be read (number ${index + 1} of ${blocks.length})`,
      );
    }
  });
  return `${blocks.join("\n")}\n`;
}

/** mysql2's `ssl` for `url`, or undefined for `ssl-mode=disabled`. */
export function tlsOptions(
  url: MysqlUrl,
  readEnv: (name: string) => string | undefined,
): MysqlTlsOptions | undefined {
  switch (url.sslMode) {
    case "disabled":
      return undefined;
    case "required":
      return { rejectUnauthorized: false, verifyIdentity: false };
    case "verify-ca":
    case "verify-identity": {
      const ssl: MysqlTlsOptions = {
        rejectUnauthorized: true,
        verifyIdentity: url.sslMode === "verify-identity",
      };
      if (url.sslCaEnv !== null) {
        const pem = readEnv(url.sslCaEnv);
        if (pem === undefined) {
          throw new SourceError(
            "SOURCE_TLS_CA_MISSING",
            `environment variable ${url.sslCaEnv} (the URL's ssl-ca-env) is not set on this server: set it to the PEM text of the source's CA certificates`,
            false,
          );
        }
        ssl.ca = caCertificates(url.sslCaEnv, pem);
      }
      return ssl;
    }
  }
}
