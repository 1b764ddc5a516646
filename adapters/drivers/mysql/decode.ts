/**
 * Binlog row values (as @vlasky/zongji decodes them, with `dateStrings` and `timezone: "Z"`) to
 * JSON, faithfully: DECIMAL stays the exact string zongji gives, BIGINT beyond 2^53 the exact
 * string, DATETIME an ISO 8601 local date-time without zone (MySQL stores none), TIMESTAMP an ISO
 * 8601 instant in UTC (`...Z`), DATE `YYYY-MM-DD`, JSON columns as JSON, BLOB/BINARY/BIT as
 * base64, NULL as null.
 */
import type { JsonObject, JsonValue } from "../../../src/json.ts";

/** MySQL column type codes (include/mysql_com.h, enum_field_types) this file distinguishes. */
const TIMESTAMP = new Set([7, 17]);
const DATETIME = new Set([12, 18]);
const FLOAT = 4;
const YEAR = 13;
const ENUM = 247;
const SET = 248;

/**
 * A column as zongji's table map describes it. ENUM and SET columns have type STRING (254) there;
 * their real type is `metadata.type`.
 */
export interface BinlogColumn {
  name: string;
  type: number;
  metadata?: { type?: number } | null;
}

/** The shortest decimal that reads back as the same 32-bit float (MySQL shows 3.14, not 3.140000104904175). */
function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` as ISO; zero dates (0000-00-00) stay as MySQL writes them. */
function isoDateTime(text: string, utc: boolean): string {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/.test(text) || text.startsWith("0000-00-00")) {
    return text;
  }
  return `${text.replace(" ", "T")}${utc ? "Z" : ""}`;
}

/** Any other value zongji returns (JSON documents, SETs, numbers) to JSON. */
function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (isBytes(value)) return base64(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = toJson(item);
    return out;
  }
  return String(value);
}

/** One column's value. */
export function decodeValue(column: BinlogColumn | undefined, value: unknown): JsonValue {
  if (column && value !== null) {
    const real = column.metadata?.type ?? column.type;
    // zongji joins a SET's members with commas (which members cannot contain).
    if (real === SET && typeof value === "string") return value === "" ? [] : value.split(",");
    // The empty string a non-strict server stores for an invalid ENUM value has index 0, which
    // zongji finds no member for.
    if (real === ENUM && value === undefined) return "";
    // YEAR stores 0 for 0000 (1901–2155 otherwise), which zongji reads as 1900 + 0.
    if (real === YEAR && value === 1900) return 0;
    if (real === FLOAT && typeof value === "number") return shortestFloat32(value);
  }
  if (typeof value === "string" && column) {
    if (TIMESTAMP.has(column.type)) return isoDateTime(value, true);
    if (DATETIME.has(column.type)) return isoDateTime(value, false);
  }
  return toJson(value);
}

/** One row image: every column zongji decoded, by name. */
export function decodeRow(
  columns: readonly BinlogColumn[],
  row: Readonly<Record<string, unknown>>,
): JsonObject {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const out: JsonObject = {};
  for (const [name, value] of Object.entries(row)) out[name] = decodeValue(byName.get(name), value);
  return out;
}
