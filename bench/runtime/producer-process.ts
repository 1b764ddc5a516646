/**
 * The runtime benchmark's producer, in its own process so that it does not share the runtime's
 * event loop: INSERTs into `bench_orders` over several connections, one row per statement (each
 * its own transaction: a single-row commit) or `batch` rows per statement
 * (`INSERT … SELECT FROM generate_series(1, batch)`: one commit, one capture-trigger call).
 *
 * Reads one JSON command per line on stdin and answers each with one JSON line: the rows written,
 * the rate achieved and the statements' own round-trip percentiles.
 * - `{"rate": 1000, "seconds": 10, "batch": 1}`: offered load, `rate` rows/s for `seconds`
 *   (open loop: statements are sent on schedule whether or not earlier ones have returned).
 * - `{"rate": 0, "seconds": 10}` or `{"rate": 0, "total": 50000}`: as fast as it goes, closed
 *   loop, one statement in flight per connection, for `seconds` or until `total` rows.
 * argv: the database URL, the number of connections.
 */
import { createInterface } from "node:readline";
import postgres from "postgres";

const [url = "", connections = "8"] = process.argv.slice(2);
const workers = Number(connections);
const sql = postgres(url, { max: workers, onnotice: () => {} });

interface Command {
  rate: number;
  seconds?: number;
  total?: number;
  batch?: number;
}

function insert(rows: number) {
  return rows === 1
    ? sql`INSERT INTO bench_orders DEFAULT VALUES`
    : sql`INSERT INTO bench_orders (status) SELECT 'new' FROM generate_series(1, ${rows}::int)`;
}

/** Offered load: `rate` rows/s for `seconds`, statements of `batch` rows sent on a 10 ms tick. */
async function offered(rate: number, seconds: number, batch: number, commits: number[]) {
  const total = Math.round(rate * seconds);
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  const started = performance.now();
  const inserts: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / tickMs + 1) * perTick));
    while (due - sent >= Math.min(batch, total - sent) && sent < total) {
      const rows = Math.min(batch, total - sent);
      sent += rows;
      const issued = performance.now();
      // postgres.js sends a query once it is awaited or `.then`-ed: this sends it now.
      inserts.push(insert(rows).then(() => commits.push(performance.now() - issued)));
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await Promise.all(inserts);
  return { rows: total, elapsed: performance.now() - started };
}

/** As fast as it goes: each connection sends its next statement when the last one returns. */
async function flood(
  seconds: number | undefined,
  total: number | undefined,
  batch: number,
  commits: number[],
) {
  const limit = total ?? Number.POSITIVE_INFINITY;
  const deadline = seconds === undefined ? Number.POSITIVE_INFINITY : seconds * 1000;
  const started = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < limit && performance.now() - started < deadline) {
      const rows = Math.min(batch, limit - sent);
      sent += rows;
      const issued = performance.now();
      await insert(rows);
      commits.push(performance.now() - issued);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { rows: sent, elapsed: performance.now() - started };
}

async function produce({ rate, seconds, total, batch = 1 }: Command) {
  const commits: number[] = [];
  const { rows, elapsed } =
    rate > 0
      ? await offered(rate, seconds ?? 0, batch, commits)
      : await flood(seconds, total, batch, commits);
  commits.sort((a, b) => a - b);
  return {
    changes: rows,
    statements: commits.length,
    seconds: elapsed / 1000,
    achieved: rows / (elapsed / 1000),
    commit_p50_ms: commits[Math.floor(commits.length / 2)] ?? null,
    commit_p99_ms: commits[Math.floor(commits.length * 0.99)] ?? null,
  };
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  process.stdout.write(`${JSON.stringify(await produce(JSON.parse(line) as Command))}\n`);
});
lines.on("close", () => {
  sql.end({ timeout: 5 }).then(() => process.exit(0));
});
