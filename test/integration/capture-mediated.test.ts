/**
 * `fraiseql.cdc_mediated = 'on'` skips capture only for the roles in core.tb_cdc_mediated_role
 * ('public', the default, stands for every role); anyone else's change is captured anyway. Real
 * login roles, since the check is on session_user.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { connectTestDatabase, quoteIdent } from "../support/postgres.ts";

const suffix = randomBytes(4).toString("hex");
/** FraiseQL's executor, a member of it (logs in as itself, may SET ROLE), and anyone else. */
const EXECUTOR = `fo_executor_${suffix}`;
const MEMBER = `fo_member_${suffix}`;
const WRITER = `fo_writer_${suffix}`;
const ROLES = [EXECUTOR, MEMBER, WRITER];

const databases: TestDatabase[] = [];
const sessions: postgres.Sql[] = [];

beforeAll(async () => {
  const admin = await connectTestDatabase();
  try {
    for (const role of ROLES) await admin.unsafe(`CREATE ROLE ${quoteIdent(role)} LOGIN`);
    await admin.unsafe(`GRANT ${quoteIdent(EXECUTOR)} TO ${quoteIdent(MEMBER)}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.end({ timeout: 5 })));
  await Promise.all(databases.map((db) => db.drop()));
  // Roles are server-wide: drop them once the databases holding their grants are gone.
  const admin = await connectTestDatabase();
  try {
    for (const role of ROLES) await admin.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
});

/** A connection to `db` logged in as `role`. */
function loginAs(db: TestDatabase, role: string): postgres.Sql {
  const url = new URL(db.url);
  url.username = role;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  sessions.push(sql);
  return sql;
}

/** A tracked table every test role may write. */
async function trackedTable(db: TestDatabase, table: string, entity: string) {
  await db.sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
  await db.sql`SELECT core.fn_track_table(${table}::regclass, ${entity})`;
  await db.sql.unsafe(
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${ROLES.map(quoteIdent).join(", ")}`,
  );
}

/** Inserts `id` from `session` in a transaction marked cdc_mediated (as FraiseQL's executor does). */
async function mediatedInsert(session: postgres.Sql, table: string, id: number, setRole?: string) {
  await session.begin(async (tx) => {
    if (setRole) await tx.unsafe(`SET LOCAL ROLE ${quoteIdent(setRole)}`);
    await tx`SET LOCAL fraiseql.cdc_mediated = 'on'`;
    await tx.unsafe(`INSERT INTO ${table} VALUES (${id})`);
  });
}

async function captured(db: TestDatabase, entity: string): Promise<string[]> {
  const rows = await db.sql<{ object_id: string }[]>`
    SELECT object_id FROM core.tb_entity_change_log WHERE object_type = ${entity}
    ORDER BY pk_entity_change_log`;
  return rows.map((r) => r.object_id);
}

describe("fraiseql.cdc_mediated", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase("cdc_mediated");
    databases.push(db);
  });

  it("lets every role skip capture by default, as FraiseQL expects", async () => {
    await trackedTable(db, "open_default", "OpenDefault");
    expect(await db.sql`SELECT role_name FROM core.tb_cdc_mediated_role`).toEqual([
      { role_name: "public" },
    ]);
    await mediatedInsert(loginAs(db, WRITER), "open_default", 1);
    await mediatedInsert(loginAs(db, EXECUTOR), "open_default", 2);
    await loginAs(db, WRITER).unsafe("INSERT INTO open_default VALUES (3)");
    expect(await captured(db, "OpenDefault")).toEqual(["3"]);
  });

  it("once locked down, captures the changes of roles not listed even when they say mediated", async () => {
    await trackedTable(db, "locked", "Locked");
    await db.sql.begin(async (tx) => {
      await tx`DELETE FROM core.tb_cdc_mediated_role WHERE role_name = 'public'`;
      await tx`INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES (${EXECUTOR})`;
    });
    try {
      const writer = loginAs(db, WRITER);
      await mediatedInsert(writer, "locked", 1); // not listed: captured anyway
      await mediatedInsert(loginAs(db, EXECUTOR), "locked", 2); // listed: skipped
      await mediatedInsert(loginAs(db, MEMBER), "locked", 3); // member of the listed role
      await mediatedInsert(loginAs(db, MEMBER), "locked", 4, EXECUTOR); // ...after SET ROLE too
      await writer.unsafe("INSERT INTO locked VALUES (5)"); // unmarked: captured as always
      await writer.unsafe("UPDATE locked SET id = 6 WHERE id = 5");
      expect(await captured(db, "Locked")).toEqual(["1", "5", "6"]);
    } finally {
      await db.sql`DELETE FROM core.tb_cdc_mediated_role`;
      await db.sql`INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES ('public')`;
    }
  });

  it("with no existing role listed, no one skips capture, not even a superuser", async () => {
    await trackedTable(db, "closed", "Closed");
    await db.sql.begin(async (tx) => {
      await tx`DELETE FROM core.tb_cdc_mediated_role`;
      // A name that is not a role: ignored rather than failing every mediated write.
      await tx`INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES ('no_such_role_anywhere')`;
    });
    try {
      await mediatedInsert(loginAs(db, EXECUTOR), "closed", 1);
      await mediatedInsert(loginAs(db, MEMBER), "closed", 2);
      await mediatedInsert(db.sql, "closed", 3); // the superuser that owns everything
      expect(await captured(db, "Closed")).toEqual(["1", "2", "3"]);
    } finally {
      await db.sql`DELETE FROM core.tb_cdc_mediated_role`;
      await db.sql`INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES ('public')`;
    }
  });

  it("keeps the list out of reach of ordinary roles", async () => {
    const writer = loginAs(db, WRITER);
    await expect(
      writer`INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES (${WRITER})`,
    ).rejects.toThrow(/permission denied/);
    await expect(writer`DELETE FROM core.tb_cdc_mediated_role`).rejects.toThrow(
      /permission denied/,
    );
  });
});

describe("migration 0007 on a database with tables tracked before it", () => {
  it("adds the role check to existing capture functions and pins their search_path", async () => {
    const db = await createTestDatabase("cdc_mediated_upgrade", { migrated: false });
    databases.push(db);
    const migrations = loadMigrations();
    const before = migrations.filter((m) => m.version < 7);
    await applyMigrations(db.client, before);
    await trackedTable(db, "tracked_before", "TrackedBefore");
    await applyMigrations(db.client, migrations);

    const [fn] = await db.sql<{ src: string; config: string[] }[]>`
      SELECT prosrc AS src, proconfig AS config FROM pg_proc
      WHERE proname = core.fn_capture_function_name('tracked_before')
        AND pronamespace = 'core'::regnamespace`;
    expect(fn?.src).toContain("core.fn_cdc_mediated_allowed()");
    expect(fn?.config).toEqual(["search_path=pg_catalog, core, pg_temp"]);

    await db.sql`DELETE FROM core.tb_cdc_mediated_role`;
    await mediatedInsert(loginAs(db, WRITER), "tracked_before", 1);
    await loginAs(db, WRITER).unsafe("DELETE FROM tracked_before");
    expect(await captured(db, "TrackedBefore")).toEqual(["1", "1"]);
  });
});
