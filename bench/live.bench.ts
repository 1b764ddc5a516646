/**
 * Live notifications benchmark, end to end on a real PostgreSQL: single-row commits to a tracked
 * table → capture trigger → change log → the Bun server (its runtime ingests and wakes the live
 * feed, which reads the change log and publishes by topic) → BENCH_SUBSCRIBERS WebSocket
 * subscribers (default 1 000) spread over BENCH_CLIENTS client processes (default 2).
 *
 * - latency: commit to message at each subscriber, for every change and every subscriber, at each
 *   offered load (BENCH_RATES changes/s, default "50,200", each for BENCH_SECONDS, default 10)
 *   with `payload=meta`, then with `payload=full` at BENCH_FULL_RATES (default "200"; empty to
 *   skip). The commit time is the row's `t_ms`, stamped by the database at insert
 *   (`clock_timestamp()`), the receive time the client's clock (same machine, same clock); see
 *   bench/README.md for why.
 * - delivery: every change must reach every subscriber exactly once: gaps, duplicates, unexpected
 *   messages and closed sockets are counted (and fail the run after the results are written).
 * - cost: the server's resident memory and CPU, the clients' and the producer's CPU, the machine's.
 *
 * Run with Bun: `bun bench/live.bench.ts`. Database: BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench, recreated on every run).
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { type ClientProcess, type Collected, startClient } from "./live/clients.ts";
import { type ServerProcess, startServer } from "./live/server.ts";
import { type Produced, startProducer } from "./runtime/producer.ts";
import { createBenchOrders, DATABASE_URL, recreateDatabase } from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter, memoryOf } from "./support/proc.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

type Mode = "meta" | "full";

const ms = (value: number | null) =>
  value !== null && Number.isFinite(value) ? value.toFixed(1) : "-";
const pct = (value: number | null | undefined) =>
  value != null && Number.isFinite(value) ? `${value.toFixed(0)}%` : "-";
const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));
const rates = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(",")
    .filter((part) => part.trim() !== "")
    .map(Number);

const settings = {
  subscribers: envNumber("BENCH_SUBSCRIBERS", 1_000),
  clients: Math.max(1, envNumber("BENCH_CLIENTS", 2)),
  rates: rates("BENCH_RATES", "50,200"),
  full_rates: rates("BENCH_FULL_RATES", "200"),
  seconds: envNumber("BENCH_SECONDS", 10),
  warmup_seconds: envNumber("BENCH_WARMUP_SECONDS", 2),
  producers: envNumber("BENCH_PRODUCERS", 8),
  poll_ms: envNumber("BENCH_POLL_MS", 1_000),
};

/** Percentile (nearest rank) of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Percentiles of a histogram whose keys are tenths of a ms. */
function histogramStats(histogram: Map<number, number>) {
  const keys = [...histogram.keys()].sort((a, b) => a - b);
  const samples = keys.reduce((sum, key) => sum + (histogram.get(key) as number), 0);
  const at = (p: number) => {
    const rank = Math.max(1, Math.ceil((p / 100) * samples));
    let seen = 0;
    for (const key of keys) {
      seen += histogram.get(key) as number;
      if (seen >= rank) return key / 10;
    }
    return Number.NaN;
  };
  let sum = 0;
  for (const key of keys) sum += (key / 10) * (histogram.get(key) as number);
  return {
    samples,
    mean_ms: samples > 0 ? sum / samples : Number.NaN,
    p50_ms: at(50),
    p95_ms: at(95),
    p99_ms: at(99),
    max_ms: keys.length > 0 ? (keys.at(-1) as number) / 10 : Number.NaN,
  };
}

function sortedStats(values: number[]) {
  values.sort((a, b) => a - b);
  return {
    p50_ms: percentile(values, 50),
    p99_ms: percentile(values, 99),
    max_ms: values.at(-1) ?? Number.NaN,
  };
}

/** The subscribers, split as evenly as possible over the client processes. */
function shares(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

await runBenchmark("live", async () => {
  const { subscribers, clients: clientCount, seconds } = settings;
  if (!(subscribers >= 1)) fail("BENCH_SUBSCRIBERS must be at least 1");
  if ([...settings.rates, ...settings.full_rates].some((rate) => !(rate > 0))) {
    fail("BENCH_RATES and BENCH_FULL_RATES must list positive numbers");
  }
  // Whatever else the machine is running shows in every figure: measured, printed, recorded.
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;
  await recreateDatabase(DATABASE_URL);
  const client = createPostgresClient(DATABASE_URL, { max: 2 });
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  await applyMigrations(client, loadMigrations());
  await client.close();
  await createBenchOrders(sql);

  const token = `bench-${crypto.randomUUID()}`;
  const server: ServerProcess = await startServer({
    DATABASE_URL,
    OBSERVERS_ADMIN_TOKEN: token,
    OBSERVERS_POLL_INTERVAL_MS: String(settings.poll_ms),
  });
  const load = startProducer(DATABASE_URL, settings.producers);
  const clients: ClientProcess[] = Array.from({ length: clientCount }, () => startClient());
  const pids: Record<string, number> = { server: server.pid };
  if (load.pid !== undefined) pids.producer = load.pid;
  clients.forEach((c, i) => {
    pids[`client${i + 1}`] = c.pid;
  });

  const memory: Record<string, ReturnType<typeof memoryOf>> = {
    server_idle: memoryOf(server.pid),
  };
  const phases: Awaited<ReturnType<typeof phase>>[] = [];
  const opens: { payload: Mode; seconds: number }[] = [];
  let failed = false;

  /** Opens every subscriber with `payload=mode` and waits until each has received `ready`. */
  async function openAll(mode: Mode): Promise<void> {
    const url = `${server.url.replace(/^http/, "ws")}/api/observers/ws?payload=${mode}&token=${token}`;
    const started = performance.now();
    const opened = await Promise.all(
      shares(subscribers, clientCount).map((count, i) =>
        (clients[i] as ClientProcess).open(url, count),
      ),
    );
    const ready = opened.reduce((sum, { ready }) => sum + ready, 0);
    if (ready !== subscribers) fail(`${ready} of ${subscribers} subscribers became ready`);
    opens.push({ payload: mode, seconds: (performance.now() - started) / 1000 });
  }

  /** Waits until the clients counted `expected` changes, or progress stops for 10 s. */
  async function delivered(expected: number): Promise<number> {
    let last = -1;
    let lastProgress = performance.now();
    for (;;) {
      const counts = await Promise.all(clients.map((c) => c.count()));
      const received = counts.reduce((sum, { changes }) => sum + changes, 0);
      const closed = counts.reduce((sum, count) => sum + count.closed, 0);
      if (received >= expected || closed > 0) return received;
      if (received !== last) {
        last = received;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > 10_000) return received;
      await sleep(20);
    }
  }

  /** One offered load: produce, wait for every subscriber to have every change, then collect. */
  async function phase(mode: Mode, rate: number, duration: number) {
    const [top] = await sql<
      { max: number }[]
    >`SELECT coalesce(max(id), 0)::int AS max FROM bench_orders`;
    const base = top?.max ?? 0;
    await Promise.all(clients.map((c) => c.reset(base)));
    const meter = cpuMeter(pids);
    const produced: Produced = await load.produce(rate, duration);
    const producedAt = performance.now();
    await delivered(produced.changes * subscribers);
    const tailMs = performance.now() - producedAt;
    const cpu = meter.stop();
    const serverMemory = memoryOf(server.pid);
    // Anything sent twice would come within a poll interval of the rest.
    await sleep(Math.min(settings.poll_ms, 1_000) + 250);
    const rows = await sql<{ id: number; t_ms: number }[]>`
      SELECT id::int AS id, t_ms FROM bench_orders WHERE id > ${base} ORDER BY id`;
    const ids = rows.map((row) => row.id);
    const t = rows.map((row) => row.t_ms);
    const collected: Collected[] = await Promise.all(clients.map((c) => c.collect(ids, t)));

    const histogram = new Map<number, number>();
    for (const part of collected) {
      for (const [key, count] of part.histogram)
        histogram.set(key, (histogram.get(key) ?? 0) + count);
    }
    const first: number[] = [];
    const spread: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const firsts = collected.map((part) => part.first[i]).filter((v): v is number => v != null);
      const lasts = collected.map((part) => part.last[i]).filter((v): v is number => v != null);
      if (firsts.length === 0) continue;
      const earliest = Math.min(...firsts);
      first.push(earliest - (t[i] as number));
      spread.push(Math.max(...lasts) - earliest);
    }
    const sum = (pick: (part: Collected) => number) =>
      collected.reduce((total, part) => total + pick(part), 0);
    const closes = collected.flatMap((part) => part.closes);
    return {
      payload: mode,
      offered_per_sec: rate,
      achieved_per_sec: produced.achieved,
      changes: rows.length,
      commit_p50_ms: produced.commit_p50_ms,
      commit_p99_ms: produced.commit_p99_ms,
      expected_messages: rows.length * subscribers,
      delivered: sum((part) => part.delivered),
      gaps: sum((part) => part.missing),
      duplicates: sum((part) => part.duplicates),
      unexpected: sum((part) => part.unexpected),
      closes,
      /** Commit to message, every subscriber and change. */
      latency: histogramStats(histogram),
      /** Commit to the first subscriber that got the change: the pipeline without the fan-out. */
      first: sortedStats(first),
      /** First to last subscriber of each change: the fan-out (server publish + client loops). */
      spread: sortedStats(spread),
      /** After the producer finished, until the last message arrived. */
      tail_ms: tailMs,
      cpu_pct: cpu.processes,
      system_cpu_pct: cpu.system,
      machine_busy_pct: cpu.machine_busy_pct,
      server_memory: serverMemory,
    };
  }

  try {
    const modes: [Mode, number[]][] = [
      ["meta", settings.rates],
      ["full", settings.full_rates],
    ];
    for (const [mode, modeRates] of modes) {
      if (modeRates.length === 0) continue;
      await openAll(mode);
      memory[`server_${mode}_${subscribers}_open`] = memoryOf(server.pid);
      if (settings.warmup_seconds > 0) {
        await phase(mode, modeRates[0] as number, settings.warmup_seconds);
      }
      for (const rate of modeRates) {
        const result = await phase(mode, rate, seconds);
        phases.push(result);
        if (
          result.gaps + result.duplicates + result.unexpected + result.closes.length > 0 ||
          result.delivered !== result.expected_messages
        ) {
          failed = true;
        }
      }
      await Promise.all(clients.map((c) => c.close()));
    }
    memory.server_end = memoryOf(server.pid);
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await load.stop();
    await server.stop();
    await sql.end({ timeout: 5 });
  }

  const host = machine();
  console.log(describeMachine(host));
  console.log(
    `machine busy before the run: ${pct(busyBefore)} of all cores${(busyBefore ?? 0) > 10 ? " (something else is running: expect noisier figures)" : ""}`,
  );
  console.log(
    `${integer.format(subscribers)} subscribers over ${clientCount} client processes; ${opens
      .map(
        (o) =>
          `${integer.format(subscribers)} ${o.payload} sockets ready in ${o.seconds.toFixed(2)} s`,
      )
      .join(", ")}\n`,
  );
  const name = (p: (typeof phases)[number]) =>
    `${p.payload}, ${integer.format(p.offered_per_sec)}/s offered`;
  console.log(
    table(
      [
        "scenario",
        "changes/s",
        "commit p50",
        "p50",
        "p95",
        "p99",
        "max",
        "first p50",
        "first p99",
        "spread p99",
      ],
      phases.map((p) => [
        name(p),
        integer.format(p.achieved_per_sec),
        ms(p.commit_p50_ms),
        ms(p.latency.p50_ms),
        ms(p.latency.p95_ms),
        ms(p.latency.p99_ms),
        ms(p.latency.max_ms),
        ms(p.first.p50_ms),
        ms(p.first.p99_ms),
        ms(p.spread.p99_ms),
      ]),
      1,
    ),
  );
  console.log(
    "(milliseconds; p50…max = commit to message over every subscriber and change; first = to the first subscriber;\n spread = first to last subscriber of a change; commit = the producer's own INSERT round trip)\n",
  );
  console.log(
    table(
      [
        "scenario",
        "delivered",
        "expected",
        "gaps",
        "dups",
        "closed",
        "server CPU",
        "clients CPU",
        "producer CPU",
        "machine",
        "server RSS MiB",
      ],
      phases.map((p) => {
        const clientsCpu = Object.entries(p.cpu_pct)
          .filter(([key]) => key.startsWith("client"))
          .reduce((total, [, value]) => total + (value ?? 0), 0);
        return [
          name(p),
          integer.format(p.delivered),
          integer.format(p.expected_messages),
          integer.format(p.gaps),
          integer.format(p.duplicates + p.unexpected),
          integer.format(p.closes.length),
          `${pct(p.cpu_pct.server)} (${pct(p.system_cpu_pct.server)})`,
          pct(clientsCpu),
          pct(p.cpu_pct.producer),
          pct(p.machine_busy_pct),
          ms(p.server_memory.rss_mib),
        ];
      }),
      1,
    ),
  );
  console.log(
    `(CPU: percent of one core while producing and delivering, in brackets the kernel's part; machine: busy share of all ${host.cpu.cores} cores)`,
  );
  const mib = (entry: ReturnType<typeof memoryOf> | undefined) => ms(entry?.rss_mib ?? null);
  console.log(
    `server RSS MiB: idle ${mib(memory.server_idle)}, ${Object.entries(memory)
      .filter(([key]) => key.endsWith("_open"))
      .map(([key, value]) => `${key.replace(/^server_/, "").replaceAll("_", " ")} ${mib(value)}`)
      .join(
        ", ",
      )}, end ${mib(memory.server_end)} (peak ${ms(memory.server_end?.peak_rss_mib ?? null)})`,
  );

  writeResults("live", {
    date: new Date().toISOString(),
    machine: host,
    settings,
    machine_busy_before_pct: busyBefore === null ? null : round(busyBefore),
    latency_method:
      "receive time at the subscriber (performance.timeOrigin + performance.now()) minus the row's t_ms, stamped by the database at INSERT with clock_timestamp(); same machine clock. Includes the commit itself (see commit_p50_ms).",
    open_seconds: opens.map((o) => ({ payload: o.payload, seconds: round(o.seconds) })),
    server_memory_mib: Object.fromEntries(
      Object.entries(memory).map(([key, value]) => [
        key,
        {
          rss: value.rss_mib && round(value.rss_mib),
          peak: value.peak_rss_mib && round(value.peak_rss_mib),
        },
      ]),
    ),
    phases: phases.map((p) => ({
      payload: p.payload,
      offered_per_sec: p.offered_per_sec,
      achieved_per_sec: round(p.achieved_per_sec),
      changes: p.changes,
      commit_p50_ms: round(p.commit_p50_ms),
      commit_p99_ms: round(p.commit_p99_ms),
      messages: {
        expected: p.expected_messages,
        delivered: p.delivered,
        gaps: p.gaps,
        duplicates: p.duplicates,
        unexpected: p.unexpected,
        closed_sockets: p.closes.length,
      },
      latency_ms: {
        p50: round(p.latency.p50_ms),
        p95: round(p.latency.p95_ms),
        p99: round(p.latency.p99_ms),
        max: round(p.latency.max_ms),
        mean: round(p.latency.mean_ms),
      },
      first_subscriber_ms: {
        p50: round(p.first.p50_ms),
        p99: round(p.first.p99_ms),
        max: round(p.first.max_ms),
      },
      fanout_spread_ms: {
        p50: round(p.spread.p50_ms),
        p99: round(p.spread.p99_ms),
        max: round(p.spread.max_ms),
      },
      tail_after_last_commit_ms: round(p.tail_ms),
      cpu_pct_of_one_core: Object.fromEntries(
        Object.entries(p.cpu_pct).map(([key, value]) => [
          key,
          value === null ? null : round(value),
        ]),
      ),
      system_cpu_pct_of_one_core: Object.fromEntries(
        Object.entries(p.system_cpu_pct).map(([key, value]) => [
          key,
          value === null ? null : round(value),
        ]),
      ),
      machine_busy_pct: p.machine_busy_pct === null ? null : round(p.machine_busy_pct),
      server_rss_mib: p.server_memory.rss_mib && round(p.server_memory.rss_mib),
    })),
  });
  if (failed) {
    fail("not every change reached every subscriber exactly once (see gaps, dups, closed above)");
  }
});
