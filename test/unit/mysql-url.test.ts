/**
 * A MySQL source URL's options (src/sources/mysql-url.ts) and what the driver makes of them
 * (adapters/drivers/mysql/tls.ts: mysql2's `ssl`; errors.ts: TLS failures' codes). Against a real
 * TLS MariaDB: test/integration/sources-mysql-tls.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyMysqlError } from "../../adapters/drivers/mysql/errors.ts";
import { connectionOptions } from "../../adapters/drivers/mysql/mysql-reader.ts";
import { tlsOptions } from "../../adapters/drivers/mysql/tls.ts";
import { parseMysqlUrl, safeParseMysqlUrl } from "../../src/sources/mysql-url.ts";
import { makeTestCertificates } from "../support/tls-certs.ts";

const BASE = "mysql://reader:s3cret%40pw@db.example.com:3307/shop";

function message(url: string): string {
  const result = safeParseMysqlUrl(url);
  if (result.ok) throw new Error("expected a refusal");
  // Nothing of the URL's secrets in the message.
  expect(result.message).not.toContain("s3cret");
  return result.message;
}

describe("safeParseMysqlUrl", () => {
  it("reads the parts, without options: no TLS (as before options existed)", () => {
    expect(parseMysqlUrl(BASE)).toEqual({
      host: "db.example.com",
      port: 3307,
      user: "reader",
      password: "s3cret@pw",
      database: "shop",
      sslMode: "disabled",
      sslCaEnv: null,
    });
    expect(parseMysqlUrl("mariadb://u:p@[::1]")).toMatchObject({
      host: "::1",
      port: 3306,
      database: null,
    });
  });

  it("takes each ssl-mode, in MySQL's spelling too", () => {
    for (const [value, mode] of [
      ["disabled", "disabled"],
      ["required", "required"],
      ["verify-ca", "verify-ca"],
      ["verify-identity", "verify-identity"],
      ["VERIFY_IDENTITY", "verify-identity"],
      ["Verify_CA", "verify-ca"],
      ["REQUIRED", "required"],
    ]) {
      expect(parseMysqlUrl(`${BASE}?ssl-mode=${value}`).sslMode).toBe(mode);
    }
  });

  it("takes ssl-ca-env, which alone means verify-identity", () => {
    expect(parseMysqlUrl(`${BASE}?ssl-ca-env=OBSERVERS_SECRET_CA`)).toMatchObject({
      sslMode: "verify-identity",
      sslCaEnv: "OBSERVERS_SECRET_CA",
    });
    expect(
      parseMysqlUrl(`${BASE}?ssl-mode=verify-ca&ssl-ca-env=OBSERVERS_SECRET_CA`),
    ).toMatchObject({ sslMode: "verify-ca", sslCaEnv: "OBSERVERS_SECRET_CA" });
  });

  it("refuses preferred, saying why (it can fall back to plaintext)", () => {
    expect(message(`${BASE}?ssl-mode=preferred`)).toContain("without encryption");
    expect(message(`${BASE}?ssl-mode=PREFERRED`)).toContain("verify-identity");
  });

  it("refuses an unknown mode, listing the modes, without echoing the value", () => {
    const text = message(`${BASE}?ssl-mode=s3cret-mode`);
    expect(text).toBe(
      "ssl-mode must be one of disabled, required, verify-ca, verify-identity (verify-identity recommended)",
    );
    expect(message(`${BASE}?ssl-mode=`)).toContain("ssl-mode must be one of");
  });

  it("refuses unknown options by name, with a hint for other clients' TLS names", () => {
    expect(message(`${BASE}?charset=utf8`)).toBe(
      'unknown option "charset": a source URL takes only ssl-mode and ssl-ca-env',
    );
    for (const key of ["ssl", "sslmode", "ssl_mode", "sslrootcert", "ssl-ca", "tls"]) {
      const text = message(`${BASE}?${key}=true`);
      expect(text).toContain(`unknown option "${key}"`);
      expect(text).toContain("ssl-mode=disabled|required|verify-ca|verify-identity");
    }
    expect(message(`${BASE}?ssl-mode=required&connectTimeout=5`)).toContain('"connectTimeout"');
  });

  it("refuses an option given twice, a fragment, a bad variable name", () => {
    expect(message(`${BASE}?ssl-mode=required&ssl-mode=verify-ca`)).toBe(
      'option "ssl-mode" is given twice',
    );
    expect(message(`${BASE}#frag`)).toContain("fragment");
    expect(message(`${BASE}?ssl-ca-env=not-a-name`)).toContain(
      "ssl-ca-env must be an environment variable name",
    );
  });

  it("refuses ssl-ca-env where it would be ignored (disabled, required)", () => {
    for (const mode of ["disabled", "required"]) {
      expect(message(`${BASE}?ssl-mode=${mode}&ssl-ca-env=OBSERVERS_SECRET_CA`)).toContain(
        `with ssl-mode=${mode} it would be ignored`,
      );
    }
  });

  it("refuses verify-identity by an IP address (the driver would check another name)", () => {
    for (const host of ["10.0.0.5", "[::1]", "[2001:db8::5]"]) {
      expect(message(`mysql://u:s3cret@${host}:3306?ssl-mode=verify-identity`)).toContain(
        "must then be a DNS name",
      );
    }
    expect(message("mysql://u:s3cret@10.0.0.5?ssl-ca-env=OBSERVERS_SECRET_CA")).toContain(
      "(what ssl-ca-env alone means)",
    );
    expect(parseMysqlUrl("mysql://u:p@10.0.0.5?ssl-mode=verify-ca").sslMode).toBe("verify-ca");
    expect(parseMysqlUrl("mysql://u:p@10.0.0.5?ssl-mode=required").sslMode).toBe("required");
    expect(parseMysqlUrl("mysql://u:p@db10.internal?ssl-mode=verify-identity").host).toBe(
      "db10.internal",
    );
  });

  it("refuses other schemes and bad escapes; the throwing form says SOURCE_URL_INVALID", () => {
    expect(message("postgres://u:s3cret@h/db")).toContain("mysql://");
    expect(message("mysql://u:s3cret%zz@h/db")).toContain("%-escape");
    expect(() => parseMysqlUrl(`${BASE}?x=1`)).toThrow(
      expect.objectContaining({ code: "SOURCE_URL_INVALID", transient: false }),
    );
  });
});

describe("tlsOptions and connectionOptions", () => {
  let dir: string;
  let caPem: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "observers-mysql-url-"));
    caPem = makeTestCertificates(dir, "unit").caPem;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const env =
    (values: Record<string, string>) =>
    (name: string): string | undefined =>
      values[name];
  const tls = (url: string, values: Record<string, string> = {}) =>
    tlsOptions(parseMysqlUrl(url), env(values));

  it("sets mysql2's checks for each mode, the host name check always explicit", () => {
    expect(tls(BASE)).toBeUndefined();
    expect(tls(`${BASE}?ssl-mode=required`)).toEqual({
      rejectUnauthorized: false,
      verifyIdentity: false,
    });
    expect(tls(`${BASE}?ssl-mode=verify-ca`)).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: false,
    });
    expect(tls(`${BASE}?ssl-mode=verify-identity`)).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: true,
    });
  });

  it("reads the CA from the variable, with escaped newlines too", () => {
    const url = `${BASE}?ssl-ca-env=OBSERVERS_SECRET_CA`;
    const ssl = tls(url, { OBSERVERS_SECRET_CA: caPem });
    expect(ssl).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
    expect(ssl?.ca).toContain("-----BEGIN CERTIFICATE-----");
    const flattened = caPem.trim().replaceAll("\n", "\\n");
    expect(tls(url, { OBSERVERS_SECRET_CA: flattened })?.ca).toBe(ssl?.ca);
    // Two certificates (a bundle) are both kept.
    const bundle = tls(url, { OBSERVERS_SECRET_CA: `${caPem}\n${caPem}` })?.ca ?? "";
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it("fails with SOURCE_TLS_CA_MISSING / SOURCE_TLS_CA_INVALID, naming the variable", () => {
    const url = `${BASE}?ssl-ca-env=OBSERVERS_SECRET_CA`;
    expect(() => tls(url)).toThrow(
      expect.objectContaining({
        code: "SOURCE_TLS_CA_MISSING",
        message: expect.stringContaining("OBSERVERS_SECRET_CA"),
        transient: false,
      }),
    );
    expect(() => tls(url, { OBSERVERS_SECRET_CA: "not a certificate" })).toThrow(
      expect.objectContaining({
        code: "SOURCE_TLS_CA_INVALID",
        message: expect.stringContaining("holds no PEM certificate"),
      }),
    );
    const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
    expect(() => tls(url, { OBSERVERS_SECRET_CA: `${caPem}${broken}` })).toThrow(
      expect.objectContaining({
        code: "SOURCE_TLS_CA_INVALID",
        message: expect.stringContaining("number 2 of 2"),
      }),
    );
  });

  it("gives the same ssl object to every connection made from the options", () => {
    const options = connectionOptions(`${BASE}?ssl-ca-env=OBSERVERS_SECRET_CA`, (name) =>
      name === "OBSERVERS_SECRET_CA" ? caPem : undefined,
    );
    expect(options).toMatchObject({
      host: "db.example.com",
      port: 3307,
      database: "shop",
      ssl: { rejectUnauthorized: true, verifyIdentity: true, ca: expect.any(String) },
    });
    expect("ssl" in connectionOptions(BASE, () => undefined)).toBe(false);
  });
});

describe("classifyMysqlError: TLS failures", () => {
  const tlsError = (text: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(text), { code: "HANDSHAKE_SSL_ERROR", fatal: true, ...extra });

  it("an untrusted or expired certificate: SOURCE_TLS_CERTIFICATE, pointing at ssl-ca-env", () => {
    for (const text of [
      "self-signed certificate in certificate chain",
      "unable to verify the first certificate",
      "unable to get local issuer certificate",
      "certificate has expired",
    ]) {
      const error = classifyMysqlError(tlsError(text), { tls: true });
      expect(error).toMatchObject({ code: "SOURCE_TLS_CERTIFICATE", transient: false });
      expect(error.message).toContain(text);
      expect(error.message).toContain("ssl-ca-env");
    }
  });

  it("a certificate for another name: SOURCE_TLS_CERTIFICATE, pointing at the host or verify-ca", () => {
    const error = classifyMysqlError(
      tlsError(
        "Hostname/IP does not match certificate's altnames: IP: 10.0.0.5 is not in the cert's list: ",
        {
          reason: "IP: 10.0.0.5 is not in the cert's list: ",
        },
      ),
      { tls: true },
    );
    expect(error.code).toBe("SOURCE_TLS_CERTIFICATE");
    expect(error.message).toContain("not for the host");
    expect(error.message).toContain("verify-ca");
  });

  it("another handshake failure, no TLS on the server, TLS required by the server", () => {
    expect(classifyMysqlError(tlsError("unsupported protocol"), { tls: true })).toMatchObject({
      code: "SOURCE_TLS_HANDSHAKE",
      transient: true,
    });
    expect(
      classifyMysqlError(
        Object.assign(new Error("Server does not support secure connection"), {
          code: "HANDSHAKE_NO_SSL_SUPPORT",
          fatal: true,
        }),
        { tls: true },
      ),
    ).toMatchObject({ code: "SOURCE_TLS_UNAVAILABLE", transient: false });
    // MySQL 8's refusal of a connection without TLS.
    expect(
      classifyMysqlError({ code: "ER_SECURE_TRANSPORT_REQUIRED", errno: 3159, fatal: true }),
    ).toMatchObject({
      code: "SOURCE_TLS_REQUIRED",
      message: expect.stringContaining("ssl-mode=verify-identity"),
    });
  });

  it("access denied without TLS also suggests TLS (MariaDB's answer to a TLS-only server)", () => {
    const denied = { code: "ER_ACCESS_DENIED_ERROR", errno: 1045, sqlMessage: "Access denied" };
    expect(classifyMysqlError(denied).message).toContain("ssl-mode=verify-identity");
    expect(classifyMysqlError(denied, { tls: true }).message).not.toContain("ssl-mode");
    expect(classifyMysqlError(denied).code).toBe("SOURCE_AUTH_FAILED");
  });
});
