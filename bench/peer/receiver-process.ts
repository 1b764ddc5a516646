/**
 * The peer benchmark's webhook receiver, in its own process: the runtime benchmark's receiver
 * (`runtime/receiver-process.ts`: 204 over keep-alive, per request the time since the row's
 * `after.t_ms`, stamped by the database at insert on the same machine clock) that also keeps the
 * set of row ids (`after.id`) it saw, so that a run can check every change arrived. Both pipelines
 * post to this one receiver. Prints its port, then answers commands on stdin: `count` (requests),
 * `unique` (distinct row ids), `stats` (JSON percentiles since the last `reset`), `reset`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let latencies: number[] = [];
let received = 0;
let ids = new Set<string>();
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const now = performance.timeOrigin + performance.now();
    received++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        after?: { id?: number | string; t_ms?: number };
      };
      const written = Number(body.after?.t_ms);
      if (Number.isFinite(written)) latencies.push(now - written);
      if (body.after?.id !== undefined) ids.add(String(body.after.id));
    } catch {}
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  for (const line of chunk.split("\n")) {
    if (line === "count") process.stdout.write(`${received}\n`);
    else if (line === "unique") process.stdout.write(`${ids.size}\n`);
    else if (line === "reset") {
      latencies = [];
      received = 0;
      ids = new Set();
      process.stdout.write("ok\n");
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
