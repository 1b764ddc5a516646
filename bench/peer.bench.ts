/**
 * Peer benchmark: the same trigger → webhook pipeline built two ways, measured in one run on the
 * same PostgreSQL, with the same producer and the same receiver.
 *
 * - ours: single-row commits to `bench_orders` → capture trigger → change log →
 *   `createObserverRuntime` (as bench/runtime.bench.ts starts it, on Bun, in this process) → a
 *   webhook observer on INSERT → the receiver.
 * - graphile-worker: the same table in a database of its own, with an AFTER INSERT trigger calling
 *   `graphile_worker.add_job('post_webhook', …row…)` → graphile-worker's `run()` in a process of
 *   its own (peer/worker-process.ts) with a task that POSTs the row to the receiver with `fetch`,
 *   at the settings its documentation gives for performance (peer/graphile.ts). It runs on Node
 *   (its documented platform) and on Bun (what ours runs on), one after the other
 *   (BENCH_PEER_GW_ON, default "node,bun"); the 2× throughput target is checked against the
 *   faster of the two.
 *
 * For each: latency at an offered load (BENCH_PEER_RATE changes/s, default 500, for BENCH_SECONDS,
 * default 10, after a discarded BENCH_PEER_WARMUP_SECONDS, default 2): commit-to-webhook
 * percentiles, the receiver's clock minus the row's `t_ms` (stamped by the database at insert);
 * and throughput: BENCH_PEER_DRAIN changes (default 20 000) written while the pipeline is stopped,
 * then timed from its start until every webhook is received and its bookkeeping is done (ours: no
 * delivery pending and the cursor past every change; graphile-worker: no job left); and the same
 * number of single-row commits at full speed while the pipeline runs, timed from the first write
 * to the last delivery (sustained: enqueueing counts, as it does in production). Every change must
 * reach the receiver (distinct row ids), or the run fails. Reports all three, and the ratios.
 *
 * Run with Bun: `bun bench/peer.bench.ts`. Databases, both on the same server and recreated on
 * every run: BENCH_PEER_DATABASE_URL (ours) and BENCH_PEER_GW_DATABASE_URL (graphile-worker's),
 * by default BENCH_DATABASE_URL's with `_peer` and `_peer_gw` appended to its name.
 */
import { readFileSync } from "node:fs";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { DEFAULT_ACTION_POLICY } from "../src/actions/policy.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import {
  createEnqueueTrigger,
  createPeerOrders,
  pendingJobs,
  startGraphileWorker,
  type WorkerRuntime,
  type WorkerSettings,
  workerSettings,
} from "./peer/graphile.ts";
import { type Produced, type Producer, startProducer } from "./runtime/producer.ts";
import {
  type LatencyReceiver,
  type LatencyStats,
  startLatencyReceiver,
} from "./runtime/receiver.ts";
import {
  createBenchOrders,
  DATABASE_URL,
  recreateDatabase,
  waitUntil,
} from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter } from "./support/proc.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const settings = {
  rate: envNumber("BENCH_PEER_RATE", 500),
  seconds: envNumber("BENCH_SECONDS", 10),
  warmup_seconds: envNumber("BENCH_PEER_WARMUP_SECONDS", 2),
  drain: envNumber("BENCH_PEER_DRAIN", 20_000),
  producers: envNumber("BENCH_PRODUCERS", 8),
  /** Ours: as bench/runtime.bench.ts runs it. */
  runtime: { concurrency: 64, per_destination: 64, pool: 8, poll_ms: 1_000, notify: true },
  graphile_worker: workerSettings(),
  /** What runs graphile-worker's process: BENCH_PEER_GW_ON, default both, one after the other. */
  worker_runtimes: (process.env.BENCH_PEER_GW_ON ?? "node,bun")
    .split(",")
    .map((name) => name.trim())
    .filter((name): name is WorkerRuntime => name === "node" || name === "bun"),
};

// Databases of their own, so that this benchmark can run beside the others.
const OURS_URL = process.env.BENCH_PEER_DATABASE_URL ?? suffixed(DATABASE_URL, "_peer");
const PEER_URL = process.env.BENCH_PEER_GW_DATABASE_URL ?? suffixed(DATABASE_URL, "_peer_gw");

function suffixed(url: string, suffix: string): string {
  const named = new URL(url);
  named.pathname = `${named.pathname}${suffix}`;
  return named.toString();
}

/** One pipeline, as the measurements see it. */
interface Pipeline {
  name: string;
  /** The process doing the work (for its CPU time). */
  pid: number | undefined;
  /** The database the producer writes to. */
  sql: postgres.Sql;
  producer: Producer;
  /** Starts delivering (a fresh runtime or runner each time). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether its bookkeeping has caught up: nothing left to deliver or to record. */
  settled(): Promise<boolean>;
}

interface CpuUse {
  /** Percent of one core, over the measured interval. */
  pipeline_pct: number | null;
  producer_pct: number | null;
  receiver_pct: number | null;
  /** Busy share of all cores (PostgreSQL included). */
  machine_busy_pct: number | null;
}

interface Figures {
  offered: Produced & { stats: LatencyStats; requests: number; cpu: CpuUse };
  drain: { seconds: number; changes_per_sec: number; requests: number; cpu: CpuUse };
  /** The producers at full speed while the pipeline runs: end to end, enqueueing included. */
  sustained: {
    seconds: number;
    changes_per_sec: number;
    produced_per_sec: number;
    commit_p50_ms: number;
    commit_p99_ms: number;
    requests: number;
    cpu: CpuUse;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "-");
const pct = (value: number | null) => (value === null ? "-" : `${value.toFixed(0)} %`);
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "-");
const rounded = (value: number | null) => (value === null ? null : round(value));

await runBenchmark("peer", async () => {
  const { rate, seconds, drain } = settings;
  if (!(rate > 0) || !(seconds > 0) || !(drain >= 1)) {
    fail("BENCH_PEER_RATE, BENCH_SECONDS and BENCH_PEER_DRAIN must be positive");
  }
  if (!(settings.graphile_worker.concurrentJobs >= 1)) {
    fail("BENCH_PEER_GW_CONCURRENCY must be at least 1");
  }
  if (settings.worker_runtimes.length === 0) fail("BENCH_PEER_GW_ON must name node and/or bun");
  // Whatever else the machine is running shows in every figure: measured, printed, recorded.
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;

  const receiver = await startLatencyReceiver();
  let ours: Figures | undefined;
  const peers: { runtime: WorkerRuntime; figures: Figures }[] = [];
  try {
    const pipeline = await setUpOurs(receiver);
    try {
      ours = await measure(pipeline, receiver);
    } finally {
      await pipeline.close();
    }
    for (const runtime of settings.worker_runtimes) {
      const peer = await setUpGraphileWorker(receiver, settings.graphile_worker, runtime);
      try {
        peers.push({ runtime, figures: await measure(peer, receiver) });
      } finally {
        await peer.close();
      }
    }
  } finally {
    await receiver.stop();
  }
  if (!ours) fail("no figures for ours");

  const host = machine();
  console.log(describeMachine(host));
  console.log(
    `machine busy before the run: ${pct(busyBefore)} of all cores${(busyBefore ?? 0) > 10 ? " (something else is running: expect noisier figures)" : ""}`,
  );
  const gw = settings.graphile_worker;
  console.log(
    `graphile-worker ${graphileWorkerVersion()}: concurrentJobs ${gw.concurrentJobs}, maxPoolSize ${gw.maxPoolSize}, localQueue.size ${gw.localQueueSize > 1 ? gw.localQueueSize : "off"}, completeJobBatchDelay ${gw.completeJobBatchDelay}, failJobBatchDelay ${gw.failJobBatchDelay}, pollInterval ${gw.pollInterval} ms (woken by LISTEN/NOTIFY); ours: concurrency ${settings.runtime.concurrency}, on ${host.runtime}`,
  );
  const ratiosTo = (theirs: Figures, mine: Figures) => ({
    throughput_ours_over_theirs: mine.drain.changes_per_sec / theirs.drain.changes_per_sec,
    sustained_ours_over_theirs: mine.sustained.changes_per_sec / theirs.sustained.changes_per_sec,
    p50_theirs_over_ours: theirs.offered.stats.p50_ms / mine.offered.stats.p50_ms,
    p95_theirs_over_ours: theirs.offered.stats.p95_ms / mine.offered.stats.p95_ms,
    p99_theirs_over_ours: theirs.offered.stats.p99_ms / mine.offered.stats.p99_ms,
    max_theirs_over_ours: theirs.offered.stats.max_ms / mine.offered.stats.max_ms,
  });
  const compared = peers.map((peer) => ({ ...peer, ratios: ratiosTo(peer.figures, ours) }));
  const row = (name: string, f: Figures) => [
    name,
    integer.format(f.drain.changes_per_sec),
    pct(f.drain.cpu.pipeline_pct),
    pct(f.drain.cpu.machine_busy_pct),
    integer.format(f.sustained.changes_per_sec),
    ms(f.sustained.commit_p99_ms),
    integer.format(f.offered.achieved),
    ms(f.offered.commit_p50_ms),
    ms(f.offered.stats.p50_ms),
    ms(f.offered.stats.p95_ms),
    ms(f.offered.stats.p99_ms),
    ms(f.offered.stats.max_ms),
    pct(f.offered.cpu.machine_busy_pct),
  ];
  const ratioRow = (name: string, r: (typeof compared)[number]["ratios"]) => [
    name,
    ratio(r.throughput_ours_over_theirs),
    "",
    "",
    ratio(r.sustained_ours_over_theirs),
    "",
    "",
    "",
    ratio(r.p50_theirs_over_ours),
    ratio(r.p95_theirs_over_ours),
    ratio(r.p99_theirs_over_ours),
    ratio(r.max_theirs_over_ours),
    "",
  ];
  console.log(
    table(
      [
        "pipeline",
        `drain/s (${integer.format(drain)})`,
        "CPU",
        "machine",
        `sustained/s (${integer.format(drain)})`,
        "its commit p99",
        `at ${integer.format(rate)}/s: achieved`,
        "commit p50",
        "hook p50",
        "hook p95",
        "hook p99",
        "hook max",
        "machine",
      ],
      [
        row(`fraiseql-observers (${host.runtime.split(" ")[0]})`, ours),
        ...peers.map((peer) => row(`graphile-worker (${peer.runtime})`, peer.figures)),
        ...compared.map((peer) =>
          ratioRow(`ratio to graphile-worker (${peer.runtime})`, peer.ratios),
        ),
      ],
      1,
    ),
  );
  console.log(
    "(milliseconds; drain = a backlog written while the pipeline was stopped; sustained = the same number of single-row commits at full speed while it runs, first write to last delivery, with the producers' commit p99; hook = commit to webhook received; ratios: throughput ours/theirs, latency theirs/ours, so above 1× means ours is ahead; CPU: the pipeline's process during the drain, percent of one core; machine: busy share of all cores during the drain, then during the offered load)",
  );
  // Latencies compare only at the same load: say so when a producer fell short of the offered rate
  // (commits slowed by whatever else the machine runs).
  const short = [
    { name: "fraiseql-observers", figures: ours },
    ...peers.map((peer) => ({ name: `graphile-worker (${peer.runtime})`, figures: peer.figures })),
  ].filter(({ figures }) => figures.offered.achieved < 0.9 * rate);
  if (short.length > 0) {
    console.log(
      `warning: the producer reached less than 90 % of ${integer.format(rate)}/s for ${short.map(({ name }) => name).join(", ")}: the latency ratios compare different loads`,
    );
  }
  // The target is against the stronger peer: the graphile-worker that drained fastest.
  const strongest = compared.reduce((a, b) =>
    b.figures.drain.changes_per_sec > a.figures.drain.changes_per_sec ? b : a,
  );
  const target = strongest.ratios.throughput_ours_over_theirs;
  console.log(
    `drain throughput ${ratio(target)} the faster graphile-worker's (on ${strongest.runtime}): ${target >= 2 ? "meets" : "BELOW"} the 2× target`,
  );
  const strongestSustained = compared.reduce((a, b) =>
    b.figures.sustained.changes_per_sec > a.figures.sustained.changes_per_sec ? b : a,
  );
  const sustainedTarget = strongestSustained.ratios.sustained_ours_over_theirs;
  console.log(
    `sustained throughput ${ratio(sustainedTarget)} the faster graphile-worker's (on ${strongestSustained.runtime}): ${sustainedTarget >= 2 ? "meets" : "BELOW"} the 2× target`,
  );

  const record = (f: Figures) => ({
    drain: {
      changes: drain,
      seconds: round(f.drain.seconds),
      changes_per_sec: round(f.drain.changes_per_sec),
      requests: f.drain.requests,
      cpu: cpuRecord(f.drain.cpu),
    },
    sustained: {
      changes: drain,
      seconds: round(f.sustained.seconds),
      changes_per_sec: round(f.sustained.changes_per_sec),
      produced_per_sec: round(f.sustained.produced_per_sec),
      commit_p50_ms: round(f.sustained.commit_p50_ms),
      commit_p99_ms: round(f.sustained.commit_p99_ms),
      requests: f.sustained.requests,
      cpu: cpuRecord(f.sustained.cpu),
    },
    latency: {
      offered_per_sec: rate,
      changes: f.offered.changes,
      achieved_per_sec: round(f.offered.achieved),
      offered_rate_reached: f.offered.achieved >= 0.9 * rate,
      requests: f.offered.requests,
      commit_p50_ms: round(f.offered.commit_p50_ms),
      commit_p99_ms: round(f.offered.commit_p99_ms),
      p50_ms: round(f.offered.stats.p50_ms),
      p95_ms: round(f.offered.stats.p95_ms),
      p99_ms: round(f.offered.stats.p99_ms),
      max_ms: round(f.offered.stats.max_ms),
      cpu: cpuRecord(f.offered.cpu),
    },
  });
  writeResults("peer", {
    date: new Date().toISOString(),
    machine: host,
    machine_busy_before_pct: rounded(busyBefore),
    settings: {
      rate,
      seconds,
      warmup_seconds: settings.warmup_seconds,
      drain,
      producers: settings.producers,
      fraiseql_observers: { ...settings.runtime, runs_on: host.runtime },
      graphile_worker: {
        version: graphileWorkerVersion(),
        runs_on: settings.worker_runtimes.map(
          (r) => `${r} (node_modules/.bin/${r}), its own process`,
        ),
        ...gw,
        source:
          "the configuration of https://worker.graphile.org/docs/performance (concurrentJobs 24, maxPoolSize 25, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0); LISTEN/NOTIFY wakes it (its default), pollInterval is its default; logs below warning dropped",
      },
    },
    method: {
      latency:
        "receiver's clock minus the row's t_ms (clock_timestamp() at INSERT, same machine clock), over the changes offered at `rate` for `seconds`, after a discarded warmup at the same rate",
      throughput:
        "`drain` changes written in one INSERT … SELECT while the pipeline is stopped; seconds from starting it until the receiver holds every row id and the pipeline's bookkeeping is done (ours: no delivery pending, cursor past every change; graphile-worker: no job left)",
      sustained:
        "`drain` single-row commits from the producers' connections at full speed while the pipeline runs; seconds from the first write until the receiver holds every row id and the bookkeeping is done, so enqueueing (graphile-worker's add_job, our capture) counts as it does in production",
      correctness:
        "every change reached the receiver (distinct row ids = changes), in both measurements, for every pipeline; requests beyond that are redeliveries",
      order: "ours, then graphile-worker on each runtime, one after the other on the same server",
    },
    fraiseql_observers: record(ours),
    graphile_worker: Object.fromEntries(peers.map((peer) => [peer.runtime, record(peer.figures)])),
    ratios: Object.fromEntries(
      compared.map((peer) => [
        peer.runtime,
        {
          throughput_ours_over_theirs: round(peer.ratios.throughput_ours_over_theirs),
          sustained_ours_over_theirs: round(peer.ratios.sustained_ours_over_theirs),
          latency_theirs_over_ours: {
            p50: round(peer.ratios.p50_theirs_over_ours),
            p95: round(peer.ratios.p95_theirs_over_ours),
            p99: round(peer.ratios.p99_theirs_over_ours),
            max: round(peer.ratios.max_theirs_over_ours),
          },
        },
      ]),
    ),
    target: {
      throughput_ratio_at_least: 2,
      drain: {
        against: `graphile-worker on ${strongest.runtime} (the faster drain)`,
        ratio: round(target),
        met: target >= 2,
      },
      sustained: {
        against: `graphile-worker on ${strongestSustained.runtime} (the faster sustained rate)`,
        ratio: round(sustainedTarget),
        met: sustainedTarget >= 2,
      },
    },
  });
});

function cpuRecord(cpu: CpuUse) {
  return {
    pipeline_pct: rounded(cpu.pipeline_pct),
    producer_pct: rounded(cpu.producer_pct),
    receiver_pct: rounded(cpu.receiver_pct),
    machine_busy_pct: rounded(cpu.machine_busy_pct),
  };
}

function graphileWorkerVersion(): string | null {
  try {
    const file = new URL("../node_modules/graphile-worker/package.json", import.meta.url);
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { version?: string };
    return pkg.version ?? null;
  } catch {
    return null;
  }
}

/** Latency at the offered rate, then the drain; checks every change arrived in both. */
async function measure(pipeline: Pipeline, receiver: LatencyReceiver): Promise<Figures> {
  const { rate, seconds, drain } = settings;
  const meter = () =>
    cpuMeter(
      Object.fromEntries(
        Object.entries({
          pipeline: pipeline.pid,
          producer: pipeline.producer.pid,
          receiver: receiver.pid,
        }).filter((entry): entry is [string, number] => entry[1] !== undefined),
      ),
    );
  const cpuUse = (m: ReturnType<typeof meter>): CpuUse => {
    const { processes, machine_busy_pct } = m.stop();
    return {
      pipeline_pct: processes.pipeline ?? null,
      producer_pct: processes.producer ?? null,
      receiver_pct: processes.receiver ?? null,
      machine_busy_pct,
    };
  };
  const delivered = async (changes: number, what: string) => {
    await waitUntil(
      async () => (await receiver.check()).distinct >= changes && (await pipeline.settled()),
      300_000,
      `${pipeline.name}: ${what}`,
    );
    const { distinct: unique } = await receiver.check();
    const requests = await receiver.count();
    if (unique !== changes) {
      fail(`${pipeline.name}, ${what}: the receiver saw ${unique} distinct rows of ${changes}`);
    }
    return requests;
  };

  await pipeline.start();
  if (settings.warmup_seconds > 0) {
    await receiver.reset();
    const warm = await pipeline.producer.produce(rate, settings.warmup_seconds);
    await delivered(warm.changes, "warmup");
  }
  await receiver.reset();
  const offeredMeter = meter();
  const produced = await pipeline.producer.produce(rate, seconds);
  const offeredRequests = await delivered(produced.changes, `${rate}/s offered`);
  const offeredCpu = cpuUse(offeredMeter);
  const stats = await receiver.stats();
  await pipeline.stop();

  await pipeline.sql`INSERT INTO bench_orders (status) SELECT 'drain' FROM generate_series(1, ${drain})`;
  await receiver.reset();
  const drainMeter = meter();
  const started = performance.now();
  await pipeline.start();
  const drainRequests = await delivered(drain, `drain of ${drain}`);
  const drainSeconds = (performance.now() - started) / 1000;
  const drainCpu = cpuUse(drainMeter);

  // Sustained: the same number of single-row commits at full speed while the pipeline runs, from
  // the first write to the last delivery: what each pipeline costs the writers counts here too.
  await receiver.reset();
  const sustainedMeter = meter();
  const floodStarted = performance.now();
  const flood = await pipeline.producer.flood({ total: drain });
  const sustainedRequests = await delivered(flood.changes, `sustained ${drain}`);
  const sustainedSeconds = (performance.now() - floodStarted) / 1000;
  const sustainedCpu = cpuUse(sustainedMeter);
  await pipeline.stop();
  return {
    offered: { ...produced, stats, requests: offeredRequests, cpu: offeredCpu },
    drain: {
      seconds: drainSeconds,
      changes_per_sec: drain / drainSeconds,
      requests: drainRequests,
      cpu: drainCpu,
    },
    sustained: {
      seconds: sustainedSeconds,
      changes_per_sec: flood.changes / sustainedSeconds,
      produced_per_sec: flood.achieved,
      commit_p50_ms: flood.commit_p50_ms,
      commit_p99_ms: flood.commit_p99_ms,
      requests: sustainedRequests,
      cpu: sustainedCpu,
    },
  };
}

/** Ours, as bench/runtime.bench.ts sets it up: a webhook observer on `bench_orders` INSERT. */
async function setUpOurs(
  receiver: LatencyReceiver,
): Promise<Pipeline & { close(): Promise<void> }> {
  await recreateDatabase(OURS_URL);
  const client = createPostgresClient(OURS_URL, { max: settings.runtime.pool });
  const sql = postgres(OURS_URL, { max: 2, onnotice: () => {} });
  await applyMigrations(client, loadMigrations());
  await createBenchOrders(sql, settings.runtime.notify);
  await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
    VALUES ('bench', 'Order', 'INSERT', ${JSON.stringify([
      { type: "webhook", url: receiver.url },
    ])}::text::jsonb)`;
  await sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')`;
  const producer = startProducer(OURS_URL, settings.producers);
  let runtime: ObserverRuntime | undefined;
  return {
    name: "fraiseql-observers",
    pid: process.pid,
    sql,
    producer,
    async start() {
      runtime = createObserverRuntime({
        sql: client,
        pollIntervalMs: settings.runtime.poll_ms,
        environment: {
          fetch: globalThis.fetch,
          env: {},
          policy: DEFAULT_ACTION_POLICY,
          clock: systemClock,
          logger: silentLogger,
          allowPrivateTargets: true,
        },
        concurrency: settings.runtime.concurrency,
        perDestination: settings.runtime.per_destination,
      });
      await runtime.start();
    },
    async stop() {
      await runtime?.stop();
      runtime = undefined;
    },
    settled: async () => (await pendingDeliveries(sql)) === 0 && (await unread(sql)) === 0,
    async close() {
      await runtime?.stop();
      await producer.stop();
      await sql.end({ timeout: 5 });
      await client.close();
    },
  };
}

/** graphile-worker's pipeline in its own database on the same server. */
async function setUpGraphileWorker(
  receiver: LatencyReceiver,
  workerSettings: WorkerSettings,
  runtime: WorkerRuntime,
): Promise<Pipeline & { close(): Promise<void> }> {
  await recreateDatabase(PEER_URL);
  const sql = postgres(PEER_URL, { max: 2, onnotice: () => {} });
  await createPeerOrders(sql);
  const worker = startGraphileWorker(PEER_URL, receiver.url, workerSettings, runtime);
  await worker.migrate();
  await createEnqueueTrigger(sql);
  const producer = startProducer(PEER_URL, settings.producers);
  return {
    name: `graphile-worker (${runtime})`,
    pid: worker.pid,
    sql,
    producer,
    start: () => worker.start(),
    async stop() {
      await worker.stop();
      const errors = await worker.errors();
      if (errors > 0)
        console.log(`graphile-worker (${runtime}): ${errors} failed job attempts so far`);
    },
    settled: async () => (await pendingJobs(sql)) === 0,
    async close() {
      await worker.exit();
      await producer.stop();
      await sql.end({ timeout: 5 });
    },
  };
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
