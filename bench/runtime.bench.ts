/**
 * Runtime benchmark, end to end on a real PostgreSQL: single-row commits to a tracked table →
 * capture trigger → change log → the runtime (ingest, claim, executor, batched outcomes) → a
 * webhook at a local receiver in its own process.
 *
 * - latency: commit-to-webhook percentiles at an offered load (BENCH_RATE changes/s, default
 *   1 000, for BENCH_SECONDS, default 10), single-row INSERTs from BENCH_PRODUCERS connections
 *   (default 8). The latency is
 *   the receiver's clock minus the row's insert timestamp (same machine clock).
 * - capture only: the same producers with the capture trigger and no runtime, first: the rate this
 *   machine's disk and CPU allow single-row commits at all.
 * - throughput: BENCH_DRAIN changes (default 50 000) written while the runtime is stopped, then
 *   the time for a fresh runtime to deliver, log and checkpoint all of them.
 *
 * Run with Bun (what `bun run server` uses): `bun bench/runtime.bench.ts`. Database: BENCH_DATABASE_URL
 * (default postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench, recreated on every run).
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/postgres/postgres-client.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { type LatencyReceiver, startLatencyReceiver } from "./runtime/receiver.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench";

await runBenchmark("runtime", async () => {
  const rate = envNumber("BENCH_RATE", 1_000);
  const seconds = envNumber("BENCH_SECONDS", 10);
  const drain = envNumber("BENCH_DRAIN", 50_000);
  await recreateDatabase(DATABASE_URL);
  const client = createPostgresClient(DATABASE_URL, { max: 8 });
  const producer = postgres(DATABASE_URL, {
    max: envNumber("BENCH_PRODUCERS", 8),
    onnotice: () => {},
  });
  const receiver = await startLatencyReceiver();
  try {
    await applyMigrations(client, loadMigrations());
    await producer.unsafe(`CREATE TABLE bench_orders (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      t_ms double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()) * 1000,
      status text NOT NULL DEFAULT 'new')`);
    await producer`SELECT core.fn_track_table('bench_orders', 'Order')`;
    await producer`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
      VALUES ('bench', 'Order', 'INSERT', ${JSON.stringify([{ type: "webhook", url: receiver.url }])}::text::jsonb)`;

    // The same producers with capture and no runtime: what this machine's disk and CPU allow.
    const ceiling = await produce(producer, rate, seconds);
    // The runtime starts after those changes: they were the ceiling's, not the latency run's.
    await producer`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
      SELECT 'default', max(transaction_id), max(pk_entity_change_log) FROM core.tb_entity_change_log`;

    let runtime = startRuntime(client);
    await runtime.start();
    const offered = await offeredLoad(producer, receiver, rate, seconds);
    await runtime.stop();

    await producer`INSERT INTO bench_orders (status) SELECT 'drain' FROM generate_series(1, ${drain})`;
    await receiver.reset();
    const started = performance.now();
    runtime = startRuntime(client);
    await runtime.start();
    await waitUntil(
      async () => (await receiver.count()) >= drain && (await pendingDeliveries(producer)) === 0,
    );
    const drainSeconds = (performance.now() - started) / 1000;
    await runtime.stop();

    const host = machine();
    const throughput = drain / drainSeconds;
    console.log(describeMachine(host));
    console.log(
      table(
        ["scenario", "changes", "changes/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
          [
            `latency at ${integer.format(rate)}/s offered`,
            integer.format(offered.changes),
            integer.format(offered.achieved),
            offered.stats.p50_ms.toFixed(1),
            offered.stats.p95_ms.toFixed(1),
            offered.stats.p99_ms.toFixed(1),
            offered.stats.max_ms.toFixed(1),
          ],
          [
            `capture only at ${integer.format(rate)}/s offered`,
            integer.format(ceiling.changes),
            integer.format(ceiling.achieved),
            "",
            "",
            "",
            "",
          ],
          ["throughput (drain)", integer.format(drain), integer.format(throughput), "", "", "", ""],
        ],
        1,
      ),
    );
    writeResults("runtime", {
      machine: host,
      settings: { rate, seconds, drain },
      latency: {
        offered_per_sec: rate,
        achieved_per_sec: round(offered.achieved),
        changes: offered.changes,
        p50_ms: round(offered.stats.p50_ms),
        p95_ms: round(offered.stats.p95_ms),
        p99_ms: round(offered.stats.p99_ms),
        max_ms: round(offered.stats.max_ms),
      },
      throughput: {
        changes: drain,
        seconds: round(drainSeconds),
        changes_per_sec: round(throughput),
      },
    });
  } finally {
    await receiver.stop();
    await producer.end({ timeout: 5 });
    await client.close();
  }
});

function startRuntime(client: ReturnType<typeof createPostgresClient>): ObserverRuntime {
  return createObserverRuntime({
    sql: client,
    environment: {
      fetch: globalThis.fetch,
      env: {},
      clock: systemClock,
      logger: silentLogger,
      allowPrivateTargets: true,
    },
    concurrency: 64,
    perDestination: 64,
  });
}

/** Single-row INSERTs at `rate`/s for `seconds`, spread over the producer's connections. */
async function produce(producer: postgres.Sql, rate: number, seconds: number) {
  const total = Math.round(rate * seconds);
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  const started = performance.now();
  const inserts: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / tickMs + 1) * perTick));
    for (; sent < due; sent++) inserts.push(producer`INSERT INTO bench_orders DEFAULT VALUES`);
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await Promise.all(inserts);
  return { changes: total, achieved: total / ((performance.now() - started) / 1000) };
}

/** `produce` with the runtime delivering: latency percentiles at the receiver. */
async function offeredLoad(
  producer: postgres.Sql,
  receiver: LatencyReceiver,
  rate: number,
  seconds: number,
) {
  await receiver.reset();
  const { changes, achieved } = await produce(producer, rate, seconds);
  await waitUntil(async () => (await receiver.count()) >= changes);
  const stats = await receiver.stats();
  if (stats.samples < changes) fail(`the receiver saw ${stats.samples} of ${changes} changes`);
  return { changes, achieved, stats };
}

async function pendingDeliveries(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
  return row?.n ?? 0;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) fail("timed out waiting for deliveries");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function recreateDatabase(url: string): Promise<void> {
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
