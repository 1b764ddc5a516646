import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Migration } from "../../../src/store/migrate.ts";

/**
 * The `migrations/` folder: the repository's, seen from this source file, or the package's
 * `dist/migrations`, seen from the built module (scripts/build.ts copies the files there, so the
 * same relative path holds in both trees).
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations/", import.meta.url));

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Reads the `NNNN_name.sql` files of `dir` (default: the repository's `migrations/`), in version
 * order. Any other `.sql` file is refused by name: a misnamed migration would otherwise be
 * silently skipped. node:fs works on Node, Bun and Deno alike.
 */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".sql")) continue;
    const match = FILE_NAME.exec(entry.name);
    if (!match) {
      throw new Error(
        `Migration file ${join(dir, entry.name)} is badly named: expected NNNN_name.sql (four digits, an underscore, lowercase letters, digits and underscores)`,
      );
    }
    migrations.push({
      version: Number(match[1]),
      name: entry.name,
      sql: readFileSync(join(dir, entry.name), "utf8"),
    });
  }
  return migrations.sort((a, b) => a.version - b.version);
}
