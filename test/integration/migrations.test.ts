/** The migration runner and `npm run migrate` against real, fresh PostgreSQL databases. */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import { ConfigError, MigrationError } from "../../src/errors.ts";
import { applyMigrations, type Migration } from "../../src/store/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bun = join(root, "node_modules/.bin/bun");
const migrations = loadMigrations();
const names = migrations.map((m) => m.name);

const databases: TestDatabase[] = [];
async function emptyDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label, { migrated: false });
  databases.push(db);
  return db;
}
afterAll(() => Promise.all(databases.map((db) => db.drop())));

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}
function runCli(env: Record<string, string | undefined>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      bun,
      ["adapters/drivers/postgres/migrate-cli.ts"],
      { cwd: root, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const recorded = (db: TestDatabase) =>
  db.sql<{ version: number; name: string; checksum: string; applied_at: Date }[]>`
    SELECT version, name, checksum, applied_at FROM core.tb_schema_migration ORDER BY version`;

describe("applyMigrations", () => {
  it("creates every table of the design on an empty database, then is a no-op", async () => {
    const db = await emptyDatabase("migrate");
    expect(await applyMigrations(db.client, migrations)).toEqual({ applied: names });

    const tables = await db.sql<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'`;
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining([
        "tb_entity_change_log",
        "tb_observer",
        "tb_observer_log",
        "tb_observer_dlq",
        "tb_observer_checkpoint",
        "tb_observer_delivery",
        "tb_api_key",
        "tb_schema_migration",
      ]),
    );
    const first = await recorded(db);
    expect(first.map((r) => [r.version, r.name])).toEqual(
      migrations.map((m) => [m.version, m.name]),
    );
    for (const [i, row] of first.entries()) {
      const sha = createHash("sha256")
        .update(migrations[i]?.sql ?? "")
        .digest("hex");
      expect(row.checksum).toBe(sha);
    }

    expect(await applyMigrations(db.client, migrations)).toEqual({ applied: [] });
    expect(await recorded(db)).toEqual(first);
  });

  it("applies only what is new, and a failing migration leaves nothing of itself", async () => {
    const db = await emptyDatabase("partial");
    const [m1, m2] = migrations as [Migration, Migration];
    expect(await applyMigrations(db.client, [m1])).toEqual({ applied: [m1.name] });
    expect(await applyMigrations(db.client, [m1, m2])).toEqual({ applied: [m2.name] });

    const broken: Migration = {
      version: 9000,
      name: "9000_broken.sql",
      sql: "CREATE TABLE core.tb_half (id int); SELECT no_such_function();",
    };
    await expect(applyMigrations(db.client, [m1, m2, broken])).rejects.toThrow(/no_such_function/);
    const [half] = await db.sql`SELECT to_regclass('core.tb_half') AS half`;
    expect(half?.half).toBeNull();
    expect((await recorded(db)).map((r) => r.name)).toEqual([m1.name, m2.name]);
  });

  it("refuses a migration changed after it was applied, naming the file", async () => {
    const db = await createTestDatabase("checksum");
    databases.push(db);
    const changed = migrations.map((m) =>
      m.version === 2 ? { ...m, sql: `${m.sql}\n-- an edit after the fact\n` } : m,
    );
    const failure = applyMigrations(db.client, changed);
    await expect(failure).rejects.toBeInstanceOf(MigrationError);
    await expect(failure).rejects.toMatchObject({
      code: "MIGRATION_MISMATCH",
      migration: "0002_capture.sql",
      message: expect.stringContaining("0002_capture.sql"),
    });
  });

  it("refuses versions that repeat or go backwards, before touching the database", async () => {
    const [m1, m2] = migrations as [Migration, Migration];
    const unused = { query: () => Promise.reject(new Error("must not run")) } as never;
    await expect(applyMigrations(unused, [m1, { ...m2, version: 1 }])).rejects.toBeInstanceOf(
      ConfigError,
    );
    await expect(applyMigrations(unused, [m2, m1])).rejects.toThrow(
      /0001_change_log\.sql: version 1/,
    );
  });
});

describe("loadMigrations", () => {
  it("reads NNNN_name.sql in version order and refuses a badly named file", () => {
    const dir = mkdtempSync(join(tmpdir(), "fraiseql-migrations-"));
    try {
      writeFileSync(join(dir, "0002_second.sql"), "SELECT 2;");
      writeFileSync(join(dir, "0001_first.sql"), "SELECT 1;");
      writeFileSync(join(dir, "README.md"), "not a migration");
      expect(loadMigrations(dir)).toEqual([
        { version: 1, name: "0001_first.sql", sql: "SELECT 1;" },
        { version: 2, name: "0002_second.sql", sql: "SELECT 2;" },
      ]);
      writeFileSync(join(dir, "3-Third.sql"), "SELECT 3;");
      expect(() => loadMigrations(dir)).toThrow(/3-Third\.sql is badly named/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("defaults to the repository's migrations", () => {
    expect(names[0]).toBe("0001_change_log.sql");
    expect(names).toContain("0005_api_keys.sql");
  });
});

describe("npm run migrate (adapters/drivers/postgres/migrate-cli.ts on Bun)", () => {
  it("run twice at once on one fresh database: both succeed, each migration applied once", async () => {
    const db = await emptyDatabase("cli");
    const runs = await Promise.all([
      runCli({ DATABASE_URL: db.url }),
      runCli({ DATABASE_URL: db.url }),
    ]);
    for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0, stderr: "" });
    const printed = runs.flatMap((run) => run.stdout.trim().split("\n"));
    const appliedLines = printed.filter((line) => line.startsWith("applied "));
    expect(appliedLines.sort()).toEqual(names.map((name) => `applied ${name}`).sort());
    expect((await recorded(db)).map((r) => r.name)).toEqual(names);

    const again = await runCli({ DATABASE_URL: db.url });
    expect(again).toMatchObject({ code: 0, stdout: "up to date\n" });
  });

  it("exits 2 with a clear message when DATABASE_URL is unset, 1 when migrating fails", async () => {
    const unset = await runCli({});
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain("DATABASE_URL is not set");

    const unreachable = await runCli({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^migration failed: /);
  });
});
