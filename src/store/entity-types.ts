import type { SqlExecutor } from "../ports/sql.ts";

/** How many of the latest change-log rows `isEntityTypeCaptured` looks at, at most. */
export const RECENT_CHANGES_CHECKED = 10_000;

/**
 * Whether changes of `entityType` can reach an observer of `tenant` (null: a global observer):
 * a table is tracked under that name (a row of `core.tb_tracked_table`, written by
 * `core.fn_track_table`, whose table still exists and still has a capture trigger), or one of the
 * latest `RECENT_CHANGES_CHECKED` change-log rows, of that tenant when one is given, carries it
 * (producers writing the log directly), or a source (`core.tb_source`, `POST /api/sources`) lists
 * a table with that entity type. All are cheap and bounded: the record holds one row per
 * tracked table, sources are few, and the latest rows come from the primary key's index.
 *
 * A table dropped with DROP TABLE keeps its row (migration 0010 says why), hence the joins: its
 * oid no longer names a table with our triggers.
 */
export async function isEntityTypeCaptured(
  sql: SqlExecutor,
  entityType: string,
  tenant: string | null,
): Promise<boolean> {
  const rows = await sql.query<{ captured: boolean }>(
    `SELECT EXISTS (
         SELECT 1 FROM core.tb_tracked_table tracked
         JOIN pg_catalog.pg_class c ON c.oid = tracked.tracked_table
         WHERE tracked.entity_type = $1::text
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                       WHERE t.tgrelid = c.oid AND t.tgname IN ('fraiseql_observers_capture_insert',
                         'fraiseql_observers_capture_update', 'fraiseql_observers_capture_delete')))
       OR EXISTS (
         SELECT 1 FROM core.tb_source s, jsonb_array_elements(s.tables) t
         WHERE t ->> 'entity_type' = $1::text)
       OR EXISTS (
         SELECT 1 FROM (
           SELECT object_type, fk_customer_org, tenant_id FROM core.tb_entity_change_log
           ORDER BY pk_entity_change_log DESC LIMIT $3::integer) recent
         WHERE recent.object_type = $1::text
           AND ($2::text IS NULL
             OR COALESCE(recent.fk_customer_org::text, recent.tenant_id::text) = $2::text))
       AS captured`,
    [entityType, tenant, RECENT_CHANGES_CHECKED],
  );
  return rows[0]?.captured === true;
}
