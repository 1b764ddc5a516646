/**
 * Scheduling jitter (docs/time.md): how late delayed deliveries arrive. BENCH_DELIVERIES (default
 * 1 000) rows are inserted into a tracked table in BENCH_BATCHES batches (default 20) spread over
 * BENCH_SPREAD_MS (default 1 000), each matched by one observer whose webhook has `delay_ms`
 * BENCH_DELAY_MS (default 3 000). Each delivery's due time is read from its row in
 * core.tb_observer_delivery while it waits; the receiver (in this process) records when each
 * webhook arrived. Jitter = arrival − due time, over every delivery (same machine clock); every
 * delivery must arrive exactly once and none early. The runtime runs with its default settings
 * (poll interval 1 s: a delayed delivery is claimed by the runtime's due timer, not by the poll).
 *
 * `--quick` or BENCH_QUICK=1: nothing shorter to do (one run takes about 10 s); kept for symmetry.
 * Run with Bun: `bun bench/time.bench.ts`. Database: BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench_time, recreated on every run).
 * Writes bench/results/time.json.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { DEFAULT_ACTION_POLICY } from "../src/actions/policy.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { createObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { createBenchOrders, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter } from "./support/proc.ts";
import { machine, round, writeResults } from "./support/report.ts";

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/fraiseql_observers_bench_time";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

await runBenchmark("time", async () => {
  const deliveries = envNumber("BENCH_DELIVERIES", 1_000);
  const batches = envNumber("BENCH_BATCHES", 20);
  const spreadMs = envNumber("BENCH_SPREAD_MS", 1_000);
  const delayMs = envNumber("BENCH_DELAY_MS", 3_000);
  if (!(Number.isInteger(deliveries) && deliveries > 0 && Number.isInteger(batches))) {
    fail("BENCH_DELIVERIES and BENCH_BATCHES must be positive integers");
  }
  if (deliveries % batches !== 0) fail("BENCH_DELIVERIES must be a multiple of BENCH_BATCHES");
  if (delayMs <= spreadMs + 1_000) fail("BENCH_DELAY_MS must exceed BENCH_SPREAD_MS by over 1 s");

  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;

  const arrivals = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const at = nowMs();
    const id = String(req.headers["webhook-id"] ?? "");
    req.resume();
    req.on("end", () => {
      const seen = arrivals.get(id) ?? [];
      seen.push(at);
      arrivals.set(id, seen);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  await recreateDatabase(DATABASE_URL);
  const client = createPostgresClient(DATABASE_URL, { max: 8 });
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  try {
    await applyMigrations(client, loadMigrations());
    await createBenchOrders(sql);
    await sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')`;
    const action = JSON.stringify([{ type: "webhook", url, delay_ms: delayMs }]);
    await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
      VALUES ('delayed', 'Order', 'INSERT', ${action}::text::jsonb)`;
    const runtime = createObserverRuntime({
      sql: client,
      environment: {
        fetch,
        env: {},
        policy: DEFAULT_ACTION_POLICY,
        clock: systemClock,
        logger: silentLogger,
        allowPrivateTargets: true,
      },
    });
    await runtime.start();
    const meter = cpuMeter({ runtime: process.pid });

    // Write the changes, and read each delivery's due time while it waits (claiming moves it).
    const due = new Map<string, number>();
    const readDue = async () => {
      const rows = await sql<{ id: string; due: number }[]>`
        SELECT id::text AS id, (extract(epoch FROM next_attempt_at) * 1000)::float8 AS due
        FROM core.tb_observer_delivery WHERE lease_owner IS NULL`;
      for (const row of rows) if (!due.has(row.id)) due.set(row.id, Number(row.due));
    };
    const perBatch = deliveries / batches;
    for (let b = 0; b < batches; b++) {
      await sql`INSERT INTO bench_orders (status) SELECT 'new' FROM generate_series(1, ${perBatch}::int)`;
      await readDue();
      await sleep(spreadMs / batches);
    }
    await waitUntil(
      async () => {
        await readDue();
        return due.size >= deliveries;
      },
      delayMs - spreadMs,
      "every delivery's due time (read before it is due)",
    );
    await waitUntil(async () => arrivals.size >= deliveries, 60_000, "every webhook");
    await sleep(500);
    const cpu = meter.stop();
    await runtime.stop();

    const jitter: number[] = [];
    for (const [id, at] of due) {
      const seen = arrivals.get(id) ?? [];
      if (seen.length !== 1) fail(`delivery ${id} arrived ${seen.length} times`);
      jitter.push((seen[0] as number) - at);
    }
    if (arrivals.size !== deliveries)
      fail(`${arrivals.size} webhooks for ${deliveries} deliveries`);
    jitter.sort((a, b) => a - b);
    const early = jitter.filter((ms) => ms < 0).length;
    if (early > 0) fail(`${early} deliveries arrived before their due time`);
    const stats = {
      deliveries,
      delay_ms: delayMs,
      spread_ms: spreadMs,
      batches,
      jitter_ms: {
        min: round(jitter[0] as number),
        p50: round(percentile(jitter, 50)),
        p95: round(percentile(jitter, 95)),
        p99: round(percentile(jitter, 99)),
        max: round(jitter.at(-1) as number),
      },
    };
    const [version] = await sql`SELECT current_setting('server_version') AS v`;
    console.log(
      `\n${machine().runtime}, PostgreSQL ${version?.v}; machine ${busyBefore === null ? "?" : Math.round(busyBefore)} % busy before the run`,
    );
    console.log(
      `${deliveries} deliveries, delay_ms ${delayMs}, written over ${spreadMs} ms: jitter (arrival − due) min ${stats.jitter_ms.min} p50 ${stats.jitter_ms.p50} p95 ${stats.jitter_ms.p95} p99 ${stats.jitter_ms.p99} max ${stats.jitter_ms.max} ms`,
    );
    writeResults("time", {
      machine: machine(),
      postgres: String(version?.v ?? ""),
      machine_busy_before_pct: busyBefore === null ? null : round(busyBefore),
      runtime_cpu_pct: cpu.processes.runtime === null ? null : round(cpu.processes.runtime ?? 0),
      ...stats,
    });
  } finally {
    await sql.end({ timeout: 5 });
    await client.close();
    server.close();
  }
});
