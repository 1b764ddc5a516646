/**
 * core.tb_tracked_table (migration 0010): fn_track_table records the table and its entity type,
 * fn_untrack_table removes it, isEntityTypeCaptured reads it, a table tracked before 0010 is
 * backfilled, and tracking prints no NOTICE.
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import { isEntityTypeCaptured } from "../../src/store/entity-types.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

interface TrackedRow {
  tracked_table: string;
  qualified_name: string;
  entity_type: string;
  options: unknown;
}

const databases: TestDatabase[] = [];
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("tracked_tables");
  databases.push(db);
});
afterAll(() => Promise.all(databases.map((d) => d.drop())));

const rows = (d: TestDatabase) =>
  d.sql<TrackedRow[]>`
    SELECT tracked_table::oid::text AS tracked_table, qualified_name, entity_type, options
    FROM core.tb_tracked_table ORDER BY qualified_name`;
const oidOf = async (d: TestDatabase, table: string) =>
  (await d.sql<{ oid: string }[]>`SELECT ${table}::regclass::oid::text AS oid`)[0]?.oid;

describe("core.tb_tracked_table", () => {
  it("tracking records the row, re-tracking updates it, untracking removes it", async () => {
    await db.sql`CREATE SCHEMA "Shop"`;
    await db.sql`CREATE TABLE "Shop"."Orders" (id int PRIMARY KEY, note text)`;
    const oid = await oidOf(db, '"Shop"."Orders"');
    expect(await isEntityTypeCaptured(db.client, "Order", null)).toBe(false);

    await db.sql`SELECT core.fn_track_table('"Shop"."Orders"', 'Order', '{"notify": false}')`;
    expect(await rows(db)).toEqual([
      {
        tracked_table: oid,
        qualified_name: '"Shop"."Orders"',
        entity_type: "Order",
        options: { notify: false },
      },
    ]);
    expect(await isEntityTypeCaptured(db.client, "Order", null)).toBe(true);
    expect(await isEntityTypeCaptured(db.client, "Order", "7")).toBe(true);

    await db.sql`SELECT core.fn_track_table('"Shop"."Orders"', 'Purchase')`;
    expect(await rows(db)).toEqual([
      {
        tracked_table: oid,
        qualified_name: '"Shop"."Orders"',
        entity_type: "Purchase",
        options: {},
      },
    ]);
    expect(await isEntityTypeCaptured(db.client, "Order", null)).toBe(false);
    expect(await isEntityTypeCaptured(db.client, "Purchase", null)).toBe(true);

    await db.sql`SELECT core.fn_untrack_table('"Shop"."Orders"')`;
    expect(await rows(db)).toEqual([]);
    expect(await isEntityTypeCaptured(db.client, "Purchase", null)).toBe(false);
  });

  it("a refused track records nothing", async () => {
    await db.sql`CREATE TABLE public.refused (id int PRIMARY KEY)`;
    await expect(
      db.sql`SELECT core.fn_track_table('public.refused', 'Refused', '{"bogus": 1}')`,
    ).rejects.toThrow(/unknown option "bogus"/);
    expect((await rows(db)).filter((r) => r.entity_type === "Refused")).toEqual([]);
  });

  it("a dropped table is not reported as tracked, and its row does not block others", async () => {
    await db.sql`CREATE TABLE public.doomed (id int PRIMARY KEY)`;
    await db.sql`SELECT core.fn_track_table('public.doomed', 'Doomed')`;
    expect(await isEntityTypeCaptured(db.client, "Doomed", null)).toBe(true);
    await db.sql`DROP TABLE public.doomed`;
    // The row stays until the next track (no event trigger without superuser), ignored meanwhile.
    expect((await rows(db)).map((r) => r.entity_type)).toContain("Doomed");
    expect(await isEntityTypeCaptured(db.client, "Doomed", null)).toBe(false);

    // A table whose capture triggers were dropped by hand is not tracked either.
    await db.sql`CREATE TABLE public.bare (id int PRIMARY KEY)`;
    await db.sql`SELECT core.fn_track_table('public.bare', 'Bare')`;
    // The next track forgets the rows of dropped tables.
    expect((await rows(db)).map((r) => r.entity_type)).not.toContain("Doomed");
    for (const op of ["insert", "update", "delete"]) {
      await db.sql.unsafe(`DROP TRIGGER fraiseql_observers_capture_${op} ON public.bare`);
    }
    expect(await isEntityTypeCaptured(db.client, "Bare", null)).toBe(false);

    // A new table of the same name is tracked afresh.
    await db.sql`CREATE TABLE public.doomed (id int PRIMARY KEY)`;
    await db.sql`SELECT core.fn_track_table('public.doomed', 'Doomed')`;
    expect(await isEntityTypeCaptured(db.client, "Doomed", null)).toBe(true);
    expect((await rows(db)).filter((r) => r.entity_type === "Doomed")).toHaveLength(1);
  });

  it("tracking and untracking print no NOTICE", async () => {
    const notices: string[] = [];
    const watched = postgres(db.url, {
      max: 1,
      onnotice: (notice) => notices.push(String(notice.message)),
    });
    try {
      await watched`CREATE TABLE public.quiet (id int PRIMARY KEY)`;
      await watched`SELECT core.fn_track_table('public.quiet', 'Quiet')`;
      await watched`SELECT core.fn_track_table('public.quiet', 'Quiet')`;
      await watched`SELECT core.fn_untrack_table('public.quiet')`;
      await watched`SELECT core.fn_untrack_table('public.quiet')`;
      // The connection does report notices: the check above could not pass by missing them.
      await watched`DO $$ BEGIN RAISE NOTICE 'probe'; END $$`;
    } finally {
      await watched.end({ timeout: 5 });
    }
    expect(notices).toEqual(["probe"]);
  });
});

describe("migration 0010's backfill", () => {
  it("records tables tracked before 0010, with their exact entity types", async () => {
    const old = await createTestDatabase("tracked_backfill", { migrated: false });
    databases.push(old);
    const migrations = loadMigrations();
    const before = migrations.filter((m) => m.version <= 9);
    const from10 = migrations.filter((m) => m.version === 10);
    expect(from10.map((m) => m.name)).toEqual(["0010_tracked_tables.sql"]);
    await applyMigrations(old.client, before);

    const entities = ["Order", 'O\'Brien "quoted"', "back\\slash\\' \\\\", "x'', ''INSERT"];
    for (const [i, entity] of entities.entries()) {
      await old.sql.unsafe(`CREATE TABLE public.t${i} (id int PRIMARY KEY)`);
      await old.sql`SELECT core.fn_track_table(${`public.t${i}`}, ${entity})`;
    }
    // Not backfilled: a capture function no trigger uses, and a dropped table.
    await old.sql`CREATE TABLE public.untriggered (id int PRIMARY KEY)`;
    await old.sql`SELECT core.fn_track_table('public.untriggered', 'Untriggered')`;
    for (const op of ["insert", "update", "delete"]) {
      await old.sql.unsafe(`DROP TRIGGER fraiseql_observers_capture_${op} ON public.untriggered`);
    }
    await old.sql`CREATE TABLE public.gone (id int PRIMARY KEY)`;
    await old.sql`SELECT core.fn_track_table('public.gone', 'Gone')`;
    await old.sql`DROP TABLE public.gone`;

    expect(await applyMigrations(old.client, [...before, ...from10])).toEqual({
      applied: ["0010_tracked_tables.sql"],
    });
    const backfilled = await rows(old);
    expect(backfilled).toEqual(
      await Promise.all(
        entities.map(async (entity, i) => ({
          tracked_table: await oidOf(old, `public.t${i}`),
          qualified_name: `public.t${i}`,
          entity_type: entity,
          options: null,
        })),
      ),
    );
    // Today's code reads today's schema: bring the database up to date first.
    await applyMigrations(old.client, migrations);
    for (const entity of entities) {
      expect(await isEntityTypeCaptured(old.client, entity, null)).toBe(true);
    }
    expect(await isEntityTypeCaptured(old.client, "Untriggered", null)).toBe(false);

    // Tracking again after the upgrade replaces the backfilled row with the options given.
    await old.sql`SELECT core.fn_track_table('public.t0', 'Order', '{"pre_image": false}')`;
    expect((await rows(old))[0]).toMatchObject({
      entity_type: "Order",
      options: { pre_image: false },
    });
  });
});
