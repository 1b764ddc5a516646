/**
 * The SQL the reader sends. Values travel as parameters; the one name that must be part of the
 * text, a capture instance's (it is part of a function's name), is checked against
 * `[A-Za-z0-9_]` and bracket-quoted, and column names are bracket-quoted with `]` doubled.
 */
import { SourceError } from "../../../src/ports/source.ts";

/** The database, whether CDC is on in it, and the engine edition (5: Azure SQL Database). */
export const DATABASE_SQL =
  "SELECT DB_NAME() AS database_name, CAST(d.is_cdc_enabled AS int) AS is_cdc_enabled, CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition FROM sys.databases AS d WHERE d.database_id = DB_ID()";

/**
 * The capture instances the login may read (for a login outside db_owner, only those whose
 * captured columns it may SELECT and whose gating role it is in).
 */
export const CAPTURE_INSTANCES_SQL = "EXEC sys.sp_cdc_help_change_data_capture";

/** Whether a table exists (and is visible to the login) and is tracked by CDC. */
export const TABLE_SQL =
  "SELECT CAST(t.is_tracked_by_cdc AS int) AS is_tracked_by_cdc FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id WHERE s.name = @schema AND t.name = @table";

/** The captured columns of one capture instance, with their types in the change table. */
export const CAPTURED_COLUMNS_SQL =
  "EXEC sys.sp_cdc_get_captured_columns @capture_instance = @instance";

/** Best effort: the SQL Server Agent service's state (needs VIEW SERVER STATE). */
export const AGENT_SQL =
  "SELECT status_desc FROM sys.dm_server_services WHERE servicename LIKE N'SQL Server Agent%'";

/** Best effort: the database's CDC capture job (needs SELECT on msdb.dbo.cdc_jobs). */
export const CAPTURE_JOB_SQL =
  "SELECT COUNT(*) AS capture_jobs FROM msdb.dbo.cdc_jobs WHERE database_id = DB_ID() AND job_type = N'capture'";

/** The newest LSN the capture job has written. */
export const MAX_LSN_SQL = "SELECT sys.fn_cdc_get_max_lsn() AS max_lsn";

/** The LSN just before `@lsn`, where a start at `"beginning"` is recorded. */
export const DECREMENT_LSN_SQL = "SELECT sys.fn_cdc_decrement_lsn(@lsn) AS lsn";

/** `[name]`, with `]` doubled: a safe T-SQL identifier for any column name. */
export function quoteIdentifier(name: string): string {
  return `[${name.replace(/]/g, "]]")}]`;
}

const INSTANCE_NAME = /^[A-Za-z0-9_]{1,100}$/;

/** A capture instance name safe to put into a function name; a `SourceError` otherwise. */
export function checkInstanceName(instance: string): string {
  if (!INSTANCE_NAME.test(instance)) {
    throw new SourceError(
      "SOURCE_CAPTURE_INSTANCE_UNSAFE",
      `capture instance ${JSON.stringify(instance.slice(0, 128))} has characters other than letters, digits and _: recreate it with sys.sp_cdc_enable_table @capture_instance = a plain name`,
      false,
    );
  }
  return instance;
}

/**
 * Per poll: the newest LSN and its commit time, the next LSN after the position, the server's UTC
 * offset now (minutes), and per capture instance its oldest LSN, that LSN's commit time and the
 * LSN before it. Instances are parameters (`@i0`, `@i1`, ...).
 */
export function headSql(instanceCount: number): string {
  const parts = [
    "sys.fn_cdc_get_max_lsn() AS max_lsn",
    "sys.fn_cdc_map_lsn_to_time(sys.fn_cdc_get_max_lsn()) AS max_time",
    "sys.fn_cdc_increment_lsn(@after) AS from_lsn",
    "DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes",
  ];
  for (let i = 0; i < instanceCount; i++) {
    parts.push(
      `sys.fn_cdc_get_min_lsn(@i${i}) AS min_lsn_${i}`,
      `sys.fn_cdc_map_lsn_to_time(sys.fn_cdc_get_min_lsn(@i${i})) AS min_time_${i}`,
      `sys.fn_cdc_decrement_lsn(sys.fn_cdc_get_min_lsn(@i${i})) AS before_min_lsn_${i}`,
    );
  }
  return `SELECT ${parts.join(", ")}`;
}

/** A captured column and its type in the change table (lowercase T-SQL name). */
export interface CapturedColumn {
  name: string;
  type: string;
  /** Its bit in `__$update_mask` (`column_ordinal`, from 1). */
  ordinal: number;
  /**
   * text, ntext, image or a (max) type: CDC writes NULL for it in an update's before row unless
   * it changed (cdc.<capture_instance>_CT, "Large Object Data Types").
   */
  lob: boolean;
}

/**
 * A column's select-list expression. Types tedious would round or strip are converted to text
 * by SQL Server itself: decimal/numeric (tedious: a double), money/smallmoney (a double),
 * datetime2/time (a Date: milliseconds), datetimeoffset (a Date: the offset is lost), and the CLR
 * types hierarchyid/geometry/geography (their ToString()). Everything else goes as tedious
 * returns it.
 */
export function columnExpression(column: CapturedColumn): string {
  const name = quoteIdentifier(column.name);
  switch (column.type) {
    case "decimal":
    case "numeric":
      return `CONVERT(varchar(48), ${name}) AS ${name}`;
    case "money":
    case "smallmoney":
      // Style 2: no thousands separators, four decimals (CAST and CONVERT, money styles).
      return `CONVERT(varchar(32), ${name}, 2) AS ${name}`;
    case "datetime2":
    case "datetimeoffset":
    case "time":
      // Style 121 (ODBC canonical): yyyy-mm-dd hh:mi:ss[.fffffff][ +hh:mm], scale digits.
      return `CONVERT(varchar(40), ${name}, 121) AS ${name}`;
    case "hierarchyid":
    case "geometry":
    case "geography":
      return `CONVERT(nvarchar(max), ${name}) AS ${name}`;
    default:
      return name;
  }
}

/**
 * One capture instance's changes from `@from_lsn` to `@to_lsn`, at most `@limit` rows, in the
 * order they apply: commit LSN, then `__$seqval` (the order within the transaction), then
 * `__$operation` (so 3, update-before, comes just before its 4). `__$commit_time` is the
 * transaction's commit time (server local time, `cdc.lsn_time_mapping.tran_end_time`).
 */
export function changesSql(instance: string, columns: readonly CapturedColumn[]): string {
  const select = [
    "__$start_lsn",
    "__$seqval",
    "__$operation",
    "__$update_mask",
    "sys.fn_cdc_map_lsn_to_time(__$start_lsn) AS [__$commit_time]",
    ...columns.map(columnExpression),
  ].join(", ");
  const fn = `cdc.${quoteIdentifier(`fn_cdc_get_all_changes_${checkInstanceName(instance)}`)}`;
  return `SELECT TOP (@limit) ${select} FROM ${fn}(@from_lsn, @to_lsn, N'all update old') ORDER BY __$start_lsn, __$seqval, __$operation`;
}
