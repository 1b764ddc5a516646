/**
 * core.fn_track_table with hostile entity types and column names: each is tracked with its exact
 * name, or refused, and never runs SQL of its own (with check_function_bodies on or off).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { quoteIdent } from "../support/postgres.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("capture_injection");
});
afterAll(() => db?.drop());

/**
 * A payload that, spliced into the old `$capture$ ... $capture$` body, ends the body, grants
 * PUBLIC every right on schema core and creates a table, then opens a dollar quote that swallows
 * the text up to the next occurrence (each name appears several times in the body).
 */
function payload(table: string): string {
  return `$capture$;GRANT ALL ON SCHEMA core TO public;CREATE TABLE IF NOT EXISTS public.${table}();SELECT $capture$`;
}
// Column names are at most 63 bytes: this one fits and still grants.
const COLUMN_PAYLOAD = "$capture$;GRANT ALL ON SCHEMA core TO public;SELECT $capture$";

const HOSTILE_ENTITIES = [
  `Order${payload("pwned_entity")}`,
  "$$ dollar $$",
  "$capture$",
  'O\'Brien "quoted"',
  "semi; DROP TABLE core.tb_entity_change_log; --",
  "back\\slash\\' \\\\",
  "Ördér ✓ 注文 🚀",
  "line\nbreak\ttab",
];

const HOSTILE_COLUMNS = [
  "$capture$",
  "$$",
  "it's",
  'say "hi"',
  "semi;colon",
  "back\\slash",
  "ünï ✓ 列",
  "%s %L %1$I",
];

/** What an injected payload would leave behind; all must stay false. */
async function injected(): Promise<Record<string, boolean>> {
  const [row] = await db.sql<{ table: boolean; grant: boolean }[]>`
    SELECT to_regclass('public.pwned_entity') IS NOT NULL AS table,
      has_schema_privilege('public', 'core', 'CREATE') AS grant`;
  return { table: row?.table ?? true, grant: row?.grant ?? true };
}

/** Tracks `table` in a transaction, with check_function_bodies as given. */
async function track(table: string, entity: string, options: object, checkBodies: boolean) {
  await db.sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL check_function_bodies = ${checkBodies ? "on" : "off"}`);
    await tx`SELECT core.fn_track_table(${table}::regclass, ${entity}, ${JSON.stringify(options)}::text::jsonb)`;
  });
}

/** The change-log rows of one entity type from one table. */
function changes(entity: string, table: string) {
  return db.sql<{ modification_type: string; object_id: string; object_data: string }[]>`
    SELECT modification_type, object_id, object_data::text AS object_data
    FROM core.tb_entity_change_log
    WHERE object_type = ${entity} AND object_data -> 'source' ->> 'table' = ${table}
    ORDER BY pk_entity_change_log`;
}

describe.each([
  ["off", false],
  ["on", true],
])("fn_track_table with check_function_bodies = %s", (label, checkBodies) => {
  it("tracks hostile entity types under their exact names and runs none of them", async () => {
    const tables = HOSTILE_ENTITIES.map((_, i) => `entity_${label}_${i}`);
    for (const [i, entity] of HOSTILE_ENTITIES.entries()) {
      await db.sql.unsafe(`CREATE TABLE ${tables[i]} (id int PRIMARY KEY, label text)`);
      await track(tables[i] as string, entity, {}, checkBodies);
    }
    // Checked before any write: a body broken by an injection would fail there first.
    expect(await injected()).toEqual({ table: false, grant: false });
    for (const [i, entity] of HOSTILE_ENTITIES.entries()) {
      const table = tables[i] as string;
      await db.sql.unsafe(`INSERT INTO ${table} VALUES (1, 'a')`);
      await db.sql.unsafe(`UPDATE ${table} SET label = 'b'`);
      await db.sql.unsafe(`DELETE FROM ${table}`);
      const rows = await changes(entity, table);
      expect(rows.map((r) => [r.modification_type, r.object_id])).toEqual([
        ["INSERT", "1"],
        ["UPDATE", "1"],
        ["DELETE", "1"],
      ]);
    }
    expect(await injected()).toEqual({ table: false, grant: false });
  });

  it("captures hostile column names exactly, as the id, the tenant and chosen columns", async () => {
    const table = `columns_${label}`;
    const columns = HOSTILE_COLUMNS.map((name) => `${quoteIdent(name)} text`).join(", ");
    await db.sql.unsafe(
      `CREATE TABLE ${table} (${quoteIdent(COLUMN_PAYLOAD)} int PRIMARY KEY, ${quoteIdent("$tenant$")} int, ${columns})`,
    );
    const entity = `Columns_${label}`;
    // Whole rows, with the hostile primary key as id and a hostile tenant column.
    await track(table, entity, { tenant_column: "$tenant$" }, checkBodies);
    expect(await injected()).toEqual({ table: false, grant: false });
    const values = HOSTILE_COLUMNS.map((name) => `'${name.replaceAll("'", "''")}'`).join(", ");
    await db.sql.unsafe(`INSERT INTO ${table} VALUES (7, 3, ${values})`);
    await db.sql.unsafe(`UPDATE ${table} SET ${quoteIdent("it's")} = 'changed'`);
    const image = {
      [COLUMN_PAYLOAD]: 7,
      $tenant$: 3,
      ...Object.fromEntries(HOSTILE_COLUMNS.map((name) => [name, name])),
    };
    const rows = await changes(entity, table);
    expect(rows.map((r) => [r.modification_type, r.object_id])).toEqual([
      ["INSERT", "7"],
      ["UPDATE", "7"],
    ]);
    expect(rows.map((r) => JSON.parse(r.object_data))).toMatchObject([
      { op: "c", before: null, after: image },
      { op: "u", before: image, after: { ...image, "it's": "changed" } },
    ]);
    const [tenants] = await db.sql`
      SELECT array_agg(DISTINCT fk_customer_org)::text AS orgs
      FROM core.tb_entity_change_log WHERE object_type = ${entity}`;
    expect(tenants?.orgs).toBe("{3}");

    // Chosen columns only: each hostile name is a key of the image and a column reference.
    const chosen = `${entity}_chosen`;
    await track(table, chosen, { columns: [COLUMN_PAYLOAD, ...HOSTILE_COLUMNS] }, checkBodies);
    await db.sql.unsafe(`DELETE FROM ${table}`);
    const [deleted] = await changes(chosen, table);
    const { $tenant$: _, ...withoutTenant } = { ...image, "it's": "changed" };
    expect(JSON.parse(deleted?.object_data ?? "{}")).toMatchObject({
      op: "d",
      before: withoutTenant,
    });
    expect(Object.keys(JSON.parse(deleted?.object_data ?? "{}").before).sort()).toEqual(
      Object.keys(withoutTenant).sort(),
    );
    expect(await injected()).toEqual({ table: false, grant: false });
  });
});

describe("the capture functions fn_track_table creates", () => {
  it("are SECURITY DEFINER with pg_temp last in their search_path", async () => {
    await db.sql`CREATE TABLE pinned (id int PRIMARY KEY)`;
    await db.sql`SELECT core.fn_track_table('pinned', 'Pinned')`;
    const [fn] = await db.sql<{ secdef: boolean; config: string[] }[]>`
      SELECT prosecdef AS secdef, proconfig AS config FROM pg_proc
      WHERE proname = core.fn_capture_function_name('pinned') AND pronamespace = 'core'::regnamespace`;
    expect(fn).toEqual({ secdef: true, config: ["search_path=pg_catalog, core, pg_temp"] });
  });
});
