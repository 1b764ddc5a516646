import { ChangeEventError } from "../errors.ts";

type Integer = string | number | bigint;

/** A `core.tb_entity_change_log` row as SQL drivers return it (JSONB as objects or as text). */
export interface ChangeLogRow {
  id: string;
  pk_entity_change_log?: Integer | null;
  object_type: string;
  modification_type: string;
  object_id?: Integer | null;
  object_data?: unknown;
  object_data_before?: unknown;
  fk_customer_org?: Integer | null;
  /** FraiseQL producers' UUID tenant stamp, read when `fk_customer_org` is absent. */
  tenant_id?: string | null;
  created_at: Date | string;
  /** The writing transaction's id (`xid8`), when the producer recorded it. */
  transaction_id?: Integer | null;
}

/**
 * Checks the columns the reader uses, naming the first one that is wrong. Hand-written rather
 * than a schema library: it runs once per captured change, the hottest path there is.
 */
export function readChangeLogRow(row: unknown): ChangeLogRow {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    throw new ChangeEventError("row", "must be an object with the change-log columns");
  }
  const r = row as Record<string, unknown>;
  requireText(r, "id", "must be the change's UUID (a string)");
  optionalInteger(r, "pk_entity_change_log");
  requireText(r, "object_type", "must name the entity type (a non-empty string)");
  if (typeof r.modification_type !== "string") {
    throw new ChangeEventError("modification_type", "must be INSERT, UPDATE, DELETE or CUSTOM");
  }
  optionalInteger(r, "object_id");
  optionalInteger(r, "fk_customer_org");
  if (r.tenant_id != null && typeof r.tenant_id !== "string") {
    throw new ChangeEventError("tenant_id", "must be a string");
  }
  if (!(r.created_at instanceof Date) && typeof r.created_at !== "string") {
    throw new ChangeEventError("created_at", "must be a timestamp");
  }
  optionalInteger(r, "transaction_id");
  return r as unknown as ChangeLogRow;
}

function requireText(r: Record<string, unknown>, column: string, message: string): void {
  const value = r[column];
  if (typeof value !== "string" || value === "") throw new ChangeEventError(column, message);
}

function optionalInteger(r: Record<string, unknown>, column: string): void {
  const value = r[column];
  if (value == null) return;
  if (typeof value === "string" || typeof value === "bigint") return;
  if (typeof value === "number" && Number.isInteger(value)) return;
  throw new ChangeEventError(column, "must be an integer (a number, bigint or decimal string)");
}
