/**
 * Sources benchmark: MariaDB → binlog reader → change log → webhook, beside the PostgreSQL source
 * (capture trigger → change log → webhook) in the same run, through the Bun server as users run
 * it (one process, default settings), to a receiver in its own process (bench/runtime/receiver).
 *
 * - MariaDB: a `mariadbd` of the benchmark's own (test/support/mariadb-server.ts: free port,
 *   temporary data directory, binlog on in ROW format), a table `bench.orders` tracked through
 *   `POST /api/sources` (url_env). Its `t_ms` is stamped by MariaDB at insert (`NOW(6)`).
 * - PostgreSQL: `bench_orders`, tracked with `core.fn_track_table` (bench/support/database.ts).
 *
 * For each source, one webhook observer on every `Order` INSERT:
 * - latency: insert-to-webhook percentiles at BENCH_SOURCES_RATE single-row commits/s (default
 *   1 000) for BENCH_SECONDS (default 10) after BENCH_SOURCES_WARMUP_SECONDS (default 2) not
 *   counted; the receiver's clock minus the row's `t_ms` (the same machine clock).
 * - sustained: BENCH_SOURCES_CHANGES single-row commits (default 20 000) from BENCH_PRODUCERS
 *   connections (default 8) as fast as they go, from the first write to the last webhook.
 * Every phase checks that each change reached the receiver once and was logged as one success.
 *
 * `--quick` or BENCH_QUICK=1: 3 s, warm-up 1 s, 5 000 changes. Database: BENCH_DATABASE_URL's
 * with `_sources` appended, recreated. Run with Bun: `bun bench/sources.bench.ts [--quick]`;
 * results in bench/results/sources.json (sources-quick.json with `--quick`).
 */
import mysql from "mysql2/promise";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { type MariaDbServer, startMariaDb } from "../test/support/mariadb-server.ts";
import { startServer } from "./live/server.ts";
import { startProducer } from "./runtime/producer.ts";
import { type LatencyStats, startLatencyReceiver } from "./runtime/receiver.ts";
import {
  createBenchOrders,
  DATABASE_URL,
  recreateDatabase,
  waitUntil,
} from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { describeMachine, integer, machine, table, writeResults } from "./support/report.ts";

const quick =
  process.argv.includes("--quick") || /^(1|true|yes|on)$/i.test(process.env.BENCH_QUICK ?? "");
const settings = {
  quick,
  rate: envNumber("BENCH_SOURCES_RATE", 1_000),
  seconds: envNumber("BENCH_SECONDS", quick ? 3 : 10),
  warmup_seconds: envNumber("BENCH_SOURCES_WARMUP_SECONDS", quick ? 1 : 2),
  changes: envNumber("BENCH_SOURCES_CHANGES", quick ? 5_000 : 20_000),
  producers: envNumber("BENCH_PRODUCERS", 8),
};
const DB_URL = (() => {
  const url = new URL(DATABASE_URL);
  url.pathname = `${url.pathname}_sources`;
  return url.toString();
})();

interface Phase {
  changes: number;
  seconds: number;
  changes_per_sec: number;
}
interface Result {
  source: "postgres" | "mariadb";
  latency: Phase & { offered_per_sec: number; hook: LatencyStats };
  sustained: Phase;
}

/** A producer writing single-row commits into MariaDB's `bench.orders`. */
function mariaProducer(pool: mysql.Pool) {
  const insert = () => pool.query("INSERT INTO bench.orders (status) VALUES ('new')");
  return {
    /** Open loop: `rate` rows/s for `seconds`, sent on a 10 ms tick. */
    async produce(rate: number, seconds: number): Promise<number> {
      const total = Math.round(rate * seconds);
      const started = performance.now();
      const pending: Promise<unknown>[] = [];
      let sent = 0;
      while (sent < total) {
        const due = Math.min(
          total,
          Math.floor(((performance.now() - started) / 10 + 1) * (rate / 100)),
        );
        for (; sent < due; sent++) pending.push(insert());
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await Promise.all(pending);
      return total;
    },
    /** Closed loop: `connections` statements in flight until `total` rows. */
    async flood(total: number, connections: number): Promise<void> {
      let next = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (next < total) {
            next++;
            await insert();
          }
        }),
      );
    },
  };
}

await runBenchmark("sources", async () => {
  const { rate, seconds, changes, producers } = settings;
  if (!(rate > 0 && seconds > 0 && changes >= 1 && producers >= 1)) {
    fail(
      "BENCH_SOURCES_RATE, BENCH_SECONDS, BENCH_SOURCES_CHANGES and BENCH_PRODUCERS must be positive",
    );
  }
  await recreateDatabase(DB_URL);
  const client = createPostgresClient(DB_URL, { max: 1 });
  await applyMigrations(client, loadMigrations());
  await client.close();
  const sql = postgres(DB_URL, { max: 2, onnotice: () => {} });
  await createBenchOrders(sql);
  const receiver = await startLatencyReceiver();
  await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
    VALUES ('bench-sources', 'Order', 'INSERT',
      ${JSON.stringify([{ type: "webhook", url: receiver.url }])}::text::jsonb)`;

  const maria: MariaDbServer = await startMariaDb().catch((error: Error) => fail(error.message));
  const mariaUrl = await maria.createUser("bench", "bench-password");
  await maria.query(`CREATE DATABASE bench; CREATE TABLE bench.orders (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    t_ms DOUBLE NOT NULL DEFAULT (UNIX_TIMESTAMP(NOW(6)) * 1000),
    status VARCHAR(20) NOT NULL DEFAULT 'new');
    CREATE USER 'writer'@'%' IDENTIFIED BY 'writer-password';
    GRANT INSERT ON bench.* TO 'writer'@'%'`);
  const pool = mysql.createPool({
    host: "127.0.0.1",
    port: maria.port,
    user: "writer",
    password: "writer-password",
    connectionLimit: producers,
  });
  const token = `bench-${crypto.randomUUID()}`;
  const server = await startServer({
    DATABASE_URL: DB_URL,
    OBSERVERS_ADMIN_TOKEN: token,
    OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
    OBSERVERS_SECRET_BENCH_MARIADB: mariaUrl,
  });
  const results: Result[] = [];
  const pgLoad = startProducer(DB_URL, producers);
  const maLoad = mariaProducer(pool);
  try {
    const created = await fetch(`${server.url}/api/sources`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "bench",
        kind: "mysql",
        url_env: "OBSERVERS_SECRET_BENCH_MARIADB",
        tables: [{ table: "bench.orders", entity_type: "Order" }],
      }),
    });
    if (created.status !== 201)
      fail(`POST /api/sources: ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    await waitUntil(
      async () => {
        const [row] = await sql`SELECT connected FROM core.tb_source WHERE id = ${id}::uuid`;
        return row?.connected === true;
      },
      30_000,
      "the source connected",
    );

    const logMark = async () => {
      const [row] =
        await sql`SELECT coalesce(max(pk_observer_log), 0)::bigint AS m FROM core.tb_observer_log`;
      return Number(row?.m ?? 0);
    };
    const settle = async (what: string, mark: number, expected: number) => {
      await waitUntil(
        async () => {
          const [row] = await sql`SELECT count(*)::int AS n FROM core.tb_observer_log
            WHERE pk_observer_log > ${mark} AND status = 'success'`;
          return (await receiver.count()) >= expected && Number(row?.n) >= expected;
        },
        300_000,
        `${what}: ${expected} changes delivered`,
      );
      const got = await receiver.check();
      if (got.distinct !== expected) fail(`${what}: ${got.distinct} distinct of ${expected}`);
    };

    for (const source of ["postgres", "mariadb"] as const) {
      const produce = (r: number, s: number) =>
        source === "postgres" ? pgLoad.produce(r, s).then((p) => p.changes) : maLoad.produce(r, s);
      // Warm-up, not counted.
      let mark = await logMark();
      await receiver.reset();
      await settle(`${source} warm-up`, mark, await produce(rate, settings.warmup_seconds));
      mark = await logMark();
      await receiver.reset();
      const started = performance.now();
      const offered = await produce(rate, seconds);
      await settle(`${source} latency`, mark, offered);
      const latencySeconds = (performance.now() - started) / 1000;
      const hook = await receiver.stats();
      mark = await logMark();
      await receiver.reset();
      const floodStart = performance.now();
      if (source === "postgres") await pgLoad.flood({ total: changes });
      else await maLoad.flood(changes, producers);
      await settle(`${source} sustained`, mark, changes);
      const sustainedSeconds = (performance.now() - floodStart) / 1000;
      results.push({
        source,
        latency: {
          offered_per_sec: rate,
          changes: offered,
          seconds: latencySeconds,
          changes_per_sec: offered / latencySeconds,
          hook,
        },
        sustained: {
          changes,
          seconds: sustainedSeconds,
          changes_per_sec: changes / sustainedSeconds,
        },
      });
      console.log(
        `${source}: p50 ${hook.p50_ms.toFixed(1)} ms, p99 ${hook.p99_ms.toFixed(1)} ms at ${rate}/s; sustained ${integer.format(changes / sustainedSeconds)} changes/s`,
      );
    }
  } finally {
    await server.stop();
    await pgLoad.stop();
    await pool.end();
    await receiver.stop();
    await maria.close();
    await sql.end({ timeout: 5 });
  }
  const host = machine();
  console.log(`\n${describeMachine(host)}`);
  console.log(
    table(
      ["source", "p50 ms", "p99 ms", "max ms", "sustained changes/s"],
      results.map((r) => [
        r.source,
        r.latency.hook.p50_ms.toFixed(1),
        r.latency.hook.p99_ms.toFixed(1),
        r.latency.hook.max_ms.toFixed(1),
        integer.format(r.sustained.changes_per_sec),
      ]),
      1,
    ),
  );
  writeResults(quick ? "sources-quick" : "sources", { machine: host, settings, results });
});
