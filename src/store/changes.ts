/**
 * "Where do I get an event id?": the captured changes of `core.tb_entity_change_log`, newest
 * first, filtered, a page at a time by keyset (`pk_entity_change_log`, the primary key: each page
 * reads one range of it backwards, never an OFFSET).
 */
import { ConfigError } from "../errors.ts";
import { eventTypeOf, modificationTypesOf } from "../events/normalize.ts";
import type { EventType } from "../events/types.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { bigintValue, isoColumn, type TenantScope, tenantCondition } from "./common.ts";
import { arrayLiteral } from "./pg-array.ts";
import { timeRange, timeRangeCondition } from "./time-range.ts";

/** Which changes to list. */
export interface ChangeListOptions extends TenantScope {
  entityType?: string;
  eventType?: EventType;
  entityId?: string;
  /** ISO 8601 with a time zone; the range is `since <= created_at < until`. */
  since?: string;
  until?: string;
  /** A `next_cursor` of an earlier page: only changes older than it. */
  cursor?: string;
  limit: number;
}

/** One captured change as listed. */
export interface ChangeSummary {
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  /** INSERT, UPDATE, DELETE or CUSTOM; a `modification_type` the runtime cannot read, upper case. */
  event_type: string;
  fk_customer_org: number | string | null;
  trace_id: string | null;
  created_at: string;
}

/** A page of changes and the cursor of the next (older) one, null at the end. */
export interface ChangePage {
  data: ChangeSummary[];
  next_cursor: string | null;
}

/** A cursor is the last listed row's key: a positive BIGINT, as decimal text. */
const CURSOR = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9223372036854775807n;

function checkedCursor(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  if (!CURSOR.test(cursor) || BigInt(cursor) > MAX_BIGINT) {
    throw new ConfigError([
      { path: "cursor", message: "must be a next_cursor of an earlier page of this list" },
    ]);
  }
  return cursor;
}

interface Row extends Record<string, unknown> {
  pk: string;
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  modification_type: string;
  fk_customer_org: string | null;
  trace_id: string | null;
  created_at: string;
}

/**
 * The newest changes matching the filters (a scoped caller: its tenant's only), `limit` at most,
 * older than `cursor` when given. `ConfigError` naming the field for a bad time range or cursor.
 */
export async function listChanges(
  sql: SqlExecutor,
  options: ChangeListOptions,
): Promise<ChangePage> {
  const range = timeRange({ since: options.since ?? null, until: options.until ?? null });
  const cursor = checkedCursor(options.cursor);
  const modifications =
    options.eventType === undefined ? null : modificationTypesOf(options.eventType);
  const rows = await sql.query<Row>(
    `SELECT c.pk_entity_change_log::text AS pk, c.id::text AS event_id,
       c.object_type AS entity_type, c.object_id::text AS entity_id, c.modification_type,
       c.fk_customer_org::text AS fk_customer_org, c.trace_id, ${isoColumn("c.created_at")}
     FROM core.tb_entity_change_log c
     WHERE ${tenantCondition("c.fk_customer_org", 1)}
       AND ($2::text IS NULL OR c.pk_entity_change_log < $2::text::bigint)
       AND ($3::text IS NULL OR c.object_type = $3::text)
       AND ($4::text IS NULL OR c.object_id::text = $4::text)
       AND ($5::text::text[] IS NULL OR upper(c.modification_type) = ANY($5::text::text[]))
       AND ${timeRangeCondition("c.created_at", 6)}
     ORDER BY c.pk_entity_change_log DESC
     LIMIT $8::int`,
    [
      options.tenant ?? null,
      cursor,
      options.entityType ?? null,
      options.entityId ?? null,
      modifications === null ? null : arrayLiteral(modifications),
      range.since,
      range.until,
      options.limit + 1,
    ],
  );
  const more = rows.length > options.limit;
  const page = more ? rows.slice(0, options.limit) : rows;
  return {
    data: page.map((row) => ({
      event_id: row.event_id,
      entity_type: row.entity_type,
      entity_id: row.entity_id,
      event_type: eventTypeOf(row.modification_type) ?? row.modification_type.toUpperCase(),
      fk_customer_org: bigintValue(row.fk_customer_org),
      trace_id: row.trace_id,
      created_at: row.created_at,
    })),
    next_cursor: more ? (page.at(-1)?.pk ?? null) : null,
  };
}
