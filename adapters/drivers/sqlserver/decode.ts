/**
 * Change-table values, as tedious returns them for the select list of `queries.ts`, to JSON:
 *
 * | SQL Server                                   | arrives as (tedious / our CONVERT) | JSON                                   |
 * | -------------------------------------------- | ---------------------------------- | -------------------------------------- |
 * | bit                                          | boolean                            | true / false                           |
 * | tinyint, smallint, int, real, float          | number                             | number                                 |
 * | bigint                                       | string (tedious: exact)            | number within ±(2^53−1), else string   |
 * | decimal, numeric                             | string (CONVERT)                   | exact string, as stored: "12.50"       |
 * | money, smallmoney                            | string (CONVERT style 2)           | exact string, 4 decimals: "12.5000"    |
 * | date                                         | Date (UTC fields = the date)       | "2024-01-31"                           |
 * | datetime, smalldatetime                      | Date (UTC fields = the wall clock) | "2024-01-31T13:45:00.123" (no zone)    |
 * | datetime2                                    | string (CONVERT style 121)         | "2024-01-31T13:45:00.1234567" (no zone)|
 * | datetimeoffset                               | string (CONVERT style 121)         | "2024-01-31T13:45:00.1234567+02:00"    |
 * | time                                         | string (CONVERT style 121)         | "13:45:00.1234567"                     |
 * | char, varchar, nchar, nvarchar, text, ntext, xml, sysname | string                | string                                 |
 * | uniqueidentifier                             | string (uppercase)                 | lowercase string                       |
 * | binary, varbinary, image, timestamp/rowversion | Buffer                           | base64 string                          |
 * | hierarchyid, geometry, geography             | string (CONVERT: ToString(), WKT)   | string                                 |
 * | NULL                                         | null                               | null                                   |
 *
 * Fractional digits are the column's scale, as SQL Server prints them.
 */
import type { JsonObject, JsonValue } from "../../../src/json.ts";
import type { CapturedColumn } from "./queries.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER_TEXT = /^-?\d+$/;

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** bigint: a number while exact, the decimal string beyond 2^53 (never a rounded double). */
function decodeBigint(value: unknown): JsonValue {
  const text = typeof value === "bigint" ? value.toString() : String(value);
  if (!INTEGER_TEXT.test(text)) return text;
  const big = BigInt(text);
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
}

/** A Date whose UTC fields are a wall clock (tedious with useUTC) to ISO 8601 without a zone. */
function wallClock(value: Date): string {
  return value.toISOString().slice(0, 23);
}

/** `yyyy-mm-dd hh:mi:ss[.f] [+hh:mm]` (style 121) to ISO 8601. */
function isoFrom121(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?: ?([+-]\d{2}:\d{2}))?$/.exec(
    text.trim(),
  );
  if (!match) return text;
  return `${match[1]}T${match[2]}${match[3] ?? ""}`;
}

/** A value of a type this file does not name, by what it is at run time. */
function decodeOther(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return decodeBigint(value);
  if (value instanceof Uint8Array) return base64(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : wallClock(value);
  return String(value);
}

/** One value of a column of type `type` (lowercase T-SQL name). */
export function decodeValue(type: string, value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "bit":
      return typeof value === "boolean" ? value : Boolean(value);
    case "bigint":
      return decodeBigint(value);
    case "decimal":
    case "numeric":
    case "money":
    case "smallmoney":
      return typeof value === "string" ? value.trim() : String(value);
    case "date":
      return value instanceof Date ? value.toISOString().slice(0, 10) : String(value);
    case "datetime":
    case "smalldatetime":
      return value instanceof Date ? wallClock(value) : isoFrom121(String(value));
    case "datetime2":
    case "datetimeoffset":
      return typeof value === "string" ? isoFrom121(value) : decodeOther(value);
    case "time":
      return typeof value === "string" ? value.trim() : decodeOther(value);
    case "uniqueidentifier":
      return String(value).toLowerCase();
    default:
      return decodeOther(value);
  }
}

/** One change-table row's captured columns (the `__$` columns left out), decoded. */
export function decodeRow(
  columns: readonly CapturedColumn[],
  row: Readonly<Record<string, unknown>>,
): JsonObject {
  const out: JsonObject = {};
  for (const column of columns) out[column.name] = decodeValue(column.type, row[column.name]);
  return out;
}
