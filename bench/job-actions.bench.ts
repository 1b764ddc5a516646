/**
 * Job actions end to end: rows of a tracked table → an observer's `job` action (`builtin`) →
 * enqueue → a registered no-op handler, through `createObservers` (the Bun factory, in process,
 * default settings). BENCH_JOB_ACTIONS rows (default 2 000; `--quick`: 500) are inserted in one
 * statement after `start()`, timed from the insert until every job has succeeded; repeated
 * BENCH_JOB_ACTIONS_ROUNDS times (default 3; `--quick`: 1), each on a fresh observers instance
 * over the same database (truncated between rounds). `OBSERVERS_*` variables in the environment
 * are passed to `createObservers` (a tuned run, labelled so); none: the defaults. Every job must run exactly once. It uses only
 * what every release since jobs has (the factory, the tables), so the same file measures an older
 * tree too (the before/after in bench/README.md).
 *
 * Run with Bun: `bun bench/job-actions.bench.ts [--quick]`. Database: BENCH_DATABASE_URL's with
 * `_job_actions` appended to its name, recreated on every run.
 */
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { createObservers } from "../adapters/hosts/bun/index.ts";
import { silentLogger } from "../src/ports/logger.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { DATABASE_URL, recreateDatabase, waitUntil } from "./support/database.ts";
import { fail } from "./support/fail.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const quick = process.argv.includes("--quick");
const JOBS = Number(process.env.BENCH_JOB_ACTIONS ?? (quick ? 500 : 2_000));
const ROUNDS = Number(process.env.BENCH_JOB_ACTIONS_ROUNDS ?? (quick ? 1 : 3));
const ADMIN = "bench-job-actions-admin-token-0123456789";
const URL_ACTIONS = (() => {
  const url = new URL(DATABASE_URL);
  url.pathname = `${url.pathname}_job_actions`;
  return url.toString();
})();

/** `OBSERVERS_*` settings from the environment, for tuned runs (none: the defaults). */
const TUNED: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      entry[0].startsWith("OBSERVERS_") && entry[1] !== undefined,
  ),
);

const SETTINGS =
  Object.keys(TUNED).length === 0
    ? "createObservers defaults"
    : `tuned: ${Object.entries(TUNED)
        .map(([name, value]) => `${name}=${value}`)
        .join(" ")}`;

interface Figure {
  round: number;
  jobs: number;
  seconds: number;
  jobs_per_second: number;
}

async function once(sql: postgres.Sql, n: number): Promise<Figure> {
  await sql`TRUNCATE core.tb_job, bench_job_orders`;
  const observers = createObservers({
    databaseUrl: URL_ACTIONS,
    env: { ...TUNED, OBSERVERS_ADMIN_TOKEN: ADMIN, OBSERVERS_MIGRATE: "off" },
    logger: silentLogger,
    print: () => {},
  });
  let ran = 0;
  observers.jobs.register("ship", () => {
    ran++;
  });
  await observers.start();
  const started = performance.now();
  await sql`INSERT INTO bench_job_orders (n) SELECT n FROM generate_series(1, ${JOBS}::int) AS n`;
  await waitUntil(
    async () => {
      const [row] =
        await sql`SELECT count(*)::int AS n FROM core.tb_job WHERE status = 'succeeded'`;
      return row?.n === JOBS;
    },
    600_000,
    "the job actions' jobs",
  );
  const seconds = (performance.now() - started) / 1000;
  await observers.stop();
  if (ran !== JOBS) fail(`the handler ran ${ran} times for ${JOBS} jobs`);
  return { round: n, jobs: JOBS, seconds, jobs_per_second: JOBS / seconds };
}

async function main(): Promise<void> {
  await recreateDatabase(URL_ACTIONS);
  const setup = createPostgresClient(URL_ACTIONS, { max: 1 });
  await applyMigrations(setup, loadMigrations(), { logger: silentLogger });
  await setup.close();
  const sql = postgres(URL_ACTIONS, { max: 2, onnotice: () => {} });
  await sql.unsafe(`CREATE TABLE bench_job_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int NOT NULL)`);
  await sql`SELECT core.fn_track_table('bench_job_orders', 'Order')`;
  await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
    VALUES ('ship-orders', 'Order', 'INSERT', '[{"type": "job", "task": "ship"}]'::jsonb)`;
  const [trigger] = await sql`SELECT count(*)::int AS n FROM pg_trigger
    WHERE tgrelid = 'core.tb_job'::regclass AND NOT tgisinternal`;
  const host = machine();
  console.log(
    `job actions end to end${quick ? " (--quick)" : ""}: ${integer.format(JOBS)} rows in one insert, ${SETTINGS}, no-op handler; triggers on core.tb_job: ${trigger?.n}`,
  );
  console.log(describeMachine(host));
  const figures: Figure[] = [];
  for (let n = 1; n <= ROUNDS; n++) figures.push(await once(sql, n));
  await sql.end({ timeout: 5 });
  console.log(
    table(
      ["round", "jobs", "seconds", "jobs/s"],
      figures.map((f) => [
        String(f.round),
        integer.format(f.jobs),
        f.seconds.toFixed(2),
        integer.format(f.jobs_per_second),
      ]),
      0,
    ),
  );
  writeResults(quick ? "job-actions-quick" : "job-actions", {
    machine: host,
    jobs: JOBS,
    settings: TUNED,
    triggers_on_tb_job: trigger?.n,
    method:
      "rows inserted in one statement into a tracked table whose observer has a builtin job action; createObservers defaults; no-op handler; timed from the insert until every job succeeded",
    figures: figures.map((f) => ({
      ...f,
      seconds: round(f.seconds),
      jobs_per_second: round(f.jobs_per_second),
    })),
  });
}

await main();
process.exit(0);
