/** Small helpers the store's statements share. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` is a UUID: anything else is "not found", never an SQL cast error. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * A timestamptz column as ISO 8601 UTC with milliseconds (`2024-05-01T12:00:00.123Z`), the same
 * text whatever the driver or the session's time zone.
 */
export function isoColumn(column: string, alias = column.split(".").at(-1)): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${alias}`;
}

/** A BIGINT read as text: a number when it is exact as one, else the text. */
export function bigintValue(text: string | null): number | string | null {
  if (text === null) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/** PostgreSQL's SQLSTATE on a driver error (postgres.js and PGlite both expose `code`). */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

/** `unique_violation`. */
export const UNIQUE_VIOLATION = "23505";

/** `query_canceled`: a `statement_timeout` (or a cancel request) stopped the statement. */
export const QUERY_CANCELED = "57014";

/**
 * The tenant scope as SQL: `$n` (a tenant id as text, or NULL for every tenant) restricts
 * `column` to that tenant.
 */
export function tenantCondition(column: string, n: number): string {
  return `($${n}::text::bigint IS NULL OR ${column} = $${n}::text::bigint)`;
}

/**
 * The observer's half of the tenant scope, for rows that record what an observer did (log rows,
 * dead letters, live executions): with `$n` a tenant id, only rows of an observer bound to that
 * tenant. The change's tenant alone is not enough: a global (admin-owned, `fk_customer_org` NULL)
 * observer runs on every tenant's changes, and what it did (its errors, its targets' answers, its
 * replays) belongs to whoever owns it. A row whose observer row is gone (hard-deleted by hand)
 * cannot say whose it was and is left to unscoped callers; `orNoObserver` lets rows that concern no
 * observer at all (`observerPk` NULL: a change that could not be read) through on the change's
 * tenant alone.
 */
export function observerTenantCondition(
  observerPk: string,
  n: number,
  orNoObserver = false,
): string {
  return `($${n}::text::bigint IS NULL${orNoObserver ? ` OR ${observerPk} IS NULL` : ""}
    OR EXISTS (SELECT 1 FROM core.tb_observer scope_o
               WHERE scope_o.pk_observer = ${observerPk}
                 AND scope_o.fk_customer_org = $${n}::text::bigint))`;
}

/** Which rows a caller may see: a tenant id (as text) restricts them to that tenant. */
export interface TenantScope {
  /** Null or absent: every tenant (an unbound key or the admin token). */
  tenant?: string | null;
}

/** A page of a list, as every list endpoint answers. */
export interface Page<T> {
  data: T[];
  page: number;
  page_size: number;
  total_count: number;
  total_pages: number;
}

/** Which page to read: 1-based `page`, `pageSize` rows. */
export interface PageRequest {
  page: number;
  pageSize: number;
}

/** LIMIT and OFFSET of a page request (guarding against nonsense values). */
export function pageBounds(request: PageRequest): { page: number; limit: number; offset: number } {
  const page = Math.max(1, Math.trunc(request.page));
  const limit = Math.max(1, Math.trunc(request.pageSize));
  return { page, limit, offset: (page - 1) * limit };
}

/** Assembles a `Page` from the rows and the total count. */
export function toPage<T>(data: T[], page: number, limit: number, total: number): Page<T> {
  return {
    data,
    page,
    page_size: limit,
    total_count: total,
    total_pages: Math.ceil(total / limit),
  };
}
