/**
 * A diagnostic, not a benchmark: how long can the PostgreSQL driver hold a query when connections
 * are terminated? Runs six loops of small queries on a postgres.js pool (as the adapter creates
 * it, or the bare driver with `--raw`) against a PostgreSQL instance started for the run, ends the
 * pool's backends with pg_terminate_backend every 20–500 ms, and reports any query pending longer
 * than `--limit` seconds (default 15). With postgres.js 3.4.9 a connection whose backend is
 * terminated during its start-up waits for its connect timeout with the queries queued on it:
 * the bare driver (30 s) shows it within seconds, the adapter (10 s since the fault suite found
 * 29 s stalls) should not. Run it after upgrading the driver. Exit 1 when a query was held longer.
 *
 * `bun bench/fault/driver-hang.ts [--raw] [--limit seconds] [seconds to run, default 60]`
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import postgres from "postgres";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { startPgCluster } from "../../test/support/fault/pg-cluster.ts";

const raw = process.argv.includes("--raw");
const limitAt = process.argv.indexOf("--limit");
const limitSeconds = limitAt > 0 ? Number(process.argv[limitAt + 1]) : 15;
const seconds = Number(
  process.argv.find((arg, i) => /^\d+$/.test(arg) && process.argv[i - 1] !== "--limit") ?? 60,
);
// The driver's dropped type-fetch promise (adapters/drivers/postgres/driver-defects.ts) is expected here.
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
  hung = [...pending.values()].filter((p) => performance.now() - p.since > limitSeconds * 1000);
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
  `postgres.js ${driver}${raw ? " (bare)" : " (adapter)"}: ${ok} queries answered, ${failed} failed, ${terminations} terminations in ${Math.round((performance.now() - started) / 1000)} s; ${hung.length > 0 ? `${hung.length} pending for more than ${limitSeconds} s (${hung[0]?.text})` : `none pending for more than ${limitSeconds} s`}`,
);
await cluster.destroy();
process.exit(hung.length > 0 ? 1 : 0);
