/**
 * The MySQL/MariaDB source against a real MariaDB of this file's own (binlog on, ROW, FULL): each
 * misconfiguration's code and message (binlog off, STATEMENT format, MINIMAL row image, a user
 * without REPLICATION grants, a wrong password, an unreachable host, a purged position), the
 * supervisor writing changes and positions into a real PostgreSQL (two supervisors on one source:
 * one reads, nothing is written twice), and `/api/sources` (admin only, the URL never shown,
 * refusals). End to end through a server and webhooks: test/e2e/sources-mysql.test.ts.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlReader } from "../../adapters/drivers/mysql/index.ts";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { createConsoleLogger, silentLogger } from "../../src/ports/logger.ts";
import { SourceError, type SourceTransaction } from "../../src/ports/source.ts";
import { createSourceSupervisor, type SourceSupervisor } from "../../src/sources/supervisor.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { BINLOG_ROW, type MariaDbServer, startMariaDb } from "../support/mariadb-server.ts";
import { eventually } from "../support/observers.ts";
import { freePort, NOTHING_LISTENS } from "../support/ports.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-sources-0123456789";
const SOURCE_KEY = "source-key-for-the-sources-test-0123456789";
const PASSWORD = "p4ss:w@rd/secret";

let maria: MariaDbServer;
let db: TestDatabase;
let url: string;

beforeAll(async () => {
  [maria, db] = await Promise.all([startMariaDb(), createTestDatabase("sources_mysql")]);
  url = await maria.createUser("observer", PASSWORD);
  await maria.query(
    "CREATE DATABASE app; CREATE TABLE app.orders (id BIGINT PRIMARY KEY, org INT, total DECIMAL(20,4), note VARCHAR(50))",
  );
}, 60_000);
afterAll(async () => {
  await Promise.all([maria?.close(), db?.drop()]);
});

/** Runs a reader until it fails (the error) or reads one transaction past the start (aborted). */
async function readOnce(
  readerUrl: string,
  position: Record<string, string | number> | null = null,
  start: "now" | "beginning" = "now",
): Promise<{ error: SourceError | null; transactions: SourceTransaction[] }> {
  const abort = new AbortController();
  const transactions: SourceTransaction[] = [];
  const timer = setTimeout(() => abort.abort(), 5_000);
  try {
    await createMysqlReader().run({
      url: readerUrl,
      readEnv: () => undefined,
      tables: [{ table: "app.orders", entityType: "Order" }],
      position,
      start,
      signal: abort.signal,
      logger: silentLogger,
      status: () => {},
      commit: async (transaction) => {
        transactions.push(transaction);
        abort.abort();
      },
    });
    return { error: null, transactions };
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    return { error, transactions };
  } finally {
    clearTimeout(timer);
  }
}

function expectNoSecret(text: string) {
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(encodeURIComponent(PASSWORD));
  expect(text).not.toContain(url);
}

describe("misconfigurations: a stable code and a message saying what to change", () => {
  it("reads when the server is set up (the baseline the cases below break)", async () => {
    const { error, transactions } = await readOnce(url);
    expect(error).toBeNull();
    expect(transactions[0]?.position).toMatchObject({ file: expect.stringMatching(/^bin\./) });
  });

  it("starts at the oldest binlog kept with start: beginning", async () => {
    const logs = await maria.query<{ Log_name: string }>("SHOW BINARY LOGS");
    const { error, transactions } = await readOnce(url, null, "beginning");
    expect(error).toBeNull();
    expect(transactions[0]).toMatchObject({
      changes: [],
      position: { file: logs[0]?.Log_name, pos: 4 },
    });
  });

  it("warns about configured columns the table does not have (entity id, tenant, columns)", async () => {
    const warnings: string[] = [];
    const abort = new AbortController();
    await createMysqlReader().run({
      url,
      readEnv: () => undefined,
      tables: [
        { table: "app.orders", entityType: "Order", tenantColumn: "org", columns: ["id", "totl"] },
        { table: "app.orders_gone", entityType: "Gone", idColumn: "nope" },
      ],
      position: null,
      start: "now",
      signal: abort.signal,
      logger: {
        log(level, message) {
          if (level === "warn") warnings.push(message);
        },
      },
      status: () => {},
      commit: async () => abort.abort(),
    });
    expect(warnings).toEqual([
      "source: a tracked table does not exist (yet)",
      "source: a configured column does not exist: columns totl of app.orders",
    ]);
  });

  it("an unparsable URL", async () => {
    const { error } = await readOnce("http://not-mysql");
    expect(error?.code).toBe("SOURCE_URL_INVALID");
    expect(error?.transient).toBe(false);
  });

  it("binlog_format not ROW", async () => {
    await maria.query("SET GLOBAL binlog_format = 'STATEMENT'");
    try {
      const { error } = await readOnce(url);
      expect(error?.code).toBe("SOURCE_BINLOG_FORMAT");
      expect(error?.message).toContain("binlog_format is STATEMENT, not ROW");
      expect(error?.transient).toBe(false);
    } finally {
      await maria.query("SET GLOBAL binlog_format = 'ROW'");
    }
  });

  it("binlog_row_image not FULL", async () => {
    await maria.query("SET GLOBAL binlog_row_image = 'MINIMAL'");
    try {
      const { error } = await readOnce(url);
      expect(error?.code).toBe("SOURCE_BINLOG_ROW_IMAGE");
      expect(error?.message).toContain("binlog_row_image is MINIMAL, not FULL");
    } finally {
      await maria.query("SET GLOBAL binlog_row_image = 'FULL'");
    }
  });

  it("a user without REPLICATION grants", async () => {
    const plain = await maria.createUser(`plain_${Date.now()}`, "plain-password", "");
    const { error } = await readOnce(plain);
    expect(error?.code).toBe("SOURCE_PRIVILEGES");
    expect(error?.message).toContain("REPLICATION SLAVE");
    expect(error?.message).not.toContain("plain-password");
  });

  it("grants held through a role: read when they are there, refused by the server when not", async () => {
    await maria.query(`CREATE ROLE replicator; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO replicator;
      CREATE ROLE nothing`);
    const viaRole = await maria.createUser("via_role", "via-role-password", "");
    await maria.query("GRANT replicator TO via_role; SET DEFAULT ROLE replicator FOR via_role");
    expect((await readOnce(viaRole)).error).toBeNull();
    const emptyRole = await maria.createUser("empty_role", "empty-role-password", "");
    await maria.query("GRANT nothing TO empty_role; SET DEFAULT ROLE nothing FOR empty_role");
    const { error } = await readOnce(emptyRole);
    expect(error?.code).toBe("SOURCE_PRIVILEGES");
    expect(error?.transient).toBe(false);
  });

  it("a wrong password", async () => {
    const wrong = url.replace(encodeURIComponent(PASSWORD), "not-the-password");
    const { error } = await readOnce(wrong);
    expect(error?.code).toBe("SOURCE_AUTH_FAILED");
    expect(error?.transient).toBe(false);
    expect(error?.message).not.toContain("not-the-password");
  });

  it("an unreachable host", async () => {
    const { error } = await readOnce(`mysql://observer:x@${NOTHING_LISTENS}:${await freePort()}`);
    expect(error?.code).toBe("SOURCE_UNREACHABLE");
    expect(error?.transient).toBe(true);
  });

  it("a purged position", async () => {
    const [{ File: file } = { File: "" }] = await maria.query<{ File: string }>(
      "SHOW MASTER STATUS",
    );
    // A binlog a dump thread still reads is not purged: end the earlier readers' threads first.
    await eventually(async () => {
      const dumps = await maria.query<{ ID: number }>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
      );
      for (const { ID } of dumps) await maria.query(`KILL ${ID}`).catch(() => undefined);
      await maria.query("FLUSH BINARY LOGS");
      const [{ File: next } = { File: "" }] = await maria.query<{ File: string }>(
        "SHOW MASTER STATUS",
      );
      await maria.query(`PURGE BINARY LOGS TO '${next}'`);
      const logs = await maria.query<{ Log_name: string }>("SHOW BINARY LOGS");
      return logs.some((log) => log.Log_name === file) ? undefined : true;
    }, `${file} purged`);
    const { error } = await readOnce(url, { file, pos: 4 });
    expect(error?.code).toBe("SOURCE_POSITION_PURGED");
    expect(error?.message).toContain(`no longer has binlog ${file}`);
    expect(error?.message).toContain("Delete and create the source again");
  });

  it("the binlog off", async () => {
    await maria.restart(["--skip-log-bin", "--server-id=1"]);
    try {
      const { error } = await readOnce(url);
      expect(error?.code).toBe("SOURCE_BINLOG_OFF");
      expect(error?.message).toContain("--log-bin");
    } finally {
      await maria.restart(BINLOG_ROW);
    }
  }, 60_000);
});

describe("the supervisor", () => {
  const supervisors: SourceSupervisor[] = [];
  afterAll(async () => {
    await Promise.all(supervisors.map((s) => s.stop()));
  });

  function supervisor(env: Record<string, string>) {
    const created = createSourceSupervisor({
      sql: db.client,
      readers: () => createMysqlReader(),
      clock: systemClock,
      logger: process.env.DEBUG_SOURCES ? createConsoleLogger("debug") : silentLogger,
      env,
      policy: DEFAULT_ACTION_POLICY,
      sourceKey: SOURCE_KEY,
      pollIntervalMs: 100,
      leaseMs: 3_000,
      retryInitialMs: 100,
      retryMaxMs: 500,
    });
    supervisors.push(created);
    return created;
  }

  it("two servers on one source: one reads, each change is written once, the position with it", async () => {
    const env = { OBSERVERS_SECRET_MARIA: url };
    const [source] = await db.sql<{ id: string }[]>`
      INSERT INTO core.tb_source (name, kind, url_env, start, tables)
      VALUES ('two-servers', 'mysql', 'OBSERVERS_SECRET_MARIA', 'now',
        '[{"table": "app.orders", "entity_type": "Order", "tenant_column": "org", "columns": ["id", "org", "total"]}]')
      RETURNING id::text AS id`;
    const id = String(source?.id);
    const a = supervisor(env);
    const b = supervisor(env);
    await Promise.all([a.start(), b.start()]);
    // The first commit records the start position.
    await eventually(async () => {
      const [row] = await db.sql`SELECT position FROM core.tb_source WHERE id = ${id}::uuid`;
      return row?.position ? true : undefined;
    }, "the start position");
    expect(a.status().length + b.status().length).toBe(1);
    for (let i = 1; i <= 20; i++) {
      await maria.query(
        `INSERT INTO app.orders VALUES (${i}, 7, ${i}.5, 'n'); UPDATE app.orders SET total = total + 1 WHERE id = ${i}`,
      );
    }
    await maria.query("BEGIN; INSERT INTO app.orders VALUES (999, 7, 1, 'gone'); ROLLBACK");
    const rows = await eventually(async () => {
      const found = await db.sql<
        { object_id: string; modification_type: string; object_data: string; fk: string }[]
      >`SELECT object_id, modification_type, object_data::text AS object_data,
          fk_customer_org::text AS fk
        FROM core.tb_entity_change_log WHERE object_type = 'Order' ORDER BY pk_entity_change_log`;
      return found.length >= 40 ? found : undefined;
    }, "40 changes");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [count] = await db.sql`SELECT count(*)::int AS n FROM core.tb_entity_change_log`;
    expect(count?.n).toBe(40);
    expect(rows.map((r) => `${r.modification_type}:${r.object_id}`).slice(0, 2)).toEqual([
      "INSERT:1",
      "UPDATE:1",
    ]);
    expect(rows.every((r) => r.fk === "7")).toBe(true);
    const update = JSON.parse(rows[1]?.object_data ?? "{}");
    expect(update).toMatchObject({
      op: "u",
      before: { id: 1, org: 7, total: "1.5000" },
      after: { id: 1, org: 7, total: "2.5000" },
      source: { connector: "mysql", db: "app", table: "orders", file: expect.any(String) },
    });
    // `columns` keeps only the listed columns.
    expect(Object.keys(update.after).sort()).toEqual(["id", "org", "total"]);
    const [state] = await db.sql`SELECT position, changes_captured::int AS n FROM core.tb_source
      WHERE id = ${id}::uuid`;
    expect(state?.n).toBe(40);
    // The stored position is the last transaction's, written with it.
    const last = JSON.parse(rows.at(-1)?.object_data ?? "{}") as {
      source: { file: string; pos: number };
    };
    expect(state?.position).toMatchObject({ file: last.source.file, pos: last.source.pos });
  }, 60_000);
});

describe("the supervisor, misconfigured", () => {
  it("keeps the code and message on the source, never crashes, and reads once the setting is fixed", async () => {
    const env: Record<string, string> = {};
    const rows = await db.sql<{ id: string; url_env: string }[]>`
      INSERT INTO core.tb_source (name, kind, url_env, start, tables)
      VALUES ('unset-variable', 'mysql', 'OBSERVERS_SECRET_NOT_SET', 'now', '[]'),
             ('server-variable', 'mysql', 'DATABASE_URL', 'now', '[]')
      RETURNING id::text AS id, url_env`;
    const created = createSourceSupervisor({
      sql: db.client,
      readers: () => createMysqlReader(),
      clock: systemClock,
      logger: silentLogger,
      env,
      policy: DEFAULT_ACTION_POLICY,
      sourceKey: null,
      pollIntervalMs: 100,
      leaseMs: 3_000,
      misconfiguredRetryMs: 200,
    });
    await created.start();
    try {
      const errors = await eventually(async () => {
        const found = await db.sql<{ url_env: string; code: string | null; message: string }[]>`
          SELECT url_env, last_error_code AS code, last_error_message AS message
          FROM core.tb_source WHERE id IN ${db.sql(rows.map((r) => r.id))} AND NOT connected`;
        return found.every((row) => row.code !== null) && found.length === 2 ? found : undefined;
      }, "both errors stored");
      const byEnv = Object.fromEntries(errors.map((row) => [row.url_env, row]));
      expect(byEnv.OBSERVERS_SECRET_NOT_SET).toMatchObject({
        code: "SOURCE_URL_MISSING",
        message: expect.stringContaining("OBSERVERS_SECRET_NOT_SET"),
      });
      expect(byEnv.DATABASE_URL).toMatchObject({ code: "SOURCE_URL_NOT_ALLOWED" });
      // Fixed: the next retry reads and the error clears.
      env.OBSERVERS_SECRET_NOT_SET = url;
      await eventually(async () => {
        const [row] = await db.sql`SELECT last_error_code, position FROM core.tb_source
          WHERE url_env = 'OBSERVERS_SECRET_NOT_SET'`;
        return row?.last_error_code === null && row?.position !== null ? true : undefined;
      }, "the source reads once the variable is set");
    } finally {
      await created.stop();
      await db.sql`DELETE FROM core.tb_source WHERE id IN ${db.sql(rows.map((r) => r.id))}`;
    }
  }, 30_000);
});

describe("a quiet source's position", () => {
  it("follows untracked transactions and the next binlog file, with no later transaction", async () => {
    await maria.query("CREATE TABLE IF NOT EXISTS app.untracked (id INT PRIMARY KEY)");
    const abort = new AbortController();
    const positions: Record<string, unknown>[] = [];
    const [head] = await maria.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
    const reading = createMysqlReader().run({
      url,
      readEnv: () => undefined,
      tables: [{ table: "app.orders", entityType: "Order" }],
      position: { file: String(head?.File), pos: Number(head?.Position) },
      start: "now",
      signal: abort.signal,
      logger: silentLogger,
      status: () => {},
      commit: async (transaction) => {
        positions.push(transaction.position);
      },
    });
    try {
      // One untracked transaction, then nothing: its position is still recorded.
      await maria.query("INSERT INTO app.untracked VALUES (1)");
      const [after] = await maria.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
      await eventually(
        async () =>
          positions.some((p) => p.file === after?.File && p.pos === Number(after?.Position))
            ? true
            : undefined,
        "the untracked transaction's position",
        15_000,
      );
      // The next binlog file, and nothing in it.
      await maria.query("FLUSH BINARY LOGS");
      const [rotated] = await maria.query<{ File: string }>("SHOW MASTER STATUS");
      expect(rotated?.File).not.toBe(after?.File);
      await eventually(
        async () => (positions.some((p) => p.file === rotated?.File) ? true : undefined),
        "a position in the new binlog file",
        15_000,
      );
    } finally {
      abort.abort();
      await reading;
    }
  }, 40_000);
});

describe("the supervisor, recovered", () => {
  it("clears the error once connected again, with no change to write (a quiet source)", async () => {
    const env: Record<string, string> = {};
    const [head] = await maria.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
    const [row] = await db.sql<{ id: string }[]>`
      INSERT INTO core.tb_source (name, kind, url_env, start, tables, position)
      VALUES ('quiet', 'mysql', 'OBSERVERS_SECRET_QUIET', 'now',
        '[{"table": "app.quiet", "entity_type": "Quiet"}]',
        ${db.sql.json({ file: String(head?.File), pos: Number(head?.Position) })})
      RETURNING id::text AS id`;
    const created = createSourceSupervisor({
      sql: db.client,
      readers: () => createMysqlReader(),
      clock: systemClock,
      logger: silentLogger,
      env,
      policy: DEFAULT_ACTION_POLICY,
      sourceKey: null,
      pollIntervalMs: 100,
      leaseMs: 3_000,
      misconfiguredRetryMs: 200,
    });
    await created.start();
    try {
      await eventually(async () => {
        const [found] =
          await db.sql`SELECT last_error_code FROM core.tb_source WHERE id = ${String(row?.id)}::uuid`;
        return found?.last_error_code === "SOURCE_URL_MISSING" ? true : undefined;
      }, "the error stored");
      env.OBSERVERS_SECRET_QUIET = url;
      await eventually(async () => {
        const [found] = await db.sql`SELECT connected, last_error_code FROM core.tb_source
          WHERE id = ${String(row?.id)}::uuid`;
        return found?.connected === true && found?.last_error_code === null ? true : undefined;
      }, "connected, the error cleared");
      expect(created.status().find((entry) => entry.id === row?.id)?.last_error).toBeNull();
    } finally {
      await created.stop();
      await db.sql`DELETE FROM core.tb_source WHERE id = ${String(row?.id)}::uuid`;
    }
  }, 30_000);
});

describe("/api/sources", () => {
  const onChange = { calls: 0 };
  const app = () =>
    createObserversApi({
      sql: db.client,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
      sources: { kinds: ["mysql"], sourceKey: SOURCE_KEY, onChange: () => onChange.calls++ },
    });
  const body = (extra: Record<string, unknown> = {}) => ({
    name: `api-${randomUUID()}`,
    kind: "mysql",
    url,
    tables: [{ table: "app.orders", entity_type: "Order" }],
    ...extra,
  });

  it("creates a source, stores its URL encrypted and never shows it", async () => {
    const call = apiClient(app(), ADMIN);
    const created = await call("POST", "/api/sources", body());
    const text = await created.text();
    expect(created.status, text).toBe(201);
    expectNoSecret(text);
    const source = JSON.parse(text) as { id: string; url_env: null; state: { reading: boolean } };
    expect(source.url_env).toBeNull();
    expect(onChange.calls).toBeGreaterThan(0);
    const [row] =
      await db.sql`SELECT url_ciphertext FROM core.tb_source WHERE id = ${source.id}::uuid`;
    expect(String(row?.url_ciphertext)).toMatch(/^v1\./);
    expectNoSecret(String(row?.url_ciphertext));
    for (const path of [`/api/sources/${source.id}`, "/api/sources"]) {
      const response = await call("GET", path);
      expect(response.status).toBe(200);
      expectNoSecret(await response.text());
    }
    expect((await call("DELETE", `/api/sources/${source.id}`)).status).toBe(204);
    expect((await call("GET", `/api/sources/${source.id}`)).status).toBe(404);
  });

  it("refuses what it cannot keep", async () => {
    const call = apiClient(app(), ADMIN);
    const serverVariable = await call(
      "POST",
      "/api/sources",
      body({ url: undefined, url_env: "DATABASE_URL" }),
    );
    expect(serverVariable.status).toBe(422);
    expect(await serverVariable.json()).toMatchObject({
      code: "SECRET_NOT_ALLOWED",
      issues: [{ path: "url_env", variable: "DATABASE_URL" }],
    });
    const sqlserver = await call(
      "POST",
      "/api/sources",
      body({ kind: "sqlserver", url: "mssql://reader:pw@db.internal:1433/shop" }),
    );
    expect(sqlserver.status).toBe(422);
    expect(await sqlserver.json()).toMatchObject({ code: "SOURCE_KIND_UNAVAILABLE" });
    const name = `dup-${randomUUID()}`;
    expect((await call("POST", "/api/sources", body({ name }))).status).toBe(201);
    expect((await call("POST", "/api/sources", body({ name }))).status).toBe(409);
    const bad = await call("POST", "/api/sources", {
      name: "",
      kind: "oracle",
      url,
      url_env: "OBSERVERS_SECRET_X",
      tables: [{ table: "orders", entity_type: "" }],
    });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { issues: { path: string }[] };
    expect(problem.issues.map((i) => i.path).sort()).toEqual(
      ["kind", "name", "tables.0.entity_type", "tables.0.table"].sort(),
    );
    expectNoSecret(JSON.stringify(problem));
    const both = await call("POST", "/api/sources", body({ url_env: "OBSERVERS_SECRET_X" }));
    expect(((await both.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe("url");
  });

  it("refuses an inline URL without OBSERVERS_SOURCE_KEY, and answers 501 on a host without sources", async () => {
    const keyless = createObserversApi({
      sql: db.client,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
      sources: { kinds: ["mysql"], sourceKey: null },
    });
    const refused = await apiClient(keyless, ADMIN)("POST", "/api/sources", body());
    expect(refused.status).toBe(422);
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe("SOURCE_KEY_MISSING");
    expect(problem.detail).toContain("url_env");
    const worker = createObserversApi({
      sql: db.client,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
    });
    const none = await apiClient(worker, ADMIN)("GET", "/api/sources");
    expect(none.status).toBe(501);
    expect(((await none.json()) as { detail: string }).detail).toContain("Cloudflare Workers");
  });

  it("is for admin keys bound to no tenant", async () => {
    const api = app();
    const tenant = await insertApiKey(db.client, {
      name: `t-${randomUUID()}`,
      scope: "admin",
      fk_customer_org: "7",
    });
    const reader = await insertApiKey(db.client, { name: `r-${randomUUID()}`, scope: "read" });
    const global = await insertApiKey(db.client, { name: `g-${randomUUID()}`, scope: "admin" });
    expect((await apiClient(api, tenant.token)("GET", "/api/sources")).status).toBe(403);
    expect((await apiClient(api, tenant.token)("POST", "/api/sources", body())).status).toBe(403);
    const read = await apiClient(api, reader.token)("GET", "/api/sources");
    expect(read.status).toBe(403);
    // The read key is bound to no tenant: the answer names what it lacks, the admin scope.
    expect(((await read.json()) as { detail: string }).detail).toContain("read scope");
    expect((await apiClient(api, global.token)("GET", "/api/sources")).status).toBe(200);
  });
});

describe("row images without every column, written after the reader's checks", () => {
  it("stop the reader with SOURCE_BINLOG_ROW_IMAGE instead of passing nulls for the missing columns", async () => {
    await maria.query(
      "INSERT INTO app.orders VALUES (4242, 7, 1.5, 'full') ON DUPLICATE KEY UPDATE note = 'full'",
    );
    const abort = new AbortController();
    const changes: unknown[] = [];
    const [head] = await maria.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
    const reading = createMysqlReader().run({
      url,
      readEnv: () => undefined,
      tables: [{ table: "app.orders", entityType: "Order" }],
      position: { file: String(head?.File), pos: Number(head?.Position) },
      start: "now",
      signal: abort.signal,
      logger: silentLogger,
      status: () => {},
      commit: async (transaction) => {
        changes.push(...transaction.changes);
      },
    });
    const timer = setTimeout(() => abort.abort(), 15_000);
    try {
      // A session of its own with MINIMAL images (the global setting stays FULL).
      await maria.query(
        "UPDATE app.orders SET note = 'before' WHERE id = 4242; SET SESSION binlog_row_image = 'MINIMAL'; UPDATE app.orders SET note = 'minimal' WHERE id = 4242; SET SESSION binlog_row_image = 'FULL'",
      );
      const error = await reading.then(
        () => null,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(SourceError);
      expect(error).toMatchObject({ code: "SOURCE_BINLOG_ROW_IMAGE", transient: false });
      expect(String((error as Error).message)).toContain("app.orders");
      // The transaction before it is written (the position stops right before the partial one).
      expect(changes).toMatchObject([{ op: "u", after: { id: 4242, note: "before" } }]);
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }, 30_000);
});

describe("a statement in STATEMENT format, written after the reader's checks", () => {
  async function readUntilFailure(sql: string): Promise<{ error: unknown; changes: unknown[] }> {
    const abort = new AbortController();
    const changes: unknown[] = [];
    const [head] = await maria.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
    const reading = createMysqlReader().run({
      url,
      readEnv: () => undefined,
      tables: [{ table: "app.orders", entityType: "Order" }],
      position: { file: String(head?.File), pos: Number(head?.Position) },
      start: "now",
      signal: abort.signal,
      logger: silentLogger,
      status: () => {},
      commit: async (transaction) => {
        changes.push(...transaction.changes);
      },
    });
    const timer = setTimeout(() => abort.abort(), 8_000);
    try {
      await maria.query(sql);
      const error = await reading.then(
        () => null,
        (failure: unknown) => failure,
      );
      return { error, changes };
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }

  it("stops the reader with SOURCE_BINLOG_FORMAT: the rows it changed are not in the binlog", async () => {
    const { error, changes } = await readUntilFailure(
      "UPDATE app.orders SET note = 'row' WHERE id = 4242; SET SESSION binlog_format = 'STATEMENT'; UPDATE app.orders SET note = 'stmt' WHERE id = 4242; SET SESSION binlog_format = 'ROW'",
    );
    expect(error).toMatchObject({ code: "SOURCE_BINLOG_FORMAT", transient: false });
    expect(String((error as Error).message)).toContain("app.orders");
    expect(changes).toMatchObject([{ op: "u", after: { id: 4242, note: "row" } }]);
  }, 30_000);

  it("leaves a statement on an untracked table alone", async () => {
    await maria.query("CREATE TABLE IF NOT EXISTS app.orders_archive (id INT PRIMARY KEY)");
    const { error } = await readUntilFailure(
      "SET SESSION binlog_format = 'STATEMENT'; INSERT INTO app.orders_archive VALUES (1) ON DUPLICATE KEY UPDATE id = 1; SET SESSION binlog_format = 'ROW'",
    );
    // Read on until the timer aborted it: no error.
    expect(error).toBeNull();
  }, 30_000);
});
