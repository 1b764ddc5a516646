/**
 * Runtime benchmark, end to end on a real PostgreSQL: commits to a tracked table → capture
 * trigger → change log → the runtime (ingest, claim, executor, batched outcomes) → a webhook at a
 * local receiver in its own process. Every phase checks that every (observer, change) was
 * delivered exactly once, logged as a success and checkpointed, or the run fails.
 *
 * - latency: commit-to-webhook percentiles at each offered load (BENCH_RATES changes/s, default
 *   "100,1000,5000", each for BENCH_SECONDS, default 10), single-row INSERTs from a producer
 *   process with BENCH_PRODUCERS connections (default 8), one observer, with the producers' own
 *   commit latency beside it; first the same load with the capture trigger and no runtime. The
 *   latency is the receiver's clock minus the row's insert timestamp (same machine clock).
 * - ceiling: the producers at full speed (one statement in flight per connection) for
 *   BENCH_SECONDS with capture and no runtime, single-row commits and BENCH_BATCH-row inserts
 *   (default 100): the most this machine writes at all.
 * - drains: BENCH_DRAIN deliveries (default 50 000; changes = deliveries / observers) written by
 *   each kind of producer while the runtime is stopped, then the time for a fresh runtime to
 *   deliver, log and checkpoint all of them, with each of BENCH_OBSERVERS observers (default
 *   "1,10,100", every one matching every change).
 * - sustained: the producers write BENCH_DRAIN changes at full speed while the runtime delivers to
 *   one observer: from the first write to the last checkpoint.
 * - `--quick` or BENCH_QUICK=1: BENCH_SECONDS 3 and BENCH_DRAIN 5 000 unless set (under a minute).
 * - BENCH_NOTIFY=off tracks the table without NOTIFY and the runtime polls every BENCH_POLL_MS,
 *   writing runtime-poll.*; BENCH_ACTION=log skips the latency phases and uses a log action (no
 *   HTTP), writing runtime-log.*.
 *
 * Run with Bun (what `bun run server` uses): `bun bench/runtime.bench.ts [--quick]`. Database:
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench_runtime,
 * recreated on every run). Writes bench/results/runtime.{json,md,svg}.
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { DEFAULT_ACTION_POLICY } from "../src/actions/policy.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { startProducer } from "./runtime/producer.ts";
import { startLatencyReceiver } from "./runtime/receiver.ts";
import {
  type Ceiling,
  consoleReport,
  type LatencyPhase,
  markdownReport,
  type ProducerMode,
  type RuntimeResults,
  svgReport,
  type ThroughputRun,
} from "./runtime/report.ts";
import { createBenchOrders, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { writeResultFile } from "./support/markdown.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter } from "./support/proc.ts";
import { machine, round, writeResults } from "./support/report.ts";

/** Its own database by default, so that other benchmarks running at the same time keep theirs. */
const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench_runtime";

/** Every observer's condition: an indexed equality, true for every row the producers write. */
const CONDITION = "status == 'new'";

const sleep = (msDelay: number) => new Promise((resolve) => setTimeout(resolve, msDelay));

await runBenchmark("runtime", async () => {
  const quick = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
  // BENCH_ACTION=log: no latency phases, a log action instead of webhooks (the database
  // bookkeeping without HTTP).
  const logOnly = process.env.BENCH_ACTION === "log";
  // BENCH_NOTIFY=off: capture without NOTIFY, the runtime polling every BENCH_POLL_MS instead.
  const notify = process.env.BENCH_NOTIFY !== "off";
  const list = (name: string, fallback: string) =>
    (process.env[name] ?? fallback)
      .split(",")
      .filter((item) => item.trim() !== "")
      .map(Number);
  const rates = logOnly ? [] : list("BENCH_RATES", "100,1000,5000");
  const observerCounts = list("BENCH_OBSERVERS", "1,10,100");
  const seconds = envNumber("BENCH_SECONDS", quick ? 3 : 10);
  const drain = envNumber("BENCH_DRAIN", quick ? 5_000 : 50_000);
  const batch = envNumber("BENCH_BATCH", 100);
  const producers = envNumber("BENCH_PRODUCERS", 8);
  const pollMs = envNumber("BENCH_POLL_MS", 1_000);
  if (rates.some((rate) => !(rate > 0))) fail("BENCH_RATES must list positive numbers");
  if (observerCounts.some((n) => !(Number.isInteger(n) && n > 0))) {
    fail("BENCH_OBSERVERS must list positive integers");
  }
  if (!(Number.isInteger(batch) && batch > 1)) fail("BENCH_BATCH must be an integer above 1");
  if (!(seconds > 0 && drain > 0 && producers > 0)) {
    fail("BENCH_SECONDS, BENCH_DRAIN and BENCH_PRODUCERS must be positive");
  }

  // Whatever else the machine is running shows in every figure: measured, printed, recorded.
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;

  await recreateDatabase(DATABASE_URL);
  const client = createPostgresClient(DATABASE_URL, { max: 8 });
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  const load = startProducer(DATABASE_URL, producers);
  const receiver = await startLatencyReceiver();
  const pids: Record<string, number> = { runtime: process.pid };
  if (load.pid !== undefined) pids.producer = load.pid;
  if (receiver.pid !== undefined) pids.receiver = receiver.pid;

  const setObservers = async (count: number) => {
    await sql`DELETE FROM core.tb_observer`;
    const action = JSON.stringify([
      logOnly
        ? { type: "log", level: "trace", message_template: "{{ event.id }}" }
        : { type: "webhook", url: receiver.url },
    ]);
    await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, condition_expression, actions)
      SELECT 'bench-' || i, 'Order', 'INSERT', ${CONDITION}, ${action}::text::jsonb
      FROM generate_series(1, ${count}::int) i`;
  };
  /**
   * Each phase starts clean: the next runtime starts after every change so far (they were an
   * earlier phase's), and the change log, the outcome log and the table are emptied so that no
   * phase reads through an earlier one's rows (identities keep counting up).
   */
  const freshStart = async () => {
    await sql`UPDATE core.tb_observer_checkpoint k
      SET last_transaction_id = m.tx, last_processed_id = m.pk
      FROM (SELECT max(transaction_id) AS tx, max(pk_entity_change_log) AS pk
        FROM core.tb_entity_change_log) m
      WHERE m.tx IS NOT NULL`;
    await sql`TRUNCATE core.tb_entity_change_log, core.tb_observer_log, bench_orders`;
  };
  const logMark = async (): Promise<number> => {
    const [row] =
      await sql`SELECT coalesce(max(pk_observer_log), 0)::bigint AS mark FROM core.tb_observer_log`;
    return Number(row?.mark ?? 0);
  };
  /** Waits until every change is delivered, logged and checkpointed; checks nothing went wrong. */
  const settle = async (what: string, mark: number, changes: number, observers: number) => {
    const deliveries = changes * observers;
    await waitUntil(
      async () =>
        (logOnly || (await receiver.count()) >= deliveries) &&
        (await pendingDeliveries(sql)) === 0 &&
        (await unread(sql)) === 0,
      300_000,
      what,
    );
    const [log] = await sql`SELECT count(*) FILTER (WHERE status = 'success')::int AS ok,
        count(*) FILTER (WHERE status <> 'success')::int AS other
      FROM core.tb_observer_log WHERE pk_observer_log > ${mark}`;
    const [dlq] = await sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
    if (log?.ok !== deliveries || log?.other !== 0 || dlq?.n !== 0) {
      fail(
        `${what}: ${log?.ok} successes and ${log?.other} other outcomes logged, ${dlq?.n} dead letters, for ${deliveries} deliveries`,
      );
    }
    if (!logOnly) {
      const got = await receiver.check();
      if (got.received !== deliveries || got.distinct !== deliveries || got.duplicates !== 0) {
        fail(
          `${what}: the receiver got ${got.received} requests (${got.distinct} distinct, ${got.duplicates} duplicates) for ${deliveries} deliveries`,
        );
      }
    }
  };

  const latency: LatencyPhase[] = [];
  const ceilings: Ceiling[] = [];
  const throughput: ThroughputRun[] = [];
  let postgresVersion = "";
  let otherSessions = 0;
  try {
    await applyMigrations(client, loadMigrations());
    await createBenchOrders(sql, notify);
    await sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')`;
    const [version] = await sql`SELECT current_setting('server_version') AS v`;
    postgresVersion = String(version?.v ?? "");
    // Other databases' open transactions hold back the snapshot horizon the runtime reads up to
    // (transaction ids are cluster-wide): another benchmark on the same server shows in latency.
    const [others] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND state <> 'idle'
        AND datname IS DISTINCT FROM current_database()`;
    otherSessions = Number(others?.n ?? 0);

    // Latency: one observer, single-row commits at each offered rate.
    await setObservers(1);
    for (const rate of rates) {
      // The same producers with capture and no runtime: what this machine allows at that rate.
      await freshStart();
      const capture = await load.produce(rate, seconds);
      await freshStart();
      const mark = await logMark();
      await receiver.reset();
      const runtime = startRuntime(client, pollMs);
      await runtime.start();
      const meter = cpuMeter(pids);
      const produced = await load.produce(rate, seconds);
      await settle(`${rate}/s offered`, mark, produced.changes, 1);
      const cpu = meter.stop();
      await runtime.stop();
      const stats = await receiver.stats();
      if (stats.samples !== produced.changes) {
        fail(`${rate}/s offered: ${stats.samples} latency samples for ${produced.changes} changes`);
      }
      latency.push({
        offered_per_sec: rate,
        capture_only: {
          achieved_per_sec: round(capture.achieved),
          commit_p50_ms: round(capture.commit_p50_ms),
          commit_p99_ms: round(capture.commit_p99_ms),
        },
        end_to_end: {
          achieved_per_sec: round(produced.achieved),
          commit_p50_ms: round(produced.commit_p50_ms),
          commit_p99_ms: round(produced.commit_p99_ms),
          samples: stats.samples,
          p50_ms: round(stats.p50_ms),
          p95_ms: round(stats.p95_ms),
          p99_ms: round(stats.p99_ms),
          max_ms: round(stats.max_ms),
          cpu_pct: Object.fromEntries(
            Object.entries(cpu.processes).map(([k, v]) => [k, v === null ? null : round(v)]),
          ),
          machine_busy_pct: cpu.machine_busy_pct === null ? null : round(cpu.machine_busy_pct),
        },
      });
      console.log(
        `${rate}/s offered: ${Math.round(produced.achieved)}/s achieved, hook p50 ${stats.p50_ms.toFixed(1)} p99 ${stats.p99_ms.toFixed(1)} ms`,
      );
    }

    // Throughput, per kind of producer: the ceiling, the drains, the sustained rate.
    const modes: [ProducerMode, number][] = [
      ["single", 1],
      ["batch", batch],
    ];
    for (const [mode, rows] of modes) {
      await freshStart();
      const ceilingRun = await load.flood({ batch: rows, seconds });
      const ceiling: Ceiling = {
        producer: mode,
        rows_per_statement: rows,
        changes: ceilingRun.changes,
        seconds: round(ceilingRun.seconds),
        changes_per_sec: round(ceilingRun.achieved),
        commit_p50_ms: round(ceilingRun.commit_p50_ms),
        commit_p99_ms: round(ceilingRun.commit_p99_ms),
      };
      ceilings.push(ceiling);
      console.log(`ceiling, ${mode}: ${Math.round(ceiling.changes_per_sec)} changes/s`);
      const run = (
        kind: ThroughputRun["kind"],
        observers: number,
        changes: number,
        elapsed: number,
        busy: number | null,
        producedPerSec?: number,
      ): ThroughputRun => ({
        kind,
        producer: mode,
        observers,
        changes,
        deliveries: changes * observers,
        seconds: round(elapsed),
        changes_per_sec: round(changes / elapsed),
        deliveries_per_sec: round((changes * observers) / elapsed),
        fraction_of_ceiling: round(changes / elapsed / ceilingRun.achieved),
        ...(producedPerSec === undefined ? {} : { produced_per_sec: round(producedPerSec) }),
        machine_busy_pct: busy === null ? null : round(busy),
      });

      for (const observers of observerCounts) {
        await setObservers(observers);
        await freshStart();
        const changes = Math.max(1, Math.round(drain / observers));
        await load.flood({ batch: rows, total: changes });
        const mark = await logMark();
        await receiver.reset();
        const meter = cpuMeter({});
        const started = performance.now();
        const runtime = startRuntime(client, pollMs);
        await runtime.start();
        await settle(`drain, ${mode}, ${observers} observers`, mark, changes, observers);
        const elapsed = (performance.now() - started) / 1000;
        await runtime.stop();
        const result = run("drain", observers, changes, elapsed, meter.stop().machine_busy_pct);
        throughput.push(result);
        console.log(
          `drain, ${mode}, ${observers} observers: ${Math.round(result.changes_per_sec)} changes/s, ${Math.round(result.deliveries_per_sec)} deliveries/s`,
        );
      }

      await setObservers(1);
      await freshStart();
      const mark = await logMark();
      await receiver.reset();
      const runtime = startRuntime(client, pollMs);
      await runtime.start();
      const meter = cpuMeter({});
      const started = performance.now();
      const produced = await load.flood({ batch: rows, total: drain });
      await settle(`sustained, ${mode}`, mark, produced.changes, 1);
      const elapsed = (performance.now() - started) / 1000;
      await runtime.stop();
      const result = run(
        "sustained",
        1,
        produced.changes,
        elapsed,
        meter.stop().machine_busy_pct,
        produced.achieved,
      );
      throughput.push(result);
      console.log(
        `sustained, ${mode}: ${Math.round(result.changes_per_sec)} changes/s (producers ${Math.round(produced.achieved)}/s)`,
      );
    }
  } finally {
    await receiver.stop();
    await load.stop();
    await sql.end({ timeout: 5 });
    await client.close();
  }

  const results: RuntimeResults = {
    date: new Date().toISOString(),
    machine: { ...machine(), postgres: postgresVersion },
    machine_busy_before_pct: busyBefore === null ? null : round(busyBefore),
    other_databases_active_sessions_before: otherSessions,
    settings: {
      quick,
      action: logOnly ? "log" : "webhook",
      notify,
      poll_ms: pollMs,
      rates,
      seconds,
      drain_deliveries: drain,
      observers: observerCounts,
      batch,
      producers,
      condition: CONDITION,
    },
    latency_method:
      "receive time at the webhook receiver (performance.timeOrigin + performance.now()) minus the row's t_ms, stamped by the database at INSERT with clock_timestamp(); same machine clock. Percentiles are exact: every sample is kept and sorted (nearest rank).",
    latency,
    ceiling: ceilings,
    throughput,
  };
  console.log(`\n${consoleReport(results)}`);
  const name = `runtime${logOnly ? "-log" : ""}${notify ? "" : "-poll"}`;
  writeResults(name, results);
  writeResultFile(`${name}.md`, markdownReport(results).replace("runtime.svg", `${name}.svg`));
  writeResultFile(`${name}.svg`, svgReport(results));
});

function startRuntime(
  client: ReturnType<typeof createPostgresClient>,
  pollIntervalMs: number,
): ObserverRuntime {
  return createObserverRuntime({
    sql: client,
    pollIntervalMs,
    environment: {
      fetch: globalThis.fetch,
      env: {},
      policy: DEFAULT_ACTION_POLICY,
      clock: systemClock,
      logger: silentLogger,
      allowPrivateTargets: true,
    },
    concurrency: 64,
    perDestination: 64,
  });
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
