/**
 * Soak benchmark: the Bun server as users run it (`adapters/hosts/bun/main.ts`, its own process) with one
 * webhook observer on every `bench_orders` INSERT, fed single-row commits at BENCH_SOAK_RATE
 * changes/s (default 2 000) for BENCH_SOAK_SECONDS (default 600; `--quick` or BENCH_QUICK=1: 60).
 * Every BENCH_SOAK_SAMPLE_SECONDS (default 5) it samples the server's resident memory, the
 * PostgreSQL connections to the database, what was produced and delivered, the runtime's lag
 * (`GET /api/observers/runtime/health`) and the webhook latency over the interval.
 *
 * After a warm-up (the first BENCH_SOAK_WARMUP of the run, default 0.2) it fits a least-squares
 * line to each of those over time: memory is flat when its slope is under BENCH_SOAK_MAX_RSS_SLOPE
 * MiB/min (default 1). After the producer stops it waits for the in-flight changes to drain and the
 * lag to reach zero, then checks at the receiver that every change arrived exactly once; a lost or
 * duplicated change fails the run (exit 1) after the results are written, and so does memory that
 * is not flat with BENCH_SOAK_STRICT=1.
 *
 * Run with Bun: `bun bench/soak.bench.ts [--quick]`. Database: BENCH_SOAK_DATABASE_URL, default
 * BENCH_DATABASE_URL's with `_soak` appended to its name (recreated on every run). OBSERVERS_*
 * variables in the environment are passed on to the server (e.g. OBSERVERS_PER_DESTINATION).
 * Results: bench/results/soak.json (soak-quick.json with `--quick`). See bench/soak/README.md.
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { type ServerProcess, startServer } from "./live/server.ts";
import { type Produced, startProducer } from "./runtime/producer.ts";
import { createWebhookObserver, readHealth } from "./soak/api.ts";
import { type SoakReceiver, startSoakReceiver, type Verification } from "./soak/receiver.ts";
import { fitTrend, type Trend } from "./soak/trend.ts";
import {
  createBenchOrders,
  DATABASE_URL,
  recreateDatabase,
  waitUntil,
} from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter, cpuTimeOf, machineTicks, memoryOf } from "./support/proc.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const quick =
  process.argv.includes("--quick") || /^(1|true|yes|on)$/i.test(process.env.BENCH_QUICK ?? "");

function soakDatabaseUrl(): string {
  if (process.env.BENCH_SOAK_DATABASE_URL) return process.env.BENCH_SOAK_DATABASE_URL;
  // Its own database by default, so a soak never drops another benchmark's from under it.
  const url = new URL(DATABASE_URL);
  url.pathname = `${url.pathname.slice(1)}_soak`;
  return url.toString();
}
const SOAK_URL = soakDatabaseUrl();
const DB_NAME = new URL(SOAK_URL).pathname.slice(1);

const settings = {
  quick,
  rate: envNumber("BENCH_SOAK_RATE", 2_000),
  seconds: envNumber("BENCH_SOAK_SECONDS", quick ? 60 : 600),
  sample_seconds: envNumber("BENCH_SOAK_SAMPLE_SECONDS", 5),
  warmup_fraction: envNumber("BENCH_SOAK_WARMUP", 0.2),
  producers: envNumber("BENCH_PRODUCERS", 8),
  drain_timeout_seconds: envNumber("BENCH_SOAK_DRAIN_SECONDS", 120),
  print_every_seconds: envNumber("BENCH_SOAK_PRINT_SECONDS", quick ? 10 : 60),
  database: DB_NAME,
  /** OBSERVERS_* passed on to the server (the server's defaults otherwise). */
  server_env: Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[0].startsWith("OBSERVERS_") && entry[0] !== "OBSERVERS_ADMIN_TOKEN" && !!entry[1],
    ),
  ),
};

/** What "flat" means, stated in the output and the results file. */
const thresholds = {
  /** Server RSS after warm-up: |slope| below this many MiB per minute. */
  rss_mib_per_min: envNumber("BENCH_SOAK_MAX_RSS_SLOPE", 1),
  /** The server's PostgreSQL connections after warm-up: |slope| below this many per minute. */
  connections_per_min: 0.5,
  /**
   * The runtime's lag (pending changes + due deliveries) after warm-up: growing by less than 1 %
   * of the offered rate per minute (1 200 changes/min at 2 000/s) counts as keeping up.
   */
  lag_changes_per_min: settings.rate * 0.6,
};

const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));
const fixed = (value: number | null | undefined, digits = 1) =>
  value != null && Number.isFinite(value) ? value.toFixed(digits) : "-";
const count = (value: number | null | undefined) =>
  value != null && Number.isFinite(value) ? integer.format(value) : "-";
/** Integers as they are, other numbers to four significant digits; null when not measured. */
const maybe = (value: number | null | undefined) =>
  value != null && Number.isFinite(value) ? (Number.isInteger(value) ? value : round(value)) : null;

interface Sample {
  /** Seconds since the producer started. */
  t_s: number;
  phase: "idle" | "produce" | "drain";
  server_rss_mib: number | null;
  server_peak_rss_mib: number | null;
  /** Percent of one core over the interval ending here. */
  server_cpu_pct: number | null;
  /** Busy share of all cores over the interval. */
  machine_busy_pct: number | null;
  /** PostgreSQL backends connected to the soak database, percent of one core over the interval. */
  pg_backends_cpu_pct: number | null;
  /** Connections to the soak database: all of them, and the server's (application_name). */
  pg_connections: number;
  pg_server_connections: number;
  /** Rows committed to `bench_orders` so far (its identity's high-water mark). */
  produced: number;
  /**
   * The oldest transaction with an id still running anywhere on the PostgreSQL server (its age and
   * database): the runtime reads changes in commit order only below the snapshot's xmin, which is
   * server-wide, so a long transaction in any database holds ingest back (see `lag`).
   */
  oldest_xact_ms: number | null;
  oldest_xact_db: string | null;
  /** Distinct changes the receiver got, and webhook requests in all. */
  delivered: number;
  requests: number;
  produced_per_sec: number | null;
  delivered_per_sec: number | null;
  /** Produced − delivered: everything between the commit and the receiver. */
  backlog: number;
  lag_pending_changes: number | null;
  lag_due_deliveries: number | null;
  lag_oldest_pending_ms: number | null;
  events_processed: number | null;
  errors: number | null;
  /** Commit to webhook received, over the requests received in the interval. */
  hook_requests: number;
  hook_p50_ms: number | null;
  hook_p99_ms: number | null;
  hook_max_ms: number | null;
}

await runBenchmark("soak", async () => {
  const { rate, seconds, sample_seconds: sampleSeconds } = settings;
  if (!(rate > 0)) fail("BENCH_SOAK_RATE must be positive");
  if (!(seconds >= 10)) fail("BENCH_SOAK_SECONDS must be at least 10");
  if (!(sampleSeconds >= 1)) fail("BENCH_SOAK_SAMPLE_SECONDS must be at least 1");
  if (!(settings.warmup_fraction < 0.9)) fail("BENCH_SOAK_WARMUP must be below 0.9");
  if (!(settings.producers >= 1)) fail("BENCH_PRODUCERS must be at least 1");

  // Whatever else the machine is running shows in every figure: measured, printed, recorded.
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;

  await recreateDatabase(SOAK_URL);
  const client = createPostgresClient(SOAK_URL, { max: 1, applicationName: "bench-soak" });
  await applyMigrations(client, loadMigrations());
  await client.close();
  const sql = postgres(SOAK_URL, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "bench-soak" },
  });
  await createBenchOrders(sql);

  const token = `bench-${crypto.randomUUID()}`;
  const receiver: SoakReceiver = await startSoakReceiver();
  const server: ServerProcess = await startServer({
    ...settings.server_env,
    DATABASE_URL: SOAK_URL,
    OBSERVERS_ADMIN_TOKEN: token,
    OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
  });
  const producerUrl = new URL(SOAK_URL);
  producerUrl.searchParams.set("application_name", "bench-soak-producer");
  const load = startProducer(producerUrl.toString(), settings.producers);

  const samples: Sample[] = [];
  // Set by the producer's promise, read by the sampling loop.
  const production: { result: Produced | null; doneAtS: number | null } = {
    result: null,
    doneAtS: null,
  };
  let drainSeconds: number | null = null;
  let drained = false;
  let verification: Verification | null = null;
  let totalRows = 0;
  let idleMemory: ReturnType<typeof memoryOf> = { rss_mib: null, peak_rss_mib: null };
  let endMemory: ReturnType<typeof memoryOf> = { rss_mib: null, peak_rss_mib: null };
  let cpu: ReturnType<ReturnType<typeof cpuMeter>["stop"]> | null = null;
  let overall: Awaited<ReturnType<SoakReceiver["total"]>> | null = null;
  let serverExit: number | null = null;

  const connections = async () => {
    const [row] = await sql<{ total: number; server: number; pids: number[] }[]>`
      SELECT count(*)::int AS total,
             (count(*) FILTER (WHERE application_name LIKE 'fraiseql-observers%'))::int AS server,
             array_agg(pid) AS pids
      FROM pg_stat_activity WHERE datname = ${DB_NAME}`;
    return { total: row?.total ?? 0, server: row?.server ?? 0, pids: row?.pids ?? [] };
  };
  /** CPU time (ms) of each backend process, to sum their use over an interval. */
  let lastBackendCpu = new Map<number, number>();
  const backendCpu = (pids: readonly number[]) => {
    const now = new Map<number, number>();
    for (const pid of pids) {
      const time = cpuTimeOf(pid);
      if (time) now.set(pid, time.user + time.system);
    }
    let used = 0;
    for (const [pid, time] of now) {
      const before = lastBackendCpu.get(pid);
      if (before !== undefined) used += time - before;
    }
    lastBackendCpu = now;
    return used;
  };
  const oldestTransaction = async () => {
    const [row] = await sql<{ ms: number; db: string | null }[]>`
      SELECT (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8 AS ms,
             datname AS db
      FROM pg_stat_activity
      WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
      ORDER BY xact_start LIMIT 1`;
    return row ?? null;
  };
  const highWater = async () => {
    const [row] = await sql<
      { max: number }[]
    >`SELECT coalesce(max(id), 0)::int AS max FROM bench_orders`;
    return row?.max ?? 0;
  };

  let started = 0;
  let lastCpu = cpuTimeOf(server.pid);
  let lastMachine = machineTicks();
  let lastAt = performance.now();

  async function sample(): Promise<Sample> {
    const now = performance.now();
    const t = started === 0 ? 0 : (now - started) / 1000;
    const [health, conns, high, oldest, totals, interval] = await Promise.all([
      readHealth(server.url),
      connections(),
      highWater(),
      oldestTransaction(),
      receiver.total(),
      receiver.interval(),
    ]);
    const memory = memoryOf(server.pid);
    const cpuNow = cpuTimeOf(server.pid);
    const machineNow = machineTicks();
    const wall = now - lastAt;
    const serverCpu =
      lastCpu && cpuNow && wall > 0
        ? ((cpuNow.user + cpuNow.system - lastCpu.user - lastCpu.system) / wall) * 100
        : null;
    const machineBusy =
      lastMachine && machineNow && machineNow.total > lastMachine.total
        ? ((machineNow.busy - lastMachine.busy) / (machineNow.total - lastMachine.total)) * 100
        : null;
    const backendsMs = backendCpu(conns.pids);
    const previous = samples.at(-1);
    const dt = previous ? t - previous.t_s : 0;
    const entry: Sample = {
      t_s: t,
      phase:
        started === 0
          ? "idle"
          : production.doneAtS === null || t <= production.doneAtS
            ? "produce"
            : "drain",
      server_rss_mib: memory.rss_mib,
      server_peak_rss_mib: memory.peak_rss_mib,
      server_cpu_pct: samples.length > 0 ? serverCpu : null,
      machine_busy_pct: samples.length > 0 ? machineBusy : null,
      pg_backends_cpu_pct: samples.length > 0 && wall > 0 ? (backendsMs / wall) * 100 : null,
      pg_connections: conns.total,
      pg_server_connections: conns.server,
      produced: high,
      oldest_xact_ms: oldest?.ms ?? null,
      oldest_xact_db: oldest?.db ?? null,
      delivered: totals.distinct,
      requests: totals.requests,
      produced_per_sec: previous && dt > 0 ? (high - previous.produced) / dt : null,
      delivered_per_sec: previous && dt > 0 ? (totals.distinct - previous.delivered) / dt : null,
      backlog: high - totals.distinct,
      lag_pending_changes: health?.lag.pending_changes ?? null,
      lag_due_deliveries: health?.lag.due_deliveries ?? null,
      lag_oldest_pending_ms: health?.lag.oldest_pending_ms ?? null,
      events_processed: health?.events_processed ?? null,
      errors: health?.errors ?? null,
      hook_requests: interval.requests,
      hook_p50_ms: interval.p50_ms,
      hook_p99_ms: interval.p99_ms,
      hook_max_ms: interval.max_ms,
    };
    lastCpu = cpuNow;
    lastMachine = machineNow;
    lastAt = now;
    samples.push(entry);
    return entry;
  }

  const progress = (s: Sample) =>
    console.log(
      `  ${fixed(s.t_s, 0).padStart(4)} s  ${s.phase.padEnd(7)} RSS ${fixed(s.server_rss_mib)} MiB, ` +
        `pg ${s.pg_server_connections}/${s.pg_connections}, produced ${count(s.produced)}, ` +
        `delivered ${count(s.delivered)}, lag ${count(s.lag_pending_changes)}+${count(s.lag_due_deliveries)} ` +
        `(${count(s.lag_oldest_pending_ms)} ms), hook p99 ${fixed(s.hook_p99_ms)} ms`,
    );

  try {
    await createWebhookObserver(server.url, token, receiver.url);
    await waitUntil(
      async () => (await readHealth(server.url))?.observer_count === 1,
      30_000,
      "the server to load the observer",
    );
    // Let the server settle after start-up before the first sample.
    await sleep(2_000);
    idleMemory = memoryOf(server.pid);
    progress(await sample());

    console.log(
      `soak: ${integer.format(rate)} changes/s for ${seconds} s${quick ? " (quick)" : ""}, sampling every ${sampleSeconds} s`,
    );
    const meter = cpuMeter({
      server: server.pid,
      ...(load.pid !== undefined ? { producer: load.pid } : {}),
      ...(receiver.pid !== undefined ? { receiver: receiver.pid } : {}),
    });
    started = performance.now();
    lastAt = started;
    lastCpu = cpuTimeOf(server.pid);
    lastMachine = machineTicks();
    void load.produce(rate, seconds).then((result) => {
      production.result = result;
      production.doneAtS = (performance.now() - started) / 1000;
    });

    /** Seconds since the producer finished, or null while it runs. */
    const sinceProduced = () =>
      production.doneAtS === null
        ? null
        : (performance.now() - started) / 1000 - production.doneAtS;
    let tick = 1;
    for (;;) {
      const due = started + tick * sampleSeconds * 1000;
      // Once the producer is done, look for the end of the drain every 200 ms between samples.
      while (performance.now() < due) {
        if (production.result !== null && !drained) {
          const expected = production.result.changes;
          const [totals, health] = await Promise.all([receiver.total(), readHealth(server.url)]);
          if (
            totals.distinct >= expected &&
            health?.lag.pending_changes === 0 &&
            health.lag.due_deliveries === 0
          ) {
            drained = true;
            drainSeconds = sinceProduced();
            cpu = meter.stop();
            break;
          }
          if ((sinceProduced() ?? 0) > settings.drain_timeout_seconds) break;
        }
        await sleep(Math.max(0, Math.min(200, due - performance.now())));
      }
      const entry = await sample();
      if (entry.t_s % settings.print_every_seconds < sampleSeconds / 2 || drained) {
        progress(entry);
      }
      tick = Math.floor((performance.now() - started) / (sampleSeconds * 1000)) + 1;
      if (drained) break;
      if ((sinceProduced() ?? 0) > settings.drain_timeout_seconds) {
        console.log(`  the drain did not finish within ${settings.drain_timeout_seconds} s`);
        break;
      }
    }
    cpu ??= meter.stop();
    endMemory = memoryOf(server.pid);

    // A retry or a second claim would arrive within a moment of the rest.
    await sleep(2_000);
    const [rows] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM bench_orders`;
    totalRows = rows?.n ?? 0;
    verification = await receiver.verify(totalRows);
    overall = await receiver.total();
  } finally {
    serverExit = await server.stop();
    await load.stop();
    await receiver.stop();
    await sql.end({ timeout: 5 });
  }

  // --- Trends after the warm-up ---
  const warmupS = seconds * settings.warmup_fraction;
  const window = samples.filter((s) => s.phase === "produce" && s.t_s >= warmupS);
  const trendOf = (pick: (s: Sample) => number | null) =>
    fitTrend(window.map((s) => ({ minutes: s.t_s / 60, value: pick(s) })));
  const trends = {
    server_rss_mib: trendOf((s) => s.server_rss_mib),
    pg_server_connections: trendOf((s) => s.pg_server_connections),
    pg_connections: trendOf((s) => s.pg_connections),
    lag_changes: trendOf((s) =>
      s.lag_pending_changes === null || s.lag_due_deliveries === null
        ? null
        : s.lag_pending_changes + s.lag_due_deliveries,
    ),
    lag_oldest_pending_ms: trendOf((s) => s.lag_oldest_pending_ms),
    backlog: trendOf((s) => s.backlog),
    hook_p99_ms: trendOf((s) => s.hook_p99_ms),
  };
  const under = (trend: Trend, limit: number) =>
    trend.per_min !== null ? Math.abs(trend.per_min) < limit : null;
  // Flat: the slope is under the threshold. Growing: over it, and positive beyond the noise (the
  // lower end of its 95 % interval is above 0). Otherwise the samples cannot tell (GC sawtooth
  // over a short run): inconclusive.
  const rss = trends.server_rss_mib;
  const memoryFlat = under(rss, thresholds.rss_mib_per_min);
  const memoryVerdict =
    memoryFlat === null
      ? "unknown"
      : memoryFlat
        ? "flat"
        : (rss.per_min as number) - (rss.per_min_ci95 ?? 0) > 0
          ? "growing"
          : (rss.per_min as number) + (rss.per_min_ci95 ?? 0) < 0
            ? "shrinking"
            : "inconclusive";
  const connectionsFlat = under(trends.pg_server_connections, thresholds.connections_per_min);
  const keepingUp =
    trends.lag_changes.per_min !== null
      ? trends.lag_changes.per_min < thresholds.lag_changes_per_min && drained
      : null;
  const v = verification as Verification | null;
  const exactlyOnce =
    v !== null &&
    v.expected === production.result?.changes &&
    v.missing === 0 &&
    v.duplicated === 0 &&
    v.unexpected === 0 &&
    v.unreadable === 0;

  // --- Output ---
  const host = machine();
  const p = production.result;
  // Commits that queue up behind a slow disk or a busy machine stretch the run past `seconds`.
  const sustained = p !== null && p.achieved >= rate * 0.95;
  console.log(`\n${describeMachine(host)}`);
  console.log(
    `machine busy before the run: ${fixed(busyBefore, 0)}% of all cores${(busyBefore ?? 0) > 10 ? " (something else is running: expect noisier figures)" : ""}`,
  );
  console.log(
    `database ${DB_NAME}; ${settings.producers} producer connections; server ${Object.keys(settings.server_env).length > 0 ? JSON.stringify(settings.server_env) : "with its defaults"}`,
  );
  console.log(
    `offered ${integer.format(rate)} changes/s for ${seconds} s: ${count(p?.changes)} changes, achieved ${fixed(p?.achieved, 0)}/s, commit p50 ${fixed(p?.commit_p50_ms)} ms, p99 ${fixed(p?.commit_p99_ms)} ms\n`,
  );
  if (p && !sustained) {
    console.log(
      `WARNING: the producer did not sustain the offered rate (achieved ${fixed(p.achieved, 0)}/s of ${integer.format(rate)}/s): commits queued, so the soak ran at a lower load and for longer than ${seconds} s\n`,
    );
  }
  const printed = samples.filter(
    (s, i) =>
      i === 0 ||
      i === samples.length - 1 ||
      s.t_s % settings.print_every_seconds < sampleSeconds / 2 ||
      (s.phase === "drain" && samples[i - 1]?.phase === "produce"),
  );
  console.log(
    table(
      [
        "t s",
        "phase",
        "RSS MiB",
        "pg srv/all",
        "produced/s",
        "delivered/s",
        "backlog",
        "pending",
        "due",
        "oldest ms",
        "oldest xact ms",
        "hook p50",
        "hook p99",
        "server CPU",
        "pg CPU",
        "machine",
      ],
      printed.map((s) => [
        fixed(s.t_s, 0),
        s.phase,
        fixed(s.server_rss_mib),
        `${s.pg_server_connections}/${s.pg_connections}`,
        count(s.produced_per_sec),
        count(s.delivered_per_sec),
        count(s.backlog),
        count(s.lag_pending_changes),
        count(s.lag_due_deliveries),
        count(s.lag_oldest_pending_ms),
        s.oldest_xact_ms === null
          ? "-"
          : `${count(s.oldest_xact_ms)}${s.oldest_xact_db === DB_NAME ? "" : "*"}`,
        fixed(s.hook_p50_ms),
        fixed(s.hook_p99_ms),
        s.server_cpu_pct === null ? "-" : `${fixed(s.server_cpu_pct, 0)}%`,
        s.pg_backends_cpu_pct === null ? "-" : `${fixed(s.pg_backends_cpu_pct, 0)}%`,
        s.machine_busy_pct === null ? "-" : `${fixed(s.machine_busy_pct, 0)}%`,
      ]),
      2,
    ),
  );
  console.log(
    `(one row per ${settings.print_every_seconds} s of the ${samples.length} samples taken every ${sampleSeconds} s; rates, latency and CPU over the ${sampleSeconds} s before the row;\n` +
      " pg srv/all = the server's PostgreSQL connections / all to the database (producer and sampler included);\n" +
      " backlog = committed − received at the webhook; pending, due, oldest = the server's health `lag`; hook = commit to webhook, ms;\n" +
      " oldest xact = the longest-running transaction holding an id on the whole PostgreSQL server at the sample, * = in another database:\n" +
      " the runtime reads changes only below the server-wide snapshot xmin, so a long transaction anywhere holds ingest back;\n" +
      " CPU = percent of one core: the server, and the PostgreSQL backends connected to the soak database; machine = busy share of all cores)\n",
  );

  const trendRow = (name: string, trend: Trend, unit: string, verdict: string) => [
    name,
    integer.format(trend.points),
    trend.per_min === null
      ? "-"
      : `${fixed(trend.per_min, 3)} ±${fixed(trend.per_min_ci95, 3)} ${unit}/min`,
    fixed(trend.fitted_start, 1),
    fixed(trend.fitted_end, 1),
    trend.growth_pct === null ? "-" : `${fixed(trend.growth_pct, 1)}%`,
    `${fixed(trend.min, 1)}…${fixed(trend.max, 1)}`,
    fixed(trend.r2, 2),
    verdict,
  ];
  const word = (ok: boolean | null, yes: string, no: string) => (ok === null ? "-" : ok ? yes : no);
  console.log(
    `Trends after the ${fixed(warmupS, 0)} s warm-up (least squares over ${window.length} samples, ${fixed(window[0]?.t_s, 0)}…${fixed(window.at(-1)?.t_s, 0)} s):\n`,
  );
  console.log(
    table(
      ["metric", "points", "slope", "fit start", "fit end", "growth", "min…max", "r²", "verdict"],
      [
        trendRow("server RSS (MiB)", trends.server_rss_mib, "MiB", memoryVerdict),
        trendRow(
          "server pg connections",
          trends.pg_server_connections,
          "conn",
          word(connectionsFlat, "flat", "changing"),
        ),
        trendRow("all pg connections", trends.pg_connections, "conn", ""),
        trendRow(
          "lag (pending + due)",
          trends.lag_changes,
          "changes",
          word(keepingUp, "keeping up", "falling behind"),
        ),
        trendRow("lag oldest pending ms", trends.lag_oldest_pending_ms, "ms", ""),
        trendRow("backlog (to webhook)", trends.backlog, "changes", ""),
        trendRow("hook p99 ms", trends.hook_p99_ms, "ms", ""),
      ],
      1,
    ),
  );
  console.log(
    `(slope ± the half-width of its 95 % interval; flat memory: |slope| < ${thresholds.rss_mib_per_min} MiB/min, growing: above it and the interval above 0, else inconclusive; flat connections: |slope| < ${thresholds.connections_per_min}/min; keeping up: lag grows < ${integer.format(thresholds.lag_changes_per_min)} changes/min (1 % of the offered rate) and drains to 0)\n`,
  );
  console.log(
    `server RSS: idle ${fixed(idleMemory.rss_mib)} MiB before producing, end ${fixed(endMemory.rss_mib)} MiB, peak ${fixed(endMemory.peak_rss_mib)} MiB; ` +
      `CPU over the run (% of one core): server ${fixed(cpu?.processes.server, 0)}%, producer ${fixed(cpu?.processes.producer, 0)}%, receiver ${fixed(cpu?.processes.receiver, 0)}%, machine ${fixed(cpu?.machine_busy_pct, 0)}% of all cores`,
  );
  console.log(
    `webhook latency over the run: p50 ${fixed(overall?.p50_ms)} ms, p95 ${fixed(overall?.p95_ms)} ms, p99 ${fixed(overall?.p99_ms)} ms, max ${fixed(overall?.max_ms)} ms`,
  );
  console.log(
    drained
      ? `drain: every change delivered and the lag at 0 ${fixed(drainSeconds, 2)} s after the producer stopped`
      : `drain: NOT finished within ${settings.drain_timeout_seconds} s after the producer stopped`,
  );
  console.log(
    v
      ? `delivery: ${integer.format(v.expected)} rows committed, ${integer.format(v.distinct)} distinct at the receiver in ${integer.format(v.requests)} requests; missing ${v.missing}, duplicated ${v.duplicated} (+${v.extra_requests} requests), unexpected ${v.unexpected}, unreadable ${v.unreadable}${exactlyOnce ? ": exactly once" : ""}`
      : "delivery: not verified",
  );
  const stalls = samples.filter((s) => (s.lag_oldest_pending_ms ?? 0) >= 1_000);
  const longest = samples.reduce<Sample | null>(
    (top, s) => ((s.oldest_xact_ms ?? 0) > (top?.oldest_xact_ms ?? 0) ? s : top),
    null,
  );
  console.log(
    `ingest held back ≥ 1 s at ${stalls.length} of ${samples.length} samples${stalls.length > 0 ? ` (t = ${stalls.map((s) => fixed(s.t_s, 0)).join(", ")} s; worst ${count(Math.max(...stalls.map((s) => s.lag_oldest_pending_ms ?? 0)))} ms)` : ""}; ` +
      `longest transaction seen on the server: ${longest?.oldest_xact_ms != null ? `${count(longest.oldest_xact_ms)} ms in ${longest.oldest_xact_db ?? "?"} at t = ${fixed(longest.t_s, 0)} s` : "-"}`,
  );
  if (serverExit !== 0) console.log(`the server exited with ${serverExit} on SIGTERM`);
  const verdict = memoryVerdict;
  console.log(
    `verdict: memory ${verdict} (${fixed(rss.per_min, 3)} ±${fixed(rss.per_min_ci95, 3)} MiB/min, ${fixed(trends.server_rss_mib.growth_pct, 1)}% over ${fixed(window[0]?.t_s, 0)}…${fixed(window.at(-1)?.t_s, 0)} s), connections ${word(connectionsFlat, "flat", "changing")}, lag ${word(keepingUp, "keeping up", "falling behind")}, delivery ${exactlyOnce ? "exactly once" : "FAILED"}\n`,
  );

  const roundTrend = (trend: Trend) =>
    Object.fromEntries(
      Object.entries(trend).map(([key, value]) => [
        key,
        typeof value === "number" ? maybe(value) : value,
      ]),
    );
  // A quick run (CI) keeps its own file: it never overwrites the figures of a full soak.
  writeResults(quick ? "soak-quick" : "soak", {
    date: new Date().toISOString(),
    machine: host,
    machine_busy_before_pct: maybe(busyBefore),
    settings,
    thresholds: {
      ...thresholds,
      note: "flat memory: |RSS slope| after warm-up below rss_mib_per_min (growing: above it with the lower end of its 95 % interval above 0; otherwise inconclusive); flat connections: |slope of the server's connections| below connections_per_min; keeping up: slope of lag (pending_changes + due_deliveries) below lag_changes_per_min (1 % of the offered rate) and the lag drained to 0",
    },
    method:
      "server = bun adapters/hosts/bun/main.ts in its own process; RSS = VmRSS from /proc; connections = pg_stat_activity rows for the database (server = application_name fraiseql-observers*); lag = GET /api/observers/runtime/health; hook latency = receiver clock minus the row's t_ms (clock_timestamp() at INSERT); slopes = least squares over samples from the end of the warm-up to the end of production",
    producer: p && {
      sustained_offered_rate: sustained,
      changes: p.changes,
      achieved_per_sec: round(p.achieved),
      commit_p50_ms: maybe(p.commit_p50_ms),
      commit_p99_ms: maybe(p.commit_p99_ms),
    },
    server_memory_mib: {
      idle: maybe(idleMemory.rss_mib),
      end: maybe(endMemory.rss_mib),
      peak: maybe(endMemory.peak_rss_mib),
    },
    cpu_pct_of_one_core: cpu && {
      ...Object.fromEntries(Object.entries(cpu.processes).map(([k, value]) => [k, maybe(value)])),
      machine_busy_pct: maybe(cpu.machine_busy_pct),
    },
    hook_latency_ms: overall && {
      samples: overall.samples,
      p50: maybe(overall.p50_ms),
      p95: maybe(overall.p95_ms),
      p99: maybe(overall.p99_ms),
      max: maybe(overall.max_ms),
    },
    ingest_held_back: {
      note: "samples where the oldest change not yet matched was at least 1 s old, with the longest-running transaction on the PostgreSQL server at that moment",
      samples: stalls.map((s) => ({
        t_s: maybe(s.t_s),
        oldest_pending_ms: s.lag_oldest_pending_ms,
        pending_changes: s.lag_pending_changes,
        oldest_xact_ms: maybe(s.oldest_xact_ms),
        oldest_xact_db: s.oldest_xact_db,
      })),
    },
    drain: { finished: drained, seconds_after_producer: maybe(drainSeconds) },
    delivery: v && { ...v, exactly_once: exactlyOnce },
    server_exit_code: serverExit,
    warmup_seconds: round(warmupS),
    trends: Object.fromEntries(Object.entries(trends).map(([k, t]) => [k, roundTrend(t)])),
    verdict: {
      memory: verdict,
      rss_mib_per_min: maybe(rss.per_min),
      rss_mib_per_min_ci95: maybe(rss.per_min_ci95),
      rss_growth_pct: maybe(trends.server_rss_mib.growth_pct),
      connections: word(connectionsFlat, "flat", "changing"),
      lag: word(keepingUp, "keeping up", "falling behind"),
      delivery: exactlyOnce ? "exactly once" : "failed",
    },
    samples: samples.map((s) =>
      Object.fromEntries(
        Object.entries(s).map(([k, value]) => [
          k,
          typeof value === "number" ? maybe(value) : value,
        ]),
      ),
    ),
  });

  if (!exactlyOnce) fail("not every change was delivered exactly once (see delivery above)");
  if (!drained) fail("the runtime did not drain after the producer stopped");
  if (
    memoryVerdict === "growing" &&
    /^(1|true|yes|on)$/i.test(process.env.BENCH_SOAK_STRICT ?? "")
  ) {
    fail(`memory grew ${fixed(trends.server_rss_mib.per_min, 3)} MiB/min after warm-up`);
  }
});
