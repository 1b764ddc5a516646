/**
 * MariaDB's JSON type is LONGTEXT with a `json_valid(column)` check: the binlog carries text. The
 * tracked tables' JSON columns (DATA_TYPE json on MySQL, the check on MariaDB) are looked up in
 * information_schema, cached per table and shape (the column names of the row: an ALTER TABLE
 * changes them), and their text parsed before the transaction is committed. A value that does not
 * parse (the check can be dropped) stays text.
 */
import type { Pool } from "mysql2/promise";
import type { JsonObject, JsonValue } from "../../../src/json.ts";
import type { SourceChange } from "../../../src/ports/source.ts";

const QUERY = `SELECT c.COLUMN_NAME AS name FROM information_schema.COLUMNS c
  WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? AND (c.DATA_TYPE = 'json' OR EXISTS (
    SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k
    WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
      AND REPLACE(k.CHECK_CLAUSE, '\`', '') = CONCAT('json_valid(', c.COLUMN_NAME, ')')))`;

/** The JSON columns of the tracked tables; see the file comment. */
export function createJsonColumns(pool: Pool) {
  const cache = new Map<string, Set<string>>();

  async function columnsOf(table: string, shape: string): Promise<Set<string>> {
    const key = `${table}\u0000${shape}`;
    const known = cache.get(key);
    if (known) return known;
    const dot = table.indexOf(".");
    let names = new Set<string>();
    try {
      const [rows] = await pool.query(QUERY, [table.slice(0, dot), table.slice(dot + 1)]);
      names = new Set((rows as { name: string }[]).map((row) => row.name));
    } catch {
      // information_schema.CHECK_CONSTRAINTS is missing before MariaDB 10.2 and MySQL 8.0.16.
      const [rows] = await pool.query(
        `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND DATA_TYPE = 'json'`,
        [table.slice(0, dot), table.slice(dot + 1)],
      );
      names = new Set((rows as { name: string }[]).map((row) => row.name));
    }
    cache.set(key, names);
    return names;
  }

  function parseIn(row: JsonObject | null, names: Set<string>): void {
    if (row === null) return;
    for (const name of names) {
      const value = row[name];
      if (typeof value !== "string") continue;
      try {
        row[name] = JSON.parse(value) as JsonValue;
      } catch {
        // Not JSON after all: kept as the text it is.
      }
    }
  }

  return {
    /** Parses the JSON columns of `changes` in place. */
    async parse(changes: readonly SourceChange[]): Promise<void> {
      for (const change of changes) {
        const image = change.after ?? change.before;
        if (image === null) continue;
        const names = await columnsOf(change.table, Object.keys(image).join(","));
        if (names.size === 0) continue;
        parseIn(change.before, names);
        parseIn(change.after, names);
      }
    },
    close: () => pool.end().catch(() => undefined),
  };
}
