/**
 * Delivery benchmark with the default settings (issue 20, "Fast by default"): commits to a table
 * tracked with default options → capture → the runtime as `createObserverRuntime` builds it with
 * no tuning option (pool, poll interval, concurrency, per-destination limit, NOTIFY: all
 * defaults) → one webhook observer → a receiver in its own process; then graphile-worker's
 * trigger → job → webhook pipeline (bench/peer/) in the same run, on the same server.
 *
 * Phases (every change must reach the receiver exactly once and be checkpointed, or the run fails):
 * - ceiling: the producers' single-row commits at full speed for BENCH_SECONDS, no runtime, the
 *   table tracked without NOTIFY: what the (shared) machine commits at all during this run.
 * - latency at 1 000 changes/s: single-row commits from BENCH_PRODUCERS (8) connections for
 *   BENCH_SECONDS (10); commit-to-webhook percentiles (receiver clock minus the row's t_ms).
 * - 5 000 commits/s offered the same way: achieved rate, all delivered, hook percentiles, the
 *   producers' commit p99.
 * - sustained, single-row: BENCH_DELIVERY_DRAIN (20 000) single-row commits at full speed while
 *   the runtime runs, first write to last delivery.
 * - sustained, batched: 5 × that many changes in 100-row INSERTs at full speed: the end-to-end
 *   ceiling to one receiver when the producers are not the bound.
 * - graphile-worker (BENCH_PEER_GW_ON, default bun, its faster runtime in bench/results/peer.json):
 *   the same single-row sustained run through its pipeline.
 *
 * `bun bench/delivery.bench.ts`. Database: BENCH_DATABASE_URL's name + `_delivery` (and
 * `_delivery_gw`), recreated. Writes bench/results/<BENCH_DELIVERY_NAME, default
 * delivery-run>.json; `bench/delivery/compare.ts` turns runs of two versions into
 * bench/results/delivery.{json,md,svg}.
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { DEFAULT_ACTION_POLICY } from "../src/actions/policy.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { createObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import {
  createEnqueueTrigger,
  createPeerOrders,
  pendingJobs,
  startGraphileWorker,
  type WorkerRuntime,
  workerSettings,
} from "./peer/graphile.ts";
import { type Producer, startProducer } from "./runtime/producer.ts";
import { startLatencyReceiver } from "./runtime/receiver.ts";
import { DATABASE_URL, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter } from "./support/proc.ts";
import { machine, round, writeResults } from "./support/report.ts";

const settings = {
  seconds: envNumber("BENCH_SECONDS", 10),
  drain: envNumber("BENCH_DELIVERY_DRAIN", 20_000),
  producers: envNumber("BENCH_PRODUCERS", 8),
  graphile_worker: workerSettings(),
  worker_runtime: (process.env.BENCH_PEER_GW_ON ?? "bun") as WorkerRuntime,
};
const OUT = process.env.BENCH_DELIVERY_NAME ?? "delivery-run";
const OURS_URL = suffixed(DATABASE_URL, "_delivery");
const PEER_URL = suffixed(DATABASE_URL, "_delivery_gw");

function suffixed(url: string, suffix: string): string {
  const named = new URL(url);
  named.pathname = `${named.pathname}${suffix}`;
  return named.toString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await runBenchmark("delivery", async () => {
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;
  const receiver = await startLatencyReceiver();

  // Ours, with defaults: the pool of the ready server (createPostgresClient's default), and the
  // runtime with no option but its database and environment.
  await recreateDatabase(OURS_URL);
  const client = createPostgresClient(OURS_URL);
  const sql = postgres(OURS_URL, { max: 2, onnotice: () => {} });
  await applyMigrations(client, loadMigrations());
  await sql.unsafe(`CREATE TABLE bench_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    t_ms double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()) * 1000,
    status text NOT NULL DEFAULT 'new')`);
  await sql`SELECT core.fn_track_table('bench_orders', 'Order')`;
  await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
    VALUES ('bench', 'Order', 'INSERT', ${JSON.stringify([{ type: "webhook", url: receiver.url }])}::text::jsonb)`;
  const producer = startProducer(OURS_URL, settings.producers);
  // Capture's notifications, counted per phase: what the producers' commits paid for NOTIFY.
  let notifications = 0;
  await sql.listen("fraiseql_observers", (payload) => {
    if (payload === "") notifications++;
  });
  const runtime = createObserverRuntime({
    sql: client,
    environment: {
      fetch: globalThis.fetch,
      env: {},
      policy: DEFAULT_ACTION_POLICY,
      clock: systemClock,
      logger: silentLogger,
      allowPrivateTargets: true,
    },
  });
  const pids = (p: Producer) =>
    Object.fromEntries(
      Object.entries({ runtime: process.pid, producer: p.pid, receiver: receiver.pid }).filter(
        (entry): entry is [string, number] => entry[1] !== undefined,
      ),
    );
  const oursSettled = async () => {
    const [row] = await sql`SELECT
        (SELECT count(*) FROM core.tb_observer_delivery)::int AS pending,
        (SELECT count(*) FROM core.tb_entity_change_log c, core.tb_observer_checkpoint k
          WHERE k.listener_id = 'default'
            AND (c.transaction_id, c.pk_entity_change_log) > (k.last_transaction_id, k.last_processed_id))::int AS unread`;
    return row?.pending === 0 && row?.unread === 0;
  };
  const delivered = async (changes: number, what: string, settled: () => Promise<boolean>) => {
    await waitUntil(
      async () => (await receiver.check()).distinct >= changes && (await settled()),
      300_000,
      what,
    );
    const got = await receiver.check();
    if (got.distinct !== changes) fail(`${what}: ${got.distinct} distinct of ${changes}`);
    return got.received;
  };

  const results: Record<string, unknown> = {};
  try {
    // What the machine commits at all right now: the same producers, no runtime, the capture
    // trigger without NOTIFY (the shared machine's load moves this from run to run).
    await sql`SELECT core.fn_track_table('bench_orders', 'Order', '{"notify": false}')`;
    const ceiling = await producer.flood({ batch: 1, seconds: settings.seconds });
    await sql`SELECT core.fn_track_table('bench_orders', 'Order')`;
    results.ceiling_single = {
      changes: ceiling.changes,
      changes_per_sec: round(ceiling.achieved),
      commit_p99_ms: round(ceiling.commit_p99_ms),
    };
    console.log(`ceiling, single-row commits without NOTIFY: ${Math.round(ceiling.achieved)}/s`);
    await sql`UPDATE core.tb_observer_checkpoint SET last_transaction_id = m.tx, last_processed_id = m.pk
      FROM (SELECT max(transaction_id) AS tx, max(pk_entity_change_log) AS pk FROM core.tb_entity_change_log) m
      WHERE listener_id = 'default'`;
    await sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
      SELECT 'default', max(transaction_id), max(pk_entity_change_log) FROM core.tb_entity_change_log
      ON CONFLICT (listener_id) DO NOTHING`;
    await runtime.start();
    for (const rate of [1_000, 5_000]) {
      await receiver.reset();
      notifications = 0;
      const meter = cpuMeter(pids(producer));
      const produced = await producer.produce(rate, settings.seconds);
      const requests = await delivered(produced.changes, `${rate}/s offered`, oursSettled);
      const cpu = meter.stop();
      const stats = await receiver.stats();
      results[`offered_${rate}`] = {
        offered_per_sec: rate,
        achieved_per_sec: round(produced.achieved),
        changes: produced.changes,
        requests,
        commit_p50_ms: round(produced.commit_p50_ms),
        commit_p99_ms: round(produced.commit_p99_ms),
        hook_p50_ms: round(stats.p50_ms),
        hook_p95_ms: round(stats.p95_ms),
        hook_p99_ms: round(stats.p99_ms),
        hook_max_ms: round(stats.max_ms),
        notifications,
        cpu_pct: cpu.processes,
        machine_busy_pct: cpu.machine_busy_pct,
      };
      console.log(
        `ours, ${rate}/s offered: ${Math.round(produced.achieved)}/s, hook p50 ${stats.p50_ms.toFixed(1)} p99 ${stats.p99_ms.toFixed(1)} ms, commit p99 ${produced.commit_p99_ms.toFixed(1)} ms, ${notifications} notifications`,
      );
    }
    for (const [name, batch, total] of [
      ["sustained_single", 1, settings.drain],
      ["sustained_batch", 100, settings.drain * 5],
    ] as const) {
      await receiver.reset();
      notifications = 0;
      const meter = cpuMeter(pids(producer));
      const started = performance.now();
      const flood = await producer.flood({ batch, total });
      await delivered(flood.changes, name, oursSettled);
      const elapsed = (performance.now() - started) / 1000;
      const cpu = meter.stop();
      results[name] = {
        rows_per_statement: batch,
        changes: flood.changes,
        seconds: round(elapsed),
        changes_per_sec: round(flood.changes / elapsed),
        produced_per_sec: round(flood.achieved),
        commit_p99_ms: round(flood.commit_p99_ms),
        notifications,
        cpu_pct: cpu.processes,
        machine_busy_pct: cpu.machine_busy_pct,
      };
      console.log(
        `ours, ${name}: ${Math.round(flood.changes / elapsed)} changes/s end to end (producers ${Math.round(flood.achieved)}/s), ${notifications} notifications`,
      );
    }
  } finally {
    await runtime.stop();
    await producer.stop();
    await sql.end({ timeout: 5 });
    await client.close();
  }

  // graphile-worker's pipeline, the same single-row sustained run.
  await recreateDatabase(PEER_URL);
  const peerSql = postgres(PEER_URL, { max: 2, onnotice: () => {} });
  await createPeerOrders(peerSql);
  const worker = startGraphileWorker(
    PEER_URL,
    receiver.url,
    settings.graphile_worker,
    settings.worker_runtime,
  );
  const peerProducer = startProducer(PEER_URL, settings.producers);
  try {
    await worker.migrate();
    await createEnqueueTrigger(peerSql);
    await worker.start();
    await receiver.reset();
    const started = performance.now();
    const flood = await peerProducer.flood({ total: settings.drain });
    await delivered(
      flood.changes,
      "graphile-worker sustained",
      async () => (await pendingJobs(peerSql)) === 0,
    );
    const elapsed = (performance.now() - started) / 1000;
    results.graphile_worker_sustained_single = {
      runs_on: settings.worker_runtime,
      changes: flood.changes,
      seconds: round(elapsed),
      changes_per_sec: round(flood.changes / elapsed),
      produced_per_sec: round(flood.achieved),
      commit_p99_ms: round(flood.commit_p99_ms),
    };
    console.log(
      `graphile-worker (${settings.worker_runtime}), sustained single: ${Math.round(flood.changes / elapsed)} changes/s`,
    );
    await worker.stop();
  } finally {
    await worker.exit();
    await peerProducer.stop();
    await peerSql.end({ timeout: 5 });
    await receiver.stop();
  }

  const ours = results.sustained_single as { changes_per_sec: number };
  const peer = results.graphile_worker_sustained_single as { changes_per_sec: number };
  writeResults(OUT, {
    date: new Date().toISOString(),
    machine: machine(),
    machine_busy_before_pct: busyBefore,
    settings: {
      ...settings,
      ours: "createObserverRuntime defaults (no tuning option), createPostgresClient default pool, table tracked with default options",
    },
    results,
    sustained_single_ours_over_graphile_worker: round(ours.changes_per_sec / peer.changes_per_sec),
  });
});
