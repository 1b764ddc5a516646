/**
 * Jobs benchmark: builtin jobs per second through registered no-op handlers
 * (`createJobRunner`, what `observers.jobs.register` drives; src/jobs/runner.ts), beside
 * graphile-worker's own figure for no-op jobs, in the same run on the same PostgreSQL.
 *
 * Drain throughput: BENCH_JOBS (default 5 000; `--quick`: 1 000) jobs are inserted while no
 * runner runs (ours: rows of core.tb_job; graphile-worker: `add_jobs`, one statement), then timed
 * from the runner's start until none is left (ours: every job `succeeded`; graphile-worker: its
 * jobs table empty). Each configuration runs once per run, in this order: ours at default
 * settings (concurrency 10 per task, lease 30 s), graphile-worker at its defaults (concurrency 1,
 * pollInterval 2 s, woken by LISTEN/NOTIFY), then both tuned alike (concurrency
 * BENCH_JOBS_CONCURRENCY, default 24; graphile-worker also with the settings its performance page
 * gives: maxPoolSize 25, localQueue.size 500, completeJobBatchDelay 0), in process, one after the
 * other. Every job must run exactly once (counted by the handlers), or the run fails.
 *
 * Enqueue rate (`--enqueue` runs only this part): BENCH_ENQUEUE_PRODUCERS (default 8) producers
 * on a pool of as many connections enqueue single jobs for BENCH_ENQUEUE_SECONDS (default 4;
 * `--quick`: 2) through `builtinJobQueue` (what the `job` action calls), each awaiting its
 * previous enqueue, while a LISTEN connection counts the notifications; alternated
 * BENCH_ENQUEUE_ROUNDS times (default 3; `--quick`: 1) between the wake-up hint as migration 0011
 * first had it (a row trigger calling pg_notify in every enqueueing transaction, recreated for the
 * measurement) and the doorbell (src/jobs/doorbell.ts: no trigger, at most one pg_notify in flight
 * per process, outside the enqueue), and no hint at all (the ceiling). Then the wake-up latency
 * across processes at a low rate, trigger and doorbell alternated: BENCH_WAKE_JOBS (default 200;
 * `--quick`: 50) jobs enqueued one at a time by one pool and doorbell, run by a runner with a pool,
 * LISTEN connection and doorbell of its own polling every 60 s, from the enqueue call until the
 * handler starts. End-to-end job-action throughput: bench/job-actions.bench.ts.
 *
 * Run with Bun: `bun bench/jobs.bench.ts [--quick] [--enqueue]`. Database: BENCH_DATABASE_URL's
 * with `_jobs` appended to its name, recreated on every run.
 */
import { Logger, run, runMigrations } from "graphile-worker";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { createJobDoorbell, JOBS_NOTIFY_CHANNEL, type JobDoorbell } from "../src/jobs/doorbell.ts";
import { createJobRunner } from "../src/jobs/runner.ts";
import { builtinJobQueue } from "../src/jobs/sql-queues.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { DATABASE_URL, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail } from "./support/fail.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const quick = process.argv.includes("--quick");
const enqueueOnly = process.argv.includes("--enqueue");
const PRODUCERS = Number(process.env.BENCH_ENQUEUE_PRODUCERS ?? 8);
const ENQUEUE_SECONDS = Number(process.env.BENCH_ENQUEUE_SECONDS ?? (quick ? 2 : 4));
const ENQUEUE_ROUNDS = Number(process.env.BENCH_ENQUEUE_ROUNDS ?? (quick ? 1 : 3));
const JOBS = Number(process.env.BENCH_JOBS ?? (quick ? 1_000 : 5_000));
const TUNED_CONCURRENCY = Number(process.env.BENCH_JOBS_CONCURRENCY ?? 24);
const URL_JOBS = (() => {
  const url = new URL(DATABASE_URL);
  url.pathname = `${url.pathname}_jobs`;
  return url.toString();
})();

interface Figure {
  name: string;
  settings: string;
  jobs: number;
  seconds: number;
  jobs_per_second: number;
}

const quiet = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning")
    console.error(`graphile-worker ${level}: ${message}`);
});

async function ours(sql: postgres.Sql, concurrency: number | undefined): Promise<Figure> {
  await sql`TRUNCATE core.tb_job`;
  await sql`INSERT INTO core.tb_job (task, payload)
    SELECT 'noop', jsonb_build_object('n', n) FROM generate_series(1, ${JOBS}::int) AS n`;
  const client = createPostgresClient(URL_JOBS, { max: 10 });
  let ran = 0;
  const runner = createJobRunner({
    sql: client,
    clock: systemClock,
    logger: silentLogger,
    owner: `bench-${crypto.randomUUID()}`,
    leaseMs: 30_000,
    pollIntervalMs: 1_000,
  });
  runner.register(
    "noop",
    () => {
      ran++;
    },
    concurrency === undefined ? {} : { concurrency },
  );
  const started = performance.now();
  await runner.start();
  await waitUntil(
    async () => {
      const [row] =
        await sql`SELECT count(*)::int AS n FROM core.tb_job WHERE status = 'succeeded'`;
      return row?.n === JOBS;
    },
    600_000,
    "builtin jobs",
  );
  const seconds = (performance.now() - started) / 1000;
  await runner.stop(5_000);
  await client.close();
  if (ran !== JOBS) fail(`builtin: the handler ran ${ran} times for ${JOBS} jobs`);
  return {
    name: "builtin (ours)",
    settings:
      concurrency === undefined ? "defaults (concurrency 10)" : `concurrency ${concurrency}`,
    jobs: JOBS,
    seconds,
    jobs_per_second: JOBS / seconds,
  };
}

async function graphile(sql: postgres.Sql, tuned: boolean): Promise<Figure> {
  await sql`SELECT graphile_worker.add_jobs(array_agg(
      ('noop', json_build_object('n', n), NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec))
    FROM generate_series(1, ${JOBS}::int) AS n`;
  let ran = 0;
  const started = performance.now();
  const runner = await run({
    connectionString: URL_JOBS,
    logger: quiet,
    noHandleSignals: true,
    taskList: {
      noop: async () => {
        ran++;
      },
    },
    ...(tuned
      ? {
          preset: {
            worker: {
              concurrentJobs: TUNED_CONCURRENCY,
              maxPoolSize: Math.max(10, TUNED_CONCURRENCY + 1),
              localQueue: { size: 500 },
              completeJobBatchDelay: 0,
              failJobBatchDelay: 0,
            },
          },
        }
      : {}),
  });
  await waitUntil(
    async () => {
      const [row] = await sql`SELECT count(*)::int AS n FROM graphile_worker.jobs`;
      return row?.n === 0;
    },
    600_000,
    "graphile-worker jobs",
  );
  const seconds = (performance.now() - started) / 1000;
  await runner.stop();
  if (ran !== JOBS) fail(`graphile-worker: the task ran ${ran} times for ${JOBS} jobs`);
  return {
    name: "graphile-worker",
    settings: tuned
      ? `concurrency ${TUNED_CONCURRENCY}, maxPoolSize ${Math.max(10, TUNED_CONCURRENCY + 1)}, localQueue 500, completeJobBatchDelay 0`
      : "defaults (concurrency 1)",
    jobs: JOBS,
    seconds,
    jobs_per_second: JOBS / seconds,
  };
}

/** The wake-up hint as migration 0011 first had it: a NOTIFY in every enqueueing transaction. */
const OLD_TRIGGER = `
CREATE FUNCTION core.fn_job_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fraiseql_observers_jobs', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER tr_job_pending AFTER INSERT OR UPDATE OF status ON core.tb_job
  FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.queue = 'builtin')
  EXECUTE FUNCTION core.fn_job_notify();`;
type Hint = "trigger" | "doorbell" | "none";
const HINT_LABEL: Record<Hint, string> = {
  trigger: "row trigger pg_notify (0011 as first written)",
  doorbell: "doorbell (now)",
  none: "none (ceiling: no wake-up at all)",
};
const HINTS = ["trigger", "doorbell", "none"] as const;

async function useHint(sql: postgres.Sql, hint: Hint): Promise<void> {
  await sql.unsafe(
    "DROP TRIGGER IF EXISTS tr_job_pending ON core.tb_job; DROP FUNCTION IF EXISTS core.fn_job_notify()",
  );
  if (hint === "trigger") await sql.unsafe(OLD_TRIGGER);
}

/** A doorbell that never rings: the enqueue path before, when the trigger did the notifying. */
const silentDoorbell: JobDoorbell = {
  id: "none",
  ring() {},
  onRing: () => () => {},
  idle: async () => {},
};

interface EnqueueFigure {
  hint: Hint;
  round: number;
  enqueues: number;
  seconds: number;
  enqueues_per_second: number;
  notifications: number;
}

async function enqueueRate(sql: postgres.Sql, hint: Hint, round: number): Promise<EnqueueFigure> {
  await sql`TRUNCATE core.tb_job`;
  await useHint(sql, hint);
  const client = createPostgresClient(URL_JOBS, { max: PRODUCERS });
  let notifications = 0;
  const listener = await client.listen?.(JOBS_NOTIFY_CHANNEL, {
    onNotify: () => {
      notifications++;
    },
  });
  const doorbell = hint === "doorbell" ? createJobDoorbell({ sql: client }) : silentDoorbell;
  const queue = builtinJobQueue(client, { doorbell });
  const signal = new AbortController().signal;
  let enqueues = 0;
  const started = performance.now();
  const end = started + ENQUEUE_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (performance.now() < end) {
        await queue.enqueue(
          {
            task: "noop",
            payload: { n: enqueues },
            jobKey: null,
            maxAttempts: null,
            deliveryId: crypto.randomUUID(),
            eventId: crypto.randomUUID(),
            observerId: crypto.randomUUID(),
            tenant: null,
          },
          signal,
        );
        enqueues++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await doorbell.idle();
  // Let the last notifications arrive before counting them.
  await new Promise((resolve) => setTimeout(resolve, 200));
  await listener?.close();
  await client.close();
  const [row] = await sql`SELECT count(*)::int AS n FROM core.tb_job`;
  if (row?.n !== enqueues) fail(`enqueue: ${row?.n} rows for ${enqueues} enqueues`);
  return { hint, round, enqueues, seconds, enqueues_per_second: enqueues / seconds, notifications };
}

interface WakeFigure {
  hint: Hint;
  round: number;
  jobs: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

const WAKE_JOBS = Number(process.env.BENCH_WAKE_JOBS ?? (quick ? 50 : 200));

/**
 * Wake-up latency at a low rate, across processes: one job at a time enqueued by a "process" (its
 * pool, its doorbell) and run by another (a runner with its own pool and LISTEN connection, a 60 s
 * poll), from the enqueue call until the handler starts.
 */
async function wakeLatency(sql: postgres.Sql, hint: Hint, round: number): Promise<WakeFigure> {
  await sql`TRUNCATE core.tb_job`;
  await useHint(sql, hint);
  const producer = createPostgresClient(URL_JOBS, { max: 2 });
  const consumer = createPostgresClient(URL_JOBS, { max: 4 });
  const doorbell = hint === "doorbell" ? createJobDoorbell({ sql: producer }) : silentDoorbell;
  const queue = builtinJobQueue(producer, { doorbell });
  let onStart: () => void = () => {};
  const runner = createJobRunner({
    sql: consumer,
    clock: systemClock,
    logger: silentLogger,
    owner: `bench-wake-${crypto.randomUUID()}`,
    leaseMs: 180_000,
    pollIntervalMs: 60_000,
  });
  runner.register("wake", () => onStart());
  await runner.start();
  const latencies: number[] = [];
  const signal = new AbortController().signal;
  for (let i = 0; i < WAKE_JOBS; i++) {
    const started = new Promise<number>((resolve) => {
      onStart = () => resolve(performance.now());
    });
    const at = performance.now();
    await queue.enqueue(
      {
        task: "wake",
        payload: { i },
        jobKey: null,
        maxAttempts: null,
        deliveryId: crypto.randomUUID(),
        eventId: crypto.randomUUID(),
        observerId: crypto.randomUUID(),
        tenant: null,
      },
      signal,
    );
    const ran = await Promise.race([
      started,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    if (ran === null) fail(`wake-up (${hint}): job ${i} did not start within 10 s`);
    latencies.push(ran - at);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await runner.stop(5_000);
  await doorbell.idle();
  await producer.close();
  await consumer.close();
  latencies.sort((x, y) => x - y);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? 0;
  return {
    hint,
    round,
    jobs: latencies.length,
    p50_ms: round2(at(0.5)),
    p99_ms: round2(at(0.99)),
    max_ms: round2(latencies[latencies.length - 1] ?? 0),
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

async function enqueueSection(sql: postgres.Sql) {
  const enqueue: EnqueueFigure[] = [];
  for (let round = 1; round <= ENQUEUE_ROUNDS; round++) {
    for (const hint of HINTS) {
      enqueue.push(await enqueueRate(sql, hint, round));
    }
  }
  console.log(
    `\nenqueue rate: ${PRODUCERS} producers, ${ENQUEUE_SECONDS} s each, single-job enqueues (builtinJobQueue)`,
  );
  console.log(
    table(
      ["wake-up hint", "round", "enqueues", "enqueues/s", "notifications"],
      enqueue.map((f) => [
        HINT_LABEL[f.hint],
        String(f.round),
        integer.format(f.enqueues),
        integer.format(f.enqueues_per_second),
        integer.format(f.notifications),
      ]),
      1,
    ),
  );
  const wake: WakeFigure[] = [];
  for (let round = 1; round <= ENQUEUE_ROUNDS; round++) {
    for (const hint of ["trigger", "doorbell"] as const) {
      wake.push(await wakeLatency(sql, hint, round));
    }
  }
  console.log(
    `\nwake-up latency across processes: ${WAKE_JOBS} jobs one at a time, enqueue call to handler start, runner polling every 60 s`,
  );
  console.log(
    table(
      ["wake-up hint", "round", "jobs", "p50 ms", "p99 ms", "max ms"],
      wake.map((f) => [
        HINT_LABEL[f.hint],
        String(f.round),
        String(f.jobs),
        f.p50_ms.toFixed(2),
        f.p99_ms.toFixed(2),
        f.max_ms.toFixed(2),
      ]),
      1,
    ),
  );
  await useHint(sql, "doorbell");
  return {
    wake,
    enqueue: enqueue.map((f) => ({
      ...f,
      seconds: round(f.seconds),
      enqueues_per_second: round(f.enqueues_per_second),
    })),
  };
}

async function main(): Promise<void> {
  await recreateDatabase(URL_JOBS);
  const setup = createPostgresClient(URL_JOBS, { max: 1 });
  await applyMigrations(setup, loadMigrations(), { logger: silentLogger });
  await setup.close();
  await runMigrations({ connectionString: URL_JOBS, logger: quiet });
  const sql = postgres(URL_JOBS, { max: 2, onnotice: () => {} });
  const host = machine();
  console.log(
    `jobs benchmark${quick ? " (--quick)" : ""}: ${integer.format(JOBS)} no-op jobs per configuration`,
  );
  console.log(describeMachine(host));
  if (enqueueOnly) {
    const enqueue = await enqueueSection(sql);
    await sql.end({ timeout: 5 });
    writeResults(quick ? "jobs-enqueue-quick" : "jobs-enqueue", {
      machine: host,
      producers: PRODUCERS,
      enqueue_seconds: ENQUEUE_SECONDS,
      method:
        "enqueue: producers on a pool of as many connections, each awaiting its previous enqueue (builtinJobQueue), a LISTEN connection counting notifications; trigger, doorbell and none alternated",
      ...enqueue,
    });
    return;
  }
  const figures: Figure[] = [];
  figures.push(await ours(sql, undefined));
  figures.push(await graphile(sql, false));
  figures.push(await ours(sql, TUNED_CONCURRENCY));
  figures.push(await graphile(sql, true));
  const enqueue = await enqueueSection(sql);
  await sql.end({ timeout: 5 });
  console.log(
    table(
      ["queue", "settings", "jobs", "seconds", "jobs/s"],
      figures.map((f) => [
        f.name,
        f.settings,
        integer.format(f.jobs),
        f.seconds.toFixed(2),
        integer.format(f.jobs_per_second),
      ]),
      2,
    ),
  );
  writeResults(quick ? "jobs-quick" : "jobs", {
    machine: host,
    jobs: JOBS,
    method:
      "drain: jobs inserted while no runner runs, timed from the runner's start until none is left; no-op handlers; every job must run exactly once",
    figures: figures.map((f) => ({
      ...f,
      seconds: round(f.seconds),
      jobs_per_second: round(f.jobs_per_second),
    })),
    ...enqueue,
  });
}

await main();
process.exit(0);
