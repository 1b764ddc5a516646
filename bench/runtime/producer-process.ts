/**
 * The runtime benchmark's producer, in its own process so that it does not share the runtime's
 * event loop: single-row INSERTs into `bench_orders` at an offered rate over several connections.
 * Reads one JSON command per line on stdin (`{"rate": 1000, "seconds": 10}`) and answers each with
 * one JSON line: the rate achieved and the INSERTs' own round-trip percentiles.
 * argv: the database URL, the number of connections.
 */
import { createInterface } from "node:readline";
import postgres from "postgres";

const [url = "", connections = "8"] = process.argv.slice(2);
const sql = postgres(url, { max: Number(connections), onnotice: () => {} });

async function produce(rate: number, seconds: number) {
  const total = Math.round(rate * seconds);
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  const started = performance.now();
  const inserts: Promise<unknown>[] = [];
  const commits: number[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / tickMs + 1) * perTick));
    for (; sent < due; sent++) {
      const issued = performance.now();
      // postgres.js sends a query once it is awaited or `.then`-ed: this sends it now.
      inserts.push(
        sql`INSERT INTO bench_orders DEFAULT VALUES`.then(() =>
          commits.push(performance.now() - issued),
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await Promise.all(inserts);
  commits.sort((a, b) => a - b);
  return {
    changes: total,
    achieved: total / ((performance.now() - started) / 1000),
    commit_p50_ms: commits[Math.floor(commits.length / 2)] ?? null,
    commit_p99_ms: commits[Math.floor(commits.length * 0.99)] ?? null,
  };
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const { rate, seconds } = JSON.parse(line) as { rate: number; seconds: number };
  process.stdout.write(`${JSON.stringify(await produce(rate, seconds))}\n`);
});
lines.on("close", () => {
  sql.end({ timeout: 5 }).then(() => process.exit(0));
});
