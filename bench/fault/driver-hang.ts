/**
 * A diagnostic, not a benchmark: does the PostgreSQL driver leave queries pending for good when
 * their connections are terminated? Runs six loops of small queries on a postgres.js pool (as the
 * adapter creates it, or the bare driver with `--raw`) against a PostgreSQL instance started for
 * the run, ends the pool's backends with pg_terminate_backend every 20–500 ms, and reports any
 * query still pending after 10 s. With postgres.js 3.4.9 this happens within seconds (the fault
 * benchmark's "SIGTERM hung" rounds are the live feed's stop waiting for such a query); run it
 * after upgrading the driver. Exit 1 when a query hung.
 *
 * `bun bench/fault/driver-hang.ts [--raw] [seconds, default 60]`
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import postgres from "postgres";
import { createPostgresClient } from "../../adapters/postgres/postgres-client.ts";
import { startPgCluster } from "../../test/support/fault/pg-cluster.ts";

const raw = process.argv.includes("--raw");
const seconds = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 60);
// The driver's dropped type-fetch promise (adapters/postgres/driver-defects.ts) is expected here.
process.on("unhandledRejection", () => {});

const cluster = await startPgCluster();
const url = cluster.url("postgres");
let query: (text: string) => Promise<unknown>;
if (raw) {
  const sql = postgres(url, {
    max: 10,
    onnotice: () => {},
    connection: { application_name: "victim" },
  });
  query = (text) => sql.unsafe(text);
} else {
  const client = createPostgresClient(url, { max: 10, applicationName: "victim" });
  query = (text) => client.query(text);
}
const killer = postgres(url, { max: 1, onnotice: () => {} });
const pending = new Map<number, { since: number; text: string }>();
let next = 0;
let ok = 0;
let failed = 0;
let running = true;
async function loop(text: string) {
  while (running) {
    const id = next++;
    pending.set(id, { since: performance.now(), text });
    await query(text).then(
      () => ok++,
      () => failed++,
    );
    pending.delete(id);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
for (let i = 0; i < 6; i++) void loop(i % 2 ? "SELECT pg_sleep(0.005)" : "SELECT 1");
const started = performance.now();
let hung: { since: number; text: string }[] = [];
let terminations = 0;
while (performance.now() - started < seconds * 1000 && hung.length === 0) {
  const pause = Math.random() < 0.5 ? 20 + Math.random() * 80 : 200 + Math.random() * 300;
  await new Promise((resolve) => setTimeout(resolve, pause));
  await killer`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'`;
  terminations++;
  hung = [...pending.values()].filter((p) => performance.now() - p.since > 10_000);
}
running = false;
const driver = (
  JSON.parse(
    readFileSync(createRequire(import.meta.url).resolve("postgres/package.json"), "utf8"),
  ) as {
    version: string;
  }
).version;
console.log(
  `postgres.js ${driver}${raw ? " (bare)" : " (adapter)"}: ${ok} queries answered, ${failed} failed, ${terminations} terminations in ${Math.round((performance.now() - started) / 1000)} s; ${hung.length > 0 ? `${hung.length} pending for more than 10 s (${hung[0]?.text})` : "none pending for more than 10 s"}`,
);
await cluster.destroy();
process.exit(hung.length > 0 ? 1 : 0);
