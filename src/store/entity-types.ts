import type { SqlExecutor } from "../ports/sql.ts";

/** How many of the latest change-log rows `isEntityTypeCaptured` looks at, at most. */
export const RECENT_CHANGES_CHECKED = 10_000;

/**
 * Whether changes of `entityType` can reach an observer of `tenant` (null: a global observer):
 * a table is tracked under that name (a capture function from `core.fn_track_table` that a
 * trigger still uses), or one of the latest `RECENT_CHANGES_CHECKED` change-log rows, of that
 * tenant when one is given, carries it (producers writing the log directly). Both are cheap and
 * bounded: the catalog holds one capture function per tracked table, and the latest rows come
 * from the primary key's index.
 *
 * Nothing records the entity type of a tracked table but the capture function's body, which
 * fn_track_table writes as `SELECT <entity type literal>, 'INSERT'` (migrations 0002 and 0007):
 * the test looks for that literal, quoted the same way (`format('%L')`).
 */
export async function isEntityTypeCaptured(
  sql: SqlExecutor,
  entityType: string,
  tenant: string | null,
): Promise<boolean> {
  const rows = await sql.query<{ captured: boolean }>(
    `SELECT EXISTS (
         SELECT 1 FROM pg_catalog.pg_proc p
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'core' AND p.proname ~ '^fn_capture_[0-9]+$'
           AND strpos(p.prosrc, format('SELECT %L, ''INSERT''', $1::text)) > 0
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgfoid = p.oid))
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
