/**
 * Throwaway certificates for TLS tests, made with the `openssl` CLI (/usr/bin/openssl; missing,
 * the test fails loudly): a CA, and a server certificate it signs for `names` (DNS names and IP
 * addresses, as subjectAltName), valid for a day. EC keys: fast to generate.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

const OPENSSL = process.env.OPENSSL_BIN ?? "openssl";

/** A CA and, when asked, a server certificate it signed: file paths, and the CA's PEM text. */
export interface TestCertificates {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync(OPENSSL, args, { stdio: "pipe" });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed (${OPENSSL}): ${String(error)}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes a CA named `label` and a server certificate for `names` into `dir` (which must exist). */
export function makeTestCertificates(
  dir: string,
  label: string,
  names: readonly string[] = ["localhost", "127.0.0.1"],
): TestCertificates {
  const caFile = join(dir, `${label}-ca.pem`);
  const caKey = join(dir, `${label}-ca.key`);
  const keyFile = join(dir, `${label}-server.key`);
  const csr = join(dir, `${label}-server.csr`);
  const certFile = join(dir, `${label}-server.pem`);
  const ext = join(dir, `${label}-server.ext`);
  const caName = `/CN=fraiseql-observers test CA ${label}`;
  openssl(["req", "-x509", ...EC, "-keyout", caKey, "-out", caFile, "-days", "1", "-subj", caName]);
  openssl([
    "req",
    ...EC,
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    `/CN=${names[0] ?? "localhost"}`,
  ]);
  const alt = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(",");
  writeFileSync(ext, `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\n`);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "1",
    "-extfile",
    ext,
  ]);
  return { caPem: readFileSync(caFile, "utf8"), caFile, certFile, keyFile };
}
