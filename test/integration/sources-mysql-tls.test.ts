/**
 * MySQL sources over TLS, against one real MariaDB of this file's own that accepts nothing else
 * (`--require-secure-transport`, a throwaway CA; its certificate names only `localhost`): a
 * source created through `/api/sources` with `ssl-mode=verify-identity` and its CA in
 * `ssl-ca-env` delivers inserts and updates into the change log (the checks' connection and
 * zongji's binlog connection both encrypted: the server refuses any other); verify-ca and
 * required connect by an address the certificate does not name, verify-identity refuses an
 * address, and (the server restarted with a certificate naming only its address) fails on a name
 * the certificate does not hold; a
 * wrong CA gives SOURCE_TLS_CERTIFICATE on the source; no TLS gives a refusal pointing at
 * ssl-mode; the API refuses unknown options and refused variables; the URL and the CA never
 * appear in a response or a stored error.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlReader } from "../../adapters/drivers/mysql/index.ts";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { SourceError } from "../../src/ports/source.ts";
import { createSourceSupervisor, type SourceSupervisor } from "../../src/sources/supervisor.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { BINLOG_ROW, type MariaDbServer, startMariaDb } from "../support/mariadb-server.ts";
import { eventually } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";
import { makeTestCertificates } from "../support/tls-certs.ts";

const ADMIN = "admin-token-for-the-tls-sources-0123456789";
const SOURCE_KEY = "source-key-for-the-tls-sources-test-0123456789";
const PASSWORD = "tls-s3cret:pass/word";
const CA_ENV = "OBSERVERS_SECRET_MARIA_CA";
const WRONG_CA_ENV = "OBSERVERS_SECRET_WRONG_CA";

let maria: MariaDbServer;
let db: TestDatabase;
/** The user's URL by 127.0.0.1 (not in the certificate) and by localhost (in it), no options. */
let byAddress: string;
let byName: string;
let caPem: string;
let wrongCaPem: string;
let certDir: string;
const env: Record<string, string> = {};

beforeAll(async () => {
  [maria, db] = await Promise.all([
    startMariaDb(undefined, { tls: "required", tlsNames: ["localhost"] }),
    createTestDatabase("sources_mysql_tls"),
  ]);
  byAddress = await maria.createUser("observer", PASSWORD);
  byName = byAddress.replace("@127.0.0.1:", "@localhost:");
  caPem = maria.caPem ?? "";
  certDir = mkdtempSync(join(tmpdir(), "observers-wrong-ca-"));
  wrongCaPem = makeTestCertificates(certDir, "wrong").caPem;
  env[CA_ENV] = caPem;
  env[WRONG_CA_ENV] = wrongCaPem;
  await maria.query(
    "CREATE DATABASE app; CREATE TABLE app.orders (id BIGINT PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(50))",
  );
}, 60_000);
afterAll(async () => {
  rmSync(certDir, { recursive: true, force: true });
  await Promise.all([maria?.close(), db?.drop()]);
});

/** Nothing of the URL, its password or the CA. */
function expectNoSecret(text: string) {
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(encodeURIComponent(PASSWORD));
  expect(text).not.toContain(byAddress);
  expect(text).not.toContain(caPem.split("\n")[1] ?? "-");
}

/** Runs a reader until it fails (the error) or records its start (then stops). */
async function readOnce(url: string): Promise<SourceError | null> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10_000);
  try {
    await createMysqlReader().run({
      url,
      readEnv: (name) => env[name],
      tables: [{ table: "app.orders", entityType: "Order" }],
      position: null,
      start: "now",
      signal: abort.signal,
      logger: silentLogger,
      status: () => {},
      commit: async () => abort.abort(),
    });
    // Aborted by the timer rather than by the first commit: it never read.
    expect(abort.signal.aborted).toBe(true);
    return null;
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    return error;
  } finally {
    clearTimeout(timer);
  }
}

describe("a reader's TLS modes against a server that accepts only TLS", () => {
  it("verify-identity by a name the certificate holds reads", async () => {
    expect(await readOnce(`${byName}?ssl-mode=verify-identity&ssl-ca-env=${CA_ENV}`)).toBeNull();
  });

  it("verify-identity by an IP address: refused, SOURCE_URL_INVALID (mysql2 would check the certificate against localhost)", async () => {
    const error = await readOnce(`${byAddress}?ssl-mode=verify-identity&ssl-ca-env=${CA_ENV}`);
    expect(error).toMatchObject({ code: "SOURCE_URL_INVALID", transient: false });
    expect(error?.message).toContain("verify-ca");
  });

  it("verify-ca and required by that address read (the name is not checked)", async () => {
    expect(await readOnce(`${byAddress}?ssl-mode=verify-ca&ssl-ca-env=${CA_ENV}`)).toBeNull();
    expect(await readOnce(`${byAddress}?ssl-mode=required`)).toBeNull();
  });

  it("the runtime's default trust store does not know a private CA: SOURCE_TLS_CERTIFICATE, pointing at ssl-ca-env", async () => {
    const error = await readOnce(`${byName}?ssl-mode=verify-identity`);
    expect(error).toMatchObject({ code: "SOURCE_TLS_CERTIFICATE", transient: false });
    expect(error?.message).toContain("ssl-ca-env");
  });

  it("without TLS: refused, the message pointing at ssl-mode (MariaDB answers it as a denied login)", async () => {
    const error = await readOnce(byAddress);
    expect(error?.code).toBe("SOURCE_AUTH_FAILED");
    expect(error?.message).toContain("?ssl-mode=verify-identity");
    expectNoSecret(error?.message ?? "");
  });
});

describe("sources over TLS through /api/sources and the supervisor", () => {
  const supervisors: SourceSupervisor[] = [];
  afterAll(async () => {
    await Promise.all(supervisors.map((s) => s.stop()));
  });
  const api = () =>
    createObserversApi({
      sql: db.client,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
      sources: { kinds: ["mysql"], sourceKey: SOURCE_KEY },
    });
  const body = (name: string, url: string) => ({
    name,
    kind: "mysql",
    url,
    tables: [{ table: "app.orders", entity_type: "Order" }],
  });

  async function createSource(name: string, url: string): Promise<string> {
    const created = await apiClient(api(), ADMIN)("POST", "/api/sources", body(name, url));
    const text = await created.text();
    expect(created.status, text).toBe(201);
    expectNoSecret(text);
    return (JSON.parse(text) as { id: string }).id;
  }

  async function state(id: string) {
    const response = await apiClient(api(), ADMIN)("GET", `/api/sources/${id}`);
    const text = await response.text();
    expectNoSecret(text);
    return (
      JSON.parse(text) as {
        state: {
          connected: boolean;
          position: unknown;
          last_error: { code: string; message: string } | null;
        };
      }
    ).state;
  }

  beforeAll(async () => {
    const supervisor = createSourceSupervisor({
      sql: db.client,
      readers: () => createMysqlReader(),
      clock: systemClock,
      logger: silentLogger,
      env,
      policy: DEFAULT_ACTION_POLICY,
      sourceKey: SOURCE_KEY,
      pollIntervalMs: 100,
      leaseMs: 3_000,
      misconfiguredRetryMs: 60_000,
    });
    supervisors.push(supervisor);
    await supervisor.start();
  });

  it("verify-identity with the right CA delivers inserts and updates", async () => {
    const id = await createSource(
      "tls-shop",
      `${byName}?ssl-mode=verify-identity&ssl-ca-env=${CA_ENV}`,
    );
    await eventually(async () => {
      const current = await state(id);
      return current.connected && current.position !== null ? true : undefined;
    }, "the source connected over TLS");
    await maria.query("INSERT INTO app.orders VALUES (1, 9.50, 'new')");
    await maria.query("UPDATE app.orders SET total = 12.25, note = 'paid' WHERE id = 1");
    const rows = await eventually(async () => {
      const found = await db.sql<{ modification_type: string; object_data: string }[]>`
        SELECT modification_type, object_data::text AS object_data
        FROM core.tb_entity_change_log WHERE object_type = 'Order' AND object_id = '1'
        ORDER BY pk_entity_change_log`;
      return found.length >= 2 ? found : undefined;
    }, "the insert and the update");
    expect(rows.map((row) => row.modification_type)).toEqual(["INSERT", "UPDATE"]);
    expect(JSON.parse(rows[1]?.object_data ?? "{}")).toMatchObject({
      op: "u",
      before: { id: 1, total: "9.50", note: "new" },
      after: { id: 1, total: "12.25", note: "paid" },
    });
    expect((await state(id)).last_error).toBeNull();
  }, 60_000);

  it("a wrong CA: SOURCE_TLS_CERTIFICATE on the source, nothing secret in it", async () => {
    const id = await createSource(
      "tls-wrong-ca",
      `${byName}?ssl-mode=verify-identity&ssl-ca-env=${WRONG_CA_ENV}`,
    );
    const failed = await eventually(async () => {
      const current = await state(id);
      return current.last_error !== null ? current : undefined;
    }, "the error on the source");
    expect(failed.connected).toBe(false);
    expect(failed.last_error?.code).toBe("SOURCE_TLS_CERTIFICATE");
    expect(failed.last_error?.message).toContain("ssl-ca-env");
    const [row] = await db.sql<{ message: string }[]>`
      SELECT last_error_message AS message FROM core.tb_source WHERE id = ${id}::uuid`;
    expectNoSecret(String(row?.message));
    expect(String(row?.message)).not.toContain(wrongCaPem.split("\n")[1] ?? "-");
  }, 30_000);

  it("a CA variable that is not set: SOURCE_TLS_CA_MISSING, naming it", async () => {
    const id = await createSource(
      "tls-unset-ca",
      `${byName}?ssl-ca-env=OBSERVERS_SECRET_NOT_SET_CA`,
    );
    const failed = await eventually(async () => {
      const current = await state(id);
      return current.last_error !== null ? current : undefined;
    }, "the error on the source");
    expect(failed.last_error).toMatchObject({
      code: "SOURCE_TLS_CA_MISSING",
      message: expect.stringContaining("OBSERVERS_SECRET_NOT_SET_CA"),
    });
  }, 30_000);

  it("refuses unknown options (400 naming them), preferred, and a CA variable the secret rules refuse (422)", async () => {
    const call = apiClient(api(), ADMIN);
    const unknown = await problem(
      await call("POST", "/api/sources", body("tls-bad", `${byName}?sslmode=require`)),
      400,
    );
    expect(unknown.issues).toMatchObject([
      { path: "url", message: expect.stringContaining('unknown option "sslmode"') },
    ]);
    expectNoSecret(JSON.stringify(unknown));
    const preferred = await problem(
      await call("POST", "/api/sources", body("tls-bad", `${byName}?ssl-mode=preferred`)),
      400,
    );
    expect(preferred.issues?.[0]?.message).toContain("ssl-mode=preferred is refused");
    const server = await problem(
      await call("POST", "/api/sources", body("tls-bad", `${byName}?ssl-ca-env=DATABASE_URL`)),
      422,
    );
    expect(server).toMatchObject({
      code: "SECRET_NOT_ALLOWED",
      issues: [{ path: "url", variable: "DATABASE_URL" }],
    });
    expectNoSecret(JSON.stringify(server));
    const [count] = await db.sql`SELECT count(*)::int AS n FROM core.tb_source
      WHERE name = 'tls-bad'`;
    expect(count?.n).toBe(0);
  });
});

describe("a certificate issued for another name (last: it restarts the server)", () => {
  it("verify-identity fails with SOURCE_TLS_CERTIFICATE, verify-ca reads", async () => {
    // The server's certificate now names only 127.0.0.1, not localhost (later options win).
    const other = makeTestCertificates(certDir, "address-only", ["127.0.0.1"]);
    execFileSync("chown", ["-R", "mysql:mysql", certDir]);
    execFileSync("chmod", ["755", certDir]);
    await maria.restart([
      ...BINLOG_ROW,
      `--ssl-ca=${other.caFile}`,
      `--ssl-cert=${other.certFile}`,
      `--ssl-key=${other.keyFile}`,
    ]);
    env.OBSERVERS_SECRET_ADDRESS_ONLY_CA = other.caPem;
    const error = await readOnce(
      `${byName}?ssl-mode=verify-identity&ssl-ca-env=OBSERVERS_SECRET_ADDRESS_ONLY_CA`,
    );
    expect(error).toMatchObject({ code: "SOURCE_TLS_CERTIFICATE", transient: false });
    expect(error?.message).toContain("not for the host");
    expect(error?.message).toContain("verify-ca");
    expectNoSecret(error?.message ?? "");
    expect(
      await readOnce(`${byName}?ssl-mode=verify-ca&ssl-ca-env=OBSERVERS_SECRET_ADDRESS_ONLY_CA`),
    ).toBeNull();
  }, 60_000);
});
