/**
 * The runtime benchmark's webhook receiver, in its own process: answers 204 over keep-alive and
 * records, per request, how long ago the change was written (`after.t_ms`, stamped by the
 * database at insert, on the same machine clock) and which (observer, change) it was for.
 * Prints its port, then answers commands on stdin:
 * - `count`: requests since the last `reset`;
 * - `stats`: JSON latency percentiles since the last `reset`, from every sample kept exactly and
 *   sorted (nearest rank: p99 of 1 000 samples is the 990th smallest), no histogram buckets;
 * - `check`: JSON `{received, distinct, duplicates}`, distinct (observer, change) pairs (the
 *   change is `event_id`, or the row's `after.id` for payloads without one, such as the peer
 *   benchmark's graphile-worker jobs);
 * - `reset`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let latencies: number[] = [];
let received = 0;
let seen = new Set<string>();
let duplicates = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const now = performance.timeOrigin + performance.now();
    received++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        event_id?: unknown;
        observer?: { name?: unknown };
        after?: { id?: unknown; t_ms?: number };
      };
      const written = Number(body.after?.t_ms);
      if (Number.isFinite(written)) latencies.push(now - written);
      const change = body.event_id ?? body.after?.id;
      const key = `${String(body.observer?.name)}\u0000${String(change)}`;
      if (seen.has(key)) duplicates++;
      else seen.add(key);
    } catch {}
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});

/** Nearest rank on sorted samples. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

process.stdin.setEncoding("utf8");
let buffered = "";
process.stdin.on("data", (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split("\n");
  buffered = lines.pop() ?? "";
  for (const line of lines) {
    if (line === "count") process.stdout.write(`${received}\n`);
    else if (line === "reset") {
      latencies = [];
      received = 0;
      seen = new Set();
      duplicates = 0;
      process.stdout.write("ok\n");
    } else if (line === "check") {
      process.stdout.write(`${JSON.stringify({ received, distinct: seen.size, duplicates })}\n`);
    } else if (line === "stats") {
      const sorted = latencies.slice().sort((a, b) => a - b);
      const stats = {
        samples: sorted.length,
        p50_ms: percentile(sorted, 50),
        p95_ms: percentile(sorted, 95),
        p99_ms: percentile(sorted, 99),
        max_ms: sorted.at(-1) ?? Number.NaN,
      };
      process.stdout.write(`${JSON.stringify(stats)}\n`);
    }
  }
});
process.stdin.on("end", () => server.close(() => process.exit(0)));
