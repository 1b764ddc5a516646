/**
 * Before reading: checks that the server can be read by binlog (`log_bin` on, `binlog_format` ROW,
 * `binlog_row_image` FULL), that the user may read it (REPLICATION SLAVE and REPLICATION CLIENT or
 * BINLOG MONITOR), and finds where to start: the stored position (its binlog file must still
 * exist), else the head (`start: "now"`) or the oldest retained binlog (`"beginning"`).
 */
import type { Connection } from "mysql2/promise";
import { SourceError, type SourceTable } from "../../../src/ports/source.ts";

/** Where reading starts. */
export interface BinlogPosition {
  file: string;
  pos: number;
}

type Row = Record<string, unknown>;

async function rows(connection: Connection, sql: string): Promise<Row[]> {
  const [result] = await connection.query(sql);
  return Array.isArray(result) ? (result as Row[]) : [];
}

/** Throws a non-transient `SourceError` naming the setting when the server is not set up. */
export async function checkBinlogSettings(connection: Connection): Promise<void> {
  const [settings] = await rows(
    connection,
    "SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS binlog_format, @@GLOBAL.binlog_row_image AS binlog_row_image",
  );
  const logBin = String(settings?.log_bin ?? "0");
  if (logBin !== "1" && logBin.toUpperCase() !== "ON") {
    throw new SourceError(
      "SOURCE_BINLOG_OFF",
      "the source's binary log is off (log_bin): start the server with --log-bin (and --server-id), binlog_format=ROW and binlog_row_image=FULL",
      false,
    );
  }
  const format = String(settings?.binlog_format ?? "").toUpperCase();
  if (format !== "ROW") {
    throw new SourceError(
      "SOURCE_BINLOG_FORMAT",
      `the source's binlog_format is ${format || "unknown"}, not ROW: row events carry the changed rows only in ROW format (SET GLOBAL binlog_format = 'ROW' and in the server's configuration; running sessions keep their format until they reconnect)`,
      false,
    );
  }
  const image = String(settings?.binlog_row_image ?? "").toUpperCase();
  if (image !== "FULL") {
    throw new SourceError(
      "SOURCE_BINLOG_ROW_IMAGE",
      `the source's binlog_row_image is ${image || "unknown"}, not FULL: updates and deletes would lack their before images (SET GLOBAL binlog_row_image = 'FULL' and in the server's configuration)`,
      false,
    );
  }
}

const REPLICATION_SLAVE = /\b(ALL PRIVILEGES|REPLICATION SLAVE|REPLICATION REPLICA)\b/i;
const REPLICATION_CLIENT = /\b(ALL PRIVILEGES|REPLICATION CLIENT|BINLOG MONITOR|SUPER)\b/i;

/** `GRANT role TO user` (MySQL 8, MariaDB 10.0.5+): a grant of a role, not of privileges. */
const ROLE_GRANT =
  /^GRANT\s+[`'"][^`'"]+[`'"](@[`'"][^`'"]*[`'"])?(\s*,\s*[`'"][^`'"]+[`'"](@[`'"][^`'"]*[`'"])?)*\s+TO\s/i;

/** Throws `SOURCE_PRIVILEGES` naming the missing grants (when they are granted directly). */
export async function checkPrivileges(connection: Connection): Promise<void> {
  const lines = (await rows(connection, "SHOW GRANTS")).flatMap((row) =>
    Object.values(row).map(String),
  );
  // Privileges held through roles do not show here: then the server's own refusal (of SHOW
  // BINARY LOGS or of the binlog dump, error 1227) says it, classified the same way.
  if (lines.some((grant) => ROLE_GRANT.test(grant))) return;
  const grants = lines
    .filter((grant) => / ON \*\.\* /i.test(grant) || /ON \*\.\*$/i.test(grant))
    .join("\n");
  const missing = [
    REPLICATION_SLAVE.test(grants) ? null : "REPLICATION SLAVE",
    REPLICATION_CLIENT.test(grants) ? null : "REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR)",
  ].filter((grant) => grant !== null);
  if (missing.length > 0) {
    throw new SourceError(
      "SOURCE_PRIVILEGES",
      `the source's user lacks ${missing.join(" and ")} ON *.*: GRANT them to the user of the source's URL (plus SELECT on the tracked tables)`,
      false,
    );
  }
}

/** The binlog files the server still has, oldest first, with their sizes. */
export async function binaryLogs(connection: Connection): Promise<BinlogPosition[]> {
  return (await rows(connection, "SHOW BINARY LOGS")).map((row) => ({
    file: String(row.Log_name),
    pos: Number(row.File_size),
  }));
}

/** Where the server writes now (SHOW BINARY LOG STATUS, or SHOW MASTER STATUS before it). */
async function head(connection: Connection): Promise<BinlogPosition | null> {
  for (const statement of ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]) {
    try {
      const [row] = await rows(connection, statement);
      if (row) return { file: String(row.File), pos: Number(row.Position) };
      return null;
    } catch (error) {
      // Older servers do not know SHOW BINARY LOG STATUS (a syntax error): try the older name.
      if ((error as { errno?: number }).errno !== 1064) throw error;
    }
  }
  return null;
}

/** Where to start reading; see the file comment. */
export async function startPosition(
  connection: Connection,
  stored: BinlogPosition | null,
  start: "now" | "beginning",
): Promise<BinlogPosition> {
  const logs = await binaryLogs(connection);
  if (stored !== null) {
    if (!logs.some((log) => log.file === stored.file)) {
      throw new SourceError(
        "SOURCE_POSITION_PURGED",
        `the source no longer has binlog ${stored.file} (purged or expired; oldest kept: ${logs[0]?.file ?? "none"}): changes made meanwhile are lost to this source. Delete and create the source again to start from now, and keep binlogs longer (binlog_expire_logs_seconds)`,
        false,
      );
    }
    return stored;
  }
  if (start === "beginning") {
    const first = logs[0];
    if (!first) throw new SourceError("SOURCE_BINLOG_OFF", "the source has no binlog", false);
    return { file: first.file, pos: 4 };
  }
  const now = (await head(connection)) ?? logs.at(-1) ?? null;
  if (!now) throw new SourceError("SOURCE_BINLOG_OFF", "the source has no binlog", false);
  return now;
}

/** The tracked tables information_schema does not show (never created, dropped, or no SELECT). */
export async function missingTables(
  connection: Connection,
  tables: readonly { table: string }[],
): Promise<string[]> {
  const [found] = await connection.query(
    "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS name FROM information_schema.TABLES",
  );
  const names = new Set((found as { name: string }[]).map((row) => row.name));
  return tables.map((t) => t.table).filter((name) => !names.has(name));
}

/**
 * The configured columns (`id_column`, default `id`; `tenant_column`; `columns`) that a tracked
 * table information_schema shows does not have: read with them, its changes would carry no
 * entity id or tenant, or fewer columns than asked for. Names are compared exactly, as the row
 * images are keyed (`ID` does not find `id`).
 */
export async function missingColumns(
  connection: Connection,
  tables: readonly SourceTable[],
): Promise<{ table: string; field: string; column: string }[]> {
  const [found] = await connection.query(
    "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS name, COLUMN_NAME AS col FROM information_schema.COLUMNS",
  );
  const columns = new Map<string, Set<string>>();
  for (const row of found as { name: string; col: string }[]) {
    const set = columns.get(row.name) ?? new Set<string>();
    set.add(row.col);
    columns.set(row.name, set);
  }
  const missing: { table: string; field: string; column: string }[] = [];
  for (const table of tables) {
    const existing = columns.get(table.table);
    if (!existing) continue;
    const wanted: [string, string][] = [["id_column", table.idColumn ?? "id"]];
    if (table.tenantColumn) wanted.push(["tenant_column", table.tenantColumn]);
    for (const column of table.columns ?? []) wanted.push(["columns", column]);
    for (const [field, column] of wanted) {
      if (!existing.has(column)) missing.push({ table: table.table, field, column });
    }
  }
  return missing;
}
