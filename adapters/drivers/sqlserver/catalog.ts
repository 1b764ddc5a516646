/**
 * What the reader learns before reading: that CDC is on, each configured table's capture
 * instances and their captured columns, and (best effort) that something harvests the log.
 */
import type { Logger } from "../../../src/ports/logger.ts";
import { SourceError, type SourceTable } from "../../../src/ports/source.ts";
import type { SqlServerConnection } from "./connection.ts";
import { permissionDenied } from "./errors.ts";
import { lsnFromBytes } from "./lsn.ts";
import {
  AGENT_SQL,
  CAPTURE_INSTANCES_SQL,
  CAPTURE_JOB_SQL,
  CAPTURED_COLUMNS_SQL,
  type CapturedColumn,
  checkInstanceName,
  DATABASE_SQL,
  TABLE_SQL,
} from "./queries.ts";

/** One capture instance of a configured table. */
export interface CaptureInstance {
  name: string;
  /** `create_date`: server local time, as a Date whose UTC fields hold it. */
  createdAt: Date | null;
  /** `start_lsn` when the catalog was read (hex). */
  startLsn: string;
  columns: CapturedColumn[];
}

/** A configured table and its capture instances, oldest first. */
export interface CatalogTable {
  table: SourceTable;
  schema: string;
  name: string;
  instances: CaptureInstance[];
}

export interface Catalog {
  database: string;
  /** 5: Azure SQL Database (no SQL Server Agent; CDC runs on its own scheduler). */
  engineEdition: number;
  tables: CatalogTable[];
}

const REGULAR = /^[\p{L}_@#][\p{L}\p{N}_@#$]{0,127}$/u;
const BRACKETED = /^\[((?:[^\]]|\]\])+)\]$/;
const CONTROL = /\p{Cc}/u;

function unquotePart(part: string): string | null {
  if (REGULAR.test(part)) return part;
  const bracketed = BRACKETED.exec(part);
  if (!bracketed?.[1]) return null;
  const name = bracketed[1].replace(/\]\]/g, "]");
  return name.length <= 128 && !CONTROL.test(name) ? name : null;
}

/**
 * `schema.table` (each part a regular identifier, or bracketed: `[dbo].[Order Lines]`) to its
 * two names; a `SourceError` for anything else. The names only ever travel as parameters.
 */
export function splitTableName(table: string): { schema: string; name: string } {
  const match = /^(\[(?:[^\]]|\]\])+\]|[^.[\]]+)\.(\[(?:[^\]]|\]\])+\]|[^.[\]]+)$/.exec(table);
  const schema = match?.[1] ? unquotePart(match[1]) : null;
  const name = match?.[2] ? unquotePart(match[2]) : null;
  if (!schema || !name) {
    throw new SourceError(
      "SOURCE_TABLE_INVALID",
      `table ${JSON.stringify(table.slice(0, 300))} is not schema.table: write it as SQL Server names it, e.g. dbo.orders or [dbo].[Order Lines]`,
      false,
    );
  }
  return { schema, name };
}

function text(value: unknown): string {
  return typeof value === "string" ? value : value == null ? "" : String(value);
}

function sameName(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

async function checkDatabase(
  connection: SqlServerConnection,
  signal: AbortSignal,
): Promise<{ database: string; engineEdition: number }> {
  const row = (await connection.query(DATABASE_SQL, {}, signal)).rows[0];
  const database = text(row?.database_name);
  if (!row || Number(row.is_cdc_enabled) !== 1) {
    throw new SourceError(
      "SOURCE_CDC_DISABLED",
      `change data capture is not enabled on database ${JSON.stringify(database)}: run EXEC sys.sp_cdc_enable_db in it (as a member of sysadmin; db_owner on Azure SQL Database), then enable each table with sys.sp_cdc_enable_table`,
      false,
    );
  }
  return { database, engineEdition: Number(row.engine_edition) || 0 };
}

async function missingInstance(
  connection: SqlServerConnection,
  table: string,
  schema: string,
  name: string,
  signal: AbortSignal,
): Promise<SourceError> {
  const params = {
    schema: { type: "nvarchar", value: schema },
    table: { type: "nvarchar", value: name },
  } as const;
  const row = (await connection.query(TABLE_SQL, params, signal)).rows[0];
  if (!row) {
    return new SourceError(
      "SOURCE_TABLE_NOT_FOUND",
      `table ${table} does not exist in the source database, or its login may not see it: check the name (schema.table) and GRANT SELECT on it to the login`,
      false,
    );
  }
  if (Number(row.is_tracked_by_cdc) !== 1) {
    return new SourceError(
      "SOURCE_TABLE_NOT_TRACKED",
      `table ${table} is not tracked by change data capture: run EXEC sys.sp_cdc_enable_table @source_schema = N'${schema.replace(/'/g, "''")}', @source_name = N'${name.replace(/'/g, "''")}', @role_name = N'<gating role or NULL>', @supports_net_changes = 0`,
      false,
    );
  }
  return permissionDenied(
    `table ${table} is tracked, but none of its capture instances is readable by this login`,
  );
}

function lobColumn(type: string, maxLength: unknown): boolean {
  if (type === "text" || type === "ntext" || type === "image") return true;
  return (
    (type === "varchar" || type === "nvarchar" || type === "varbinary") && Number(maxLength) === -1
  );
}

async function capturedColumns(
  connection: SqlServerConnection,
  instance: string,
  signal: AbortSignal,
): Promise<CapturedColumn[]> {
  const params = { instance: { type: "nvarchar", value: instance } } as const;
  const rows = (await connection.query(CAPTURED_COLUMNS_SQL, params, signal)).rows;
  // `ordinal_position` orders the captured columns; a column's bit in `__$update_mask` is its
  // rank among them (cdc.captured_columns.column_ordinal: 1 for the first captured column).
  return rows
    .map((row) => ({ row, position: Number(row.ordinal_position ?? row.column_id) }))
    .sort((a, b) => a.position - b.position)
    .map(({ row }, rank) => {
      const type = text(row.data_type).toLowerCase();
      return {
        name: text(row.column_name),
        type,
        ordinal: rank + 1,
        lob: lobColumn(type, row.character_maximum_length),
      };
    });
}

function checkColumns(table: SourceTable, instance: CaptureInstance, newest: boolean): void {
  const captured = new Set(instance.columns.map((column) => column.name));
  const needed = [table.idColumn ?? "id", ...(table.tenantColumn ? [table.tenantColumn] : [])];
  if (newest) needed.push(...(table.columns ?? []));
  const missing = needed.filter((column) => !captured.has(column));
  if (missing.length > 0) {
    throw new SourceError(
      "SOURCE_COLUMN_NOT_CAPTURED",
      `capture instance ${instance.name} of table ${table.table} does not capture ${missing.join(", ")} (id_column defaults to id): fix id_column/tenant_column/columns, or enable a capture instance that captures them (sys.sp_cdc_enable_table @captured_column_list)`,
      false,
    );
  }
}

/** Reads the catalog; a `SourceError` says what is not set up. */
export async function loadCatalog(
  connection: SqlServerConnection,
  tables: readonly SourceTable[],
  signal: AbortSignal,
): Promise<Catalog> {
  const names = tables.map((table) => ({ table, ...splitTableName(table.table) }));
  const seen = new Set<string>();
  for (const { table, schema, name } of names) {
    const key = `${schema}.${name}`.toLowerCase();
    if (seen.has(key)) {
      throw new SourceError(
        "SOURCE_TABLE_INVALID",
        `table ${table.table} is listed twice: list each table once (its changes would be read twice)`,
        false,
      );
    }
    seen.add(key);
  }
  const { database, engineEdition } = await checkDatabase(connection, signal);
  const instanceRows = (await connection.query(CAPTURE_INSTANCES_SQL, {}, signal)).rows;
  const catalogTables: CatalogTable[] = [];
  for (const { table, schema, name } of names) {
    const rows = instanceRows.filter(
      (row) => sameName(text(row.source_schema), schema) && sameName(text(row.source_table), name),
    );
    if (rows.length === 0)
      throw await missingInstance(connection, table.table, schema, name, signal);
    const instances: CaptureInstance[] = [];
    for (const row of rows) {
      const instanceName = checkInstanceName(text(row.capture_instance));
      instances.push({
        name: instanceName,
        createdAt: row.create_date instanceof Date ? row.create_date : null,
        startLsn: lsnFromBytes(row.start_lsn) ?? "",
        columns: await capturedColumns(connection, instanceName, signal),
      });
    }
    // Oldest first: at most two instances exist per table, the second made for a schema change.
    instances.sort((a, b) => (a.startLsn < b.startLsn ? -1 : a.startLsn > b.startLsn ? 1 : 0));
    instances.forEach((instance, i) => {
      checkColumns(table, instance, i === instances.length - 1);
    });
    catalogTables.push({ table, schema, name, instances });
  }
  return { database, engineEdition, tables: catalogTables };
}

/**
 * Best effort, as the login may not see either: SQL Server Agent stopped, or no capture job for
 * the database, means nothing harvests the log into the change tables. Skipped on Azure SQL
 * Database, where CDC runs on its own scheduler.
 */
export async function checkHarvesting(
  connection: SqlServerConnection,
  catalog: Catalog,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  if (catalog.engineEdition === 5) return;
  let agent: Readonly<Record<string, unknown>> | undefined;
  try {
    agent = (await connection.query(AGENT_SQL, {}, signal)).rows[0];
  } catch {
    logger.log("debug", "sqlserver source: SQL Server Agent state not visible (VIEW SERVER STATE)");
  }
  if (agent && text(agent.status_desc).toLowerCase() !== "running") {
    throw new SourceError(
      "SOURCE_CDC_AGENT_STOPPED",
      `SQL Server Agent is ${text(agent.status_desc).toLowerCase() || "not running"}: its CDC capture job moves changes into the change tables, so none arrive. Start SQL Server Agent (Linux: mssql-conf set sqlagent.enabled true, then restart)`,
      false,
    );
  }
  let jobs: Readonly<Record<string, unknown>> | undefined;
  try {
    jobs = (await connection.query(CAPTURE_JOB_SQL, {}, signal)).rows[0];
  } catch {
    logger.log("debug", "sqlserver source: msdb.dbo.cdc_jobs not visible to the login");
  }
  if (jobs && Number(jobs.capture_jobs) === 0) {
    throw new SourceError(
      "SOURCE_CDC_CAPTURE_JOB_MISSING",
      `database ${catalog.database} has no CDC capture job, so no changes reach the change tables: run EXEC sys.sp_cdc_add_job @job_type = N'capture' in it`,
      false,
    );
  }
}
