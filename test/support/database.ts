/**
 * One fresh, migrated PostgreSQL database per caller (usually per test file), cloned from a
 * template database that holds the migrations. The template is named after a hash of the
 * migrations, built once under an advisory lock (parallel vitest workers wait for it instead of
 * racing) and reused by every later run until the migrations change.
 */
import { createHash, randomBytes } from "node:crypto";
import postgres from "postgres";
import postgres4 from "postgres4";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import {
  createPostgresClient,
  wrapPostgresSql,
} from "../../adapters/drivers/postgres/postgres-client.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { connectTestDatabase, quoteIdent, TEST_DATABASE_URL } from "./postgres.ts";

/** A database of its own, migrated, with two ways in. */
export interface TestDatabase {
  name: string;
  url: string;
  /**
   * The SQL port over it (adapters/drivers/postgres), as the runtime would use it; with
   * `TEST_POSTGRES_JS=4`, `wrapPostgresSql` over a postgres.js 4 pool (a host's, as it may be).
   */
  client: SqlClient;
  /** A raw postgres.js pool (max 4, notices silenced) for setting up and asserting. */
  sql: postgres.Sql;
  /** Closes both and drops the database. Safe to call twice. */
  drop(): Promise<void>;
}

// Any fixed key: it only has to differ from other advisory locks taken in the `postgres` database.
const TEMPLATE_LOCK_KEY = 4_120_885_213;

/** The URL of another database on the test server. */
export function databaseUrl(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** A connection to the server's `postgres` database, for CREATE and DROP DATABASE. */
async function connectAdmin(): Promise<postgres.Sql> {
  const admin = postgres(databaseUrl("postgres"), {
    max: 1,
    connect_timeout: 5,
    onnotice: () => {},
  });
  try {
    await admin`SELECT 1`;
    return admin;
  } catch (error) {
    await admin.end({ timeout: 0 }).catch(() => {});
    // Unreachable server: let the shared helper say so, with its instructions.
    const probe = await connectTestDatabase();
    await probe.end({ timeout: 0 });
    throw error;
  }
}

let template: Promise<string> | undefined;

/** The migrated template's name; built now if no earlier run or worker has built it. */
export function migratedTemplate(): Promise<string> {
  template ??= buildTemplate().catch((error: unknown) => {
    template = undefined;
    throw error;
  });
  return template;
}

async function buildTemplate(): Promise<string> {
  const migrations = loadMigrations();
  const hash = createHash("sha256");
  for (const m of migrations) hash.update(`${m.name}\0${m.sql}\0`);
  const name = `fraiseql_observers_tpl_${hash.digest("hex").slice(0, 12)}`;
  // Built under another name and renamed when complete, so a run killed halfway never leaves a
  // half-migrated template behind under the real name.
  const building = `${name}_building`;
  const admin = await connectAdmin();
  try {
    await admin`SELECT pg_advisory_lock(${TEMPLATE_LOCK_KEY})`;
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (exists) return name;
    await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(building)} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(building)} TEMPLATE template0`);
    const client = createPostgresClient(databaseUrl(building), { max: 1 });
    try {
      await applyMigrations(client, migrations);
    } finally {
      await client.close();
    }
    await admin.unsafe(`ALTER DATABASE ${quoteIdent(building)} RENAME TO ${quoteIdent(name)}`);
    // Nobody connects to a template: CREATE DATABASE ... TEMPLATE refuses a source in use.
    await admin.unsafe(
      `ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
    );
    return name;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** `fraiseql_obs_<label>_<8 hex>`, lowercase and within PostgreSQL's 63 characters. */
function databaseName(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .slice(0, 40);
  return `fraiseql_obs_${clean}_${randomBytes(4).toString("hex")}`;
}

/**
 * The port the tests use. `TEST_POSTGRES_JS=4` runs them over a postgres.js 4 pool wrapped as a
 * host's would be (the package's own pools are postgres.js 3), to see the core work on either.
 */
function testClient(url: string): SqlClient {
  const version = process.env.TEST_POSTGRES_JS ?? "3";
  if (version === "3") return createPostgresClient(url, { max: 4 });
  if (version !== "4")
    throw new Error(`TEST_POSTGRES_JS is 3 or 4, not ${JSON.stringify(version)}`);
  const pool = postgres4(url, { max: 4, onnotice: () => {} });
  const client = wrapPostgresSql(pool);
  return {
    query: client.query,
    transaction: client.transaction,
    listen: client.listen,
    async close() {
      await client.close();
      await pool.end({ timeout: 5 });
    },
  };
}

/** Options of `createTestDatabase`. */
export interface TestDatabaseOptions {
  /** False: an empty database (template0), for testing the migrations themselves. Default true. */
  migrated?: boolean;
}

/** Creates a fresh database from the migrated template; `label` names it for whoever looks. */
export async function createTestDatabase(
  label: string,
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const tpl = options.migrated === false ? "template0" : await migratedTemplate();
  const name = databaseName(label);
  const admin = await connectAdmin();
  try {
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(tpl)}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = databaseUrl(name);
  const client = testClient(url);
  // No max_lifetime: its per-connection timer would show up in tests that count pending timers.
  const sql = postgres(url, { max: 4, onnotice: () => {}, max_lifetime: null });
  let dropping: Promise<void> | undefined;
  return {
    name,
    url,
    client,
    sql,
    drop() {
      dropping ??= (async () => {
        await Promise.all([client.close(), sql.end({ timeout: 5 })]);
        const again = await connectAdmin();
        try {
          await again.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
        } finally {
          await again.end({ timeout: 5 });
        }
      })();
      return dropping;
    },
  };
}
