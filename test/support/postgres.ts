/**
 * The PostgreSQL the tests run against (TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test). An unreachable server fails the test loudly: tests
 * never skip for lack of one.
 */
import { randomUUID } from "node:crypto";
import postgres from "postgres";

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export type Sql = postgres.Sql;

function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable TEST_DATABASE_URL)";
  }
}

/** Connects and checks the server answers; throws a clear error when it does not. */
export async function connectTestDatabase(): Promise<Sql> {
  const sql = postgres(TEST_DATABASE_URL, {
    max: 2,
    connect_timeout: 5,
    idle_timeout: 20,
    onnotice: () => {},
  });
  try {
    await sql`SELECT 1`;
  } catch (error: unknown) {
    await sql.end({ timeout: 0 }).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `PostgreSQL is not reachable at ${redacted(TEST_DATABASE_URL)} (${reason}). ` +
        "Start it (see .ci/) or point TEST_DATABASE_URL at one: these tests need a real server and never skip.",
      { cause: error },
    );
  }
  return sql;
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The quoted, schema-qualified name of a relation. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A connection with a private schema holding a change-log table shaped like `core.tb_entity_change_log`. */
export interface ChangeLogDatabase {
  sql: Sql;
  schema: string;
  /** Quoted `schema.tb_entity_change_log`. */
  table: string;
  /** Drops the schema and closes the connection. Safe to call twice. */
  close(): Promise<void>;
}

/** The columns of `core.tb_entity_change_log` that the condition SQL and the event reader use. */
export const CHANGE_LOG_COLUMNS = `
  id uuid PRIMARY KEY,
  pk_entity_change_log bigint NOT NULL,
  object_type text NOT NULL,
  modification_type text NOT NULL,
  object_id text,
  object_data jsonb,
  object_data_before jsonb,
  fk_customer_org bigint,
  created_at timestamptz NOT NULL DEFAULT now()
`;

/** Connects, creates a uniquely named schema with a change-log table, and hands both back. */
export async function openChangeLogDatabase(label = "prop"): Promise<ChangeLogDatabase> {
  const sql = await connectTestDatabase();
  const schema = `test_${label}_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const table = qualified(schema, "tb_entity_change_log");
  try {
    await sql.unsafe(`CREATE SCHEMA ${quoteIdent(schema)}`);
    await sql.unsafe(`CREATE TABLE ${table} (${CHANGE_LOG_COLUMNS})`);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw error;
  }
  let closed = false;
  return {
    sql,
    schema,
    table,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await sql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

/** Inserts into a change-log table a row's columns as text, JSONB columns as JSON text. */
export interface ChangeLogInsert {
  id: string;
  pk_entity_change_log: string;
  object_type: string;
  modification_type: string;
  object_id: string | null;
  object_data: string | null;
  object_data_before: string | null;
  fk_customer_org: string | null;
}

const INSERT_COLUMNS = [
  "id",
  "pk_entity_change_log",
  "object_type",
  "modification_type",
  "object_id",
  "object_data",
  "object_data_before",
  "fk_customer_org",
] as const;
const INSERT_TYPES = ["uuid", "bigint", "text", "text", "text", "jsonb", "jsonb", "bigint"];

/**
 * Binds parameters as `text`. postgres.js serialises a parameter by the type the server infers for
 * its placeholder, so a JSON text bound to `$1::jsonb` would be JSON.stringify'd again (stored as
 * a JSON string); declared as text, it reaches the cast unchanged.
 */
export function textParameters(sql: Sql, params: readonly (string | null)[]) {
  return params.map((p) => (p === null ? null : sql.typed(p, TEXT_OID)));
}
const TEXT_OID = 25;

export async function insertChangeLogRows(
  sql: Sql,
  table: string,
  rows: readonly ChangeLogInsert[],
): Promise<void> {
  if (rows.length === 0) return;
  const params: (string | null)[] = [];
  const tuples = rows.map((row) => {
    const placeholders = INSERT_COLUMNS.map((column, i) => {
      params.push(row[column]);
      return `$${params.length}::${INSERT_TYPES[i]}`;
    });
    return `(${placeholders.join(", ")})`;
  });
  await sql.unsafe(
    `INSERT INTO ${table} (${INSERT_COLUMNS.join(", ")}) VALUES ${tuples.join(", ")}`,
    textParameters(sql, params),
  );
}

/**
 * The select list that reads a change-log row back for `normalizeChangeEvent`, JSONB as text so
 * that big integers and numbers like 100.00 arrive exactly as stored.
 */
export const CHANGE_LOG_ROW_AS_TEXT = `e.id, e.pk_entity_change_log, e.object_type, e.modification_type, e.object_id,
  e.object_data::text AS object_data, e.object_data_before::text AS object_data_before,
  e.fk_customer_org, e.created_at`;
