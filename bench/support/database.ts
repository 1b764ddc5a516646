/**
 * The PostgreSQL side shared by the benchmarks that run against a real database: a fresh database
 * per run, the tracked `bench_orders` table the producer writes to, and polling until a condition
 * holds.
 */
import postgres from "postgres";
import { fail } from "./fail.ts";

/** BENCH_DATABASE_URL, or the local default (recreated on every run). */
export const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench";

/** Drops and creates the database `url` names (through the `postgres` database). */
export async function recreateDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const adminUrl = new URL(url);
  adminUrl.pathname = "/postgres";
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/**
 * Creates `bench_orders` (what `runtime/producer-process.ts` inserts into) and tracks it as entity
 * type `Order`. `t_ms` is stamped by the database at insert (`clock_timestamp()`, epoch ms): the
 * benchmarks' latencies are a receiver's clock minus it, on the same machine clock.
 */
export async function createBenchOrders(sql: postgres.Sql, notify = true): Promise<void> {
  await sql.unsafe(`CREATE TABLE bench_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    t_ms double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()) * 1000,
    status text NOT NULL DEFAULT 'new')`);
  await sql`SELECT core.fn_track_table('bench_orders', 'Order', ${JSON.stringify({ notify })}::text::jsonb)`;
}

/** Polls `check` every 20 ms until it holds; fails after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs = 300_000,
  what = "deliveries",
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
