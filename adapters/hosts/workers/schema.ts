/**
 * Whether the database behind Hyperdrive has this bundle's migrations. The Worker never migrates
 * (`npm run migrate` does, from a machine that reaches the database directly): it compares
 * `core.tb_schema_migration` with the migrations bundled in migrations.generated.ts, by version
 * and SHA-256, and refuses to run a tick on a schema it was not built for. The health endpoint
 * reports the problem (503).
 */

import type { SqlExecutor } from "../../../src/ports/sql.ts";
import type { Migration } from "../../../src/store/migrate.ts";
import { MIGRATIONS } from "./migrations.generated.ts";

export interface SchemaStatus {
  current: boolean;
  /** What is wrong and what to do, when not current. */
  problem: string | null;
}

const MIGRATE_HINT = "run `DATABASE_URL=postgres://... npm run migrate` against the database";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Compares the database's applied migrations with `migrations` (default: the bundled ones). */
export async function checkSchema(
  sql: SqlExecutor,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<SchemaStatus> {
  let rows: { version: number | string; checksum: string }[];
  try {
    rows = await sql.query<{ version: number | string; checksum: string }>(
      "SELECT version, checksum FROM core.tb_schema_migration",
    );
  } catch (error) {
    if (
      (error as { code?: unknown }).code === "42P01" ||
      (error as { code?: unknown }).code === "3F000"
    ) {
      return { current: false, problem: `the database has no migrations: ${MIGRATE_HINT}` };
    }
    throw error;
  }
  const applied = new Map(rows.map((row) => [Number(row.version), row.checksum]));
  const missing: string[] = [];
  const changed: string[] = [];
  for (const migration of migrations) {
    const checksum = applied.get(migration.version);
    if (checksum === undefined) missing.push(migration.name);
    else if (checksum !== (await sha256Hex(migration.sql))) changed.push(migration.name);
  }
  if (changed.length > 0) {
    return {
      current: false,
      problem: `the database recorded other contents for ${changed.join(", ")}: it was migrated by a different release`,
    };
  }
  if (missing.length > 0) {
    return {
      current: false,
      problem: `migrations not applied: ${missing.join(", ")}; ${MIGRATE_HINT}`,
    };
  }
  return { current: true, problem: null };
}

/**
 * `checkSchema`, remembered per isolate once it passes (for 5 minutes: a later migration by a
 * newer release is noticed), so requests and ticks do not each pay a round trip.
 */
export function cachedSchemaCheck(ttlMs = 5 * 60_000): (sql: SqlExecutor) => Promise<SchemaStatus> {
  let passedAt = Number.NEGATIVE_INFINITY;
  return async (sql) => {
    if (Date.now() - passedAt < ttlMs) return { current: true, problem: null };
    const status = await checkSchema(sql);
    if (status.current) passedAt = Date.now();
    return status;
  };
}
