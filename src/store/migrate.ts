import { ConfigError, type ConfigIssue, MigrationError } from "../errors.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";

/** One numbered migration: plain SQL, applied once, in version order. */
export interface Migration {
  /** The `NNNN` of `NNNN_name.sql`: unique and increasing along the list. */
  version: number;
  /** The file name (`0001_change_log.sql`): what logs and errors call the migration. */
  name: string;
  /** The SQL text; it may hold several statements. */
  sql: string;
}

/** Options of `applyMigrations`. */
export interface ApplyMigrationsOptions {
  logger?: Logger;
}

/** What `applyMigrations` did. */
export interface MigrationResult {
  /** Names of the migrations applied by this call, in order (empty when up to date). */
  applied: string[];
}

// One fixed key for every runner of this schema: whoever holds it is the only one creating the
// bookkeeping table or applying a migration, so concurrent runners queue instead of racing.
const MIGRATION_LOCK_KEY = "7046553108310745313";

// Run under the lock: CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE by itself.
const BOOTSTRAP = `CREATE SCHEMA IF NOT EXISTS core;
CREATE TABLE IF NOT EXISTS core.tb_schema_migration (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

/**
 * Applies the migrations not yet recorded in `core.tb_schema_migration`, each in its own
 * transaction under an advisory lock, so running it twice, or from two processes at once, is
 * safe. A recorded migration whose file has changed since (SHA-256 of its text) fails with a
 * `MigrationError` naming the file; a malformed list fails with a `ConfigError`.
 */
export async function applyMigrations(
  sql: SqlClient,
  migrations: readonly Migration[],
  options: ApplyMigrationsOptions = {},
): Promise<MigrationResult> {
  const issues = validateMigrations(migrations);
  if (issues.length > 0) throw new ConfigError(issues);
  const logger = options.logger;
  const applied: string[] = [];
  for (const migration of migrations) {
    const checksum = await sha256Hex(migration.sql);
    const ran = await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      await tx.query(BOOTSTRAP);
      const [recorded] = await tx.query<{ name: string; checksum: string }>(
        "SELECT name, checksum FROM core.tb_schema_migration WHERE version = $1",
        [migration.version],
      );
      if (recorded) {
        if (recorded.checksum !== checksum) throw changedAfterApply(migration, recorded, checksum);
        return false;
      }
      await tx.query(migration.sql);
      await tx.query(
        "INSERT INTO core.tb_schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
        [migration.version, migration.name, checksum],
      );
      return true;
    });
    if (ran) {
      applied.push(migration.name);
      logger?.log("info", "applied migration", {
        migration: migration.name,
        version: migration.version,
      });
    }
  }
  if (migrations.length > 0 && logger) await warnAboutUnknown(sql, migrations, logger);
  return { applied };
}

/** Problems with a migration list: versions not positive integers, repeated or out of order. */
export function validateMigrations(migrations: readonly Migration[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  let previous = 0;
  migrations.forEach((migration, index) => {
    const label = migration.name || `migration ${index}`;
    if (!Number.isSafeInteger(migration.version) || migration.version <= 0) {
      issues.push({
        path: `${index}.version`,
        message: `${label}: version must be a positive integer, got ${migration.version}`,
      });
    } else if (migration.version <= previous) {
      issues.push({
        path: `${index}.version`,
        message: `${label}: version ${migration.version} must be greater than the previous one (${previous}); versions are unique and listed in order`,
      });
    } else {
      previous = migration.version;
    }
    if (migration.name.trim() === "") {
      issues.push({ path: `${index}.name`, message: `migration ${index}: name must not be empty` });
    }
    if (migration.sql.trim() === "") {
      issues.push({ path: `${index}.sql`, message: `${label}: the SQL is empty` });
    }
  });
  return issues;
}

function changedAfterApply(
  migration: Migration,
  recorded: { name: string; checksum: string },
  checksum: string,
): MigrationError {
  return new MigrationError(
    migration.name,
    `Migration ${migration.name} (version ${migration.version}) has changed since it was applied ` +
      `to this database as ${recorded.name}: its SHA-256 is ${checksum}, the database recorded ` +
      `${recorded.checksum}. Restore the file and put the change in a new migration.`,
  );
}

// A database migrated by a newer release than this one: worth a word, not a refusal.
async function warnAboutUnknown(sql: SqlClient, migrations: readonly Migration[], logger: Logger) {
  const known = new Set(migrations.map((m) => m.version));
  const rows = await sql.query<{ version: number; name: string }>(
    "SELECT version, name FROM core.tb_schema_migration ORDER BY version",
  );
  const unknown = rows.filter((row) => !known.has(Number(row.version)));
  if (unknown.length > 0) {
    logger.log("warn", "the database has migrations this release does not know", {
      migrations: unknown.map((row) => row.name),
    });
  }
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
