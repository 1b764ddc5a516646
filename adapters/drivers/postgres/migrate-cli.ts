/**
 * `npm run migrate`: applies the repository's migrations to DATABASE_URL and says what it did.
 * Exit codes: 0 applied or up to date, 1 failed, 2 DATABASE_URL unset.
 */
import { applyMigrations } from "../../../src/store/migrate.ts";
import { loadMigrations } from "./migrations-dir.ts";
import { createPostgresClient } from "./postgres-client.ts";

async function main(): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error(
      "DATABASE_URL is not set: point it at the PostgreSQL to migrate, e.g. DATABASE_URL=postgres://user@host:5432/db npm run migrate",
    );
    return 2;
  }
  const client = createPostgresClient(url, { max: 1, connectTimeoutSeconds: 10 });
  try {
    const { applied } = await applyMigrations(client, loadMigrations());
    if (applied.length === 0) console.log("up to date");
    for (const name of applied) console.log(`applied ${name}`);
    return 0;
  } catch (error: unknown) {
    console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await client.close().catch(() => {});
  }
}

process.exit(await main());
