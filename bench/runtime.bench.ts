/**
 * Runtime benchmark, end to end on a real PostgreSQL: single-row commits to a tracked table →
 * capture trigger → change log → the runtime (ingest, claim, executor, batched outcomes) → a
 * webhook at a local receiver in its own process.
 *
 * - latency: commit-to-webhook percentiles at each offered load (BENCH_RATES changes/s, default
 *   "250,1000", each for BENCH_SECONDS, default 10), single-row INSERTs from a producer process
 *   with BENCH_PRODUCERS connections (default 8), with the producers' own commit latency beside
 *   it. The latency is the receiver's clock minus the row's insert timestamp (same machine clock).
 * - BENCH_NOTIFY=off tracks the table without NOTIFY and the runtime polls every BENCH_POLL_MS;
 *   BENCH_ACTION=log measures the drain alone with a log action (no HTTP).
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
import { type Producer, startProducer } from "./runtime/producer.ts";
import { type LatencyReceiver, startLatencyReceiver } from "./runtime/receiver.ts";
import {
  createBenchOrders,
  DATABASE_URL,
  recreateDatabase,
  waitUntil,
} from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "-");

await runBenchmark("runtime", async () => {
  // BENCH_ACTION=log: the drain alone, with a log action instead of webhooks (the database
  // bookkeeping without HTTP).
  const logOnly = process.env.BENCH_ACTION === "log";
  // BENCH_NOTIFY=off: capture without NOTIFY, the runtime polling every BENCH_POLL_MS instead.
  const notify = process.env.BENCH_NOTIFY !== "off";
  const rates = logOnly ? [] : (process.env.BENCH_RATES ?? "250,1000").split(",").map(Number);
  const seconds = envNumber("BENCH_SECONDS", 10);
  const drain = envNumber("BENCH_DRAIN", 50_000);
  if (rates.some((rate) => !(rate > 0))) fail("BENCH_RATES must list positive numbers");
  await recreateDatabase(DATABASE_URL);
  const client = createPostgresClient(DATABASE_URL, { max: 8 });
  const producer = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  const load = startProducer(DATABASE_URL, envNumber("BENCH_PRODUCERS", 8));
  const receiver = await startLatencyReceiver();
  try {
    await applyMigrations(client, loadMigrations());
    await createBenchOrders(producer, notify);
    await producer`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
      VALUES ('bench', 'Order', 'INSERT', ${JSON.stringify([
        logOnly
          ? { type: "log", level: "trace", message_template: "{{ event.id }}" }
          : { type: "webhook", url: receiver.url },
      ])}::text::jsonb)`;
    await producer`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')`;

    const loads = [];
    for (const rate of rates) {
      // The same producers with capture and no runtime: what this machine allows at all.
      const ceiling = await load.produce(rate, seconds);
      // The runtime starts after those changes: they were the ceiling's, not the latency run's.
      await producer`UPDATE core.tb_observer_checkpoint
        SET (last_transaction_id, last_processed_id) = (SELECT max(transaction_id), max(pk_entity_change_log)
          FROM core.tb_entity_change_log)`;
      const runtime = startRuntime(client);
      await runtime.start();
      const offered = await offeredLoad(load, receiver, rate, seconds);
      await runtime.stop();
      loads.push({ rate, ceiling, offered });
    }

    await producer`INSERT INTO bench_orders (status) SELECT 'drain' FROM generate_series(1, ${drain})`;
    await receiver.reset();
    const started = performance.now();
    const runtime = startRuntime(client);
    await runtime.start();
    await waitUntil(
      async () =>
        (logOnly || (await receiver.count()) >= drain) &&
        (await pendingDeliveries(producer)) === 0 &&
        (await unread(producer)) === 0,
    );
    const drainSeconds = (performance.now() - started) / 1000;
    await runtime.stop();

    const host = machine();
    const throughput = drain / drainSeconds;
    console.log(describeMachine(host));
    const rows = loads.flatMap(({ rate, ceiling, offered }) => [
      [
        `capture only, ${integer.format(rate)}/s offered`,
        integer.format(ceiling.achieved),
        ms(ceiling.commit_p50_ms),
        ms(ceiling.commit_p99_ms),
        "",
        "",
        "",
        "",
      ],
      [
        `end to end, ${integer.format(rate)}/s offered`,
        integer.format(offered.achieved),
        ms(offered.commit_p50_ms),
        ms(offered.commit_p99_ms),
        ms(offered.stats.p50_ms),
        ms(offered.stats.p95_ms),
        ms(offered.stats.p99_ms),
        ms(offered.stats.max_ms),
      ],
    ]);
    rows.push([
      `drain of ${integer.format(drain)}${logOnly ? " (log action)" : ""}`,
      integer.format(throughput),
      "",
      "",
      "",
      "",
      "",
      "",
    ]);
    console.log(
      table(
        [
          "scenario",
          "changes/s",
          "commit p50",
          "commit p99",
          "hook p50",
          "hook p95",
          "hook p99",
          "hook max",
        ],
        rows,
        1,
      ),
    );
    console.log("(milliseconds; hook = commit to webhook received)");
    writeResults(logOnly ? "runtime-log" : "runtime", {
      date: new Date().toISOString(),
      machine: host,
      settings: {
        action: logOnly ? "log" : "webhook",
        notify,
        poll_ms: envNumber("BENCH_POLL_MS", 1_000),
        rates,
        seconds,
        drain,
        producers: envNumber("BENCH_PRODUCERS", 8),
      },
      latency: loads.map(({ rate, ceiling, offered }) => ({
        offered_per_sec: rate,
        capture_only: {
          achieved_per_sec: round(ceiling.achieved),
          commit_p50_ms: round(ceiling.commit_p50_ms),
          commit_p99_ms: round(ceiling.commit_p99_ms),
        },
        end_to_end: {
          achieved_per_sec: round(offered.achieved),
          commit_p50_ms: round(offered.commit_p50_ms),
          commit_p99_ms: round(offered.commit_p99_ms),
          p50_ms: round(offered.stats.p50_ms),
          p95_ms: round(offered.stats.p95_ms),
          p99_ms: round(offered.stats.p99_ms),
          max_ms: round(offered.stats.max_ms),
        },
      })),
      throughput: {
        changes: drain,
        seconds: round(drainSeconds),
        changes_per_sec: round(throughput),
      },
    });
  } finally {
    await receiver.stop();
    await load.stop();
    await producer.end({ timeout: 5 });
    await client.close();
  }
});

function startRuntime(client: ReturnType<typeof createPostgresClient>): ObserverRuntime {
  return createObserverRuntime({
    sql: client,
    pollIntervalMs: envNumber("BENCH_POLL_MS", 1_000),
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

/** `produce` with the runtime delivering: latency percentiles at the receiver. */
async function offeredLoad(
  load: Producer,
  receiver: LatencyReceiver,
  rate: number,
  seconds: number,
) {
  await receiver.reset();
  const produced = await load.produce(rate, seconds);
  await waitUntil(async () => (await receiver.count()) >= produced.changes);
  const stats = await receiver.stats();
  if (stats.samples < produced.changes) {
    fail(`the receiver saw ${stats.samples} of ${produced.changes} changes`);
  }
  return { ...produced, stats };
}

/** Changes the runtime's cursor has not passed yet. */
async function unread(sql: postgres.Sql): Promise<number> {
  const [row] =
    await sql`SELECT count(*)::int AS n FROM core.tb_entity_change_log c, core.tb_observer_checkpoint k
    WHERE k.listener_id = 'default'
      AND (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id)`;
  return row?.n ?? 0;
}

async function pendingDeliveries(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
  return row?.n ?? 0;
}
