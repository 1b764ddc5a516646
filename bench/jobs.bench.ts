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
 * Run with Bun: `bun bench/jobs.bench.ts [--quick]`. Database: BENCH_DATABASE_URL's with `_jobs`
 * appended to its name, recreated on every run.
 */
import { Logger, run, runMigrations } from "graphile-worker";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { createJobRunner } from "../src/jobs/runner.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { DATABASE_URL, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail } from "./support/fail.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const quick = process.argv.includes("--quick");
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
  const figures: Figure[] = [];
  figures.push(await ours(sql, undefined));
  figures.push(await graphile(sql, false));
  figures.push(await ours(sql, TUNED_CONCURRENCY));
  figures.push(await graphile(sql, true));
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
  });
}

await main();
process.exit(0);
