/**
 * The soak benchmark's webhook receiver, in its own process: answers 204 over keep-alive and, per
 * request, records which change it carries (`after.id`, the `bench_orders` row) and how long ago
 * that change was written (`after.t_ms`, stamped by the database at insert; same machine clock).
 *
 * Prints its port, then answers one command per line on stdin with one JSON line:
 * - `interval`: requests and latency percentiles since the previous `interval`, then starts anew;
 * - `total`: requests, distinct changes and latency percentiles over the whole run;
 * - `verify <n>`: whether changes 1…n each arrived exactly once (missing, duplicated, unexpected).
 *
 * Memory stays bounded however long the run: one byte per change id (a count, saturating at 255)
 * and latency histograms in 0.1 ms buckets, never a list of every request.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";

/** Latency histogram: bucket = tenths of a millisecond, capped at 10 minutes. */
class Histogram {
  private buckets = new Map<number, number>();
  count = 0;
  max = 0;

  add(ms: number): void {
    const key = Math.min(6_000_000, Math.max(0, Math.round(ms * 10)));
    this.buckets.set(key, (this.buckets.get(key) ?? 0) + 1);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Percentiles (nearest rank), in ms; NaN when empty. */
  stats() {
    const keys = [...this.buckets.keys()].sort((a, b) => a - b);
    const at = (p: number) => {
      const rank = Math.max(1, Math.ceil((p / 100) * this.count));
      let seen = 0;
      for (const key of keys) {
        seen += this.buckets.get(key) as number;
        if (seen >= rank) return key / 10;
      }
      return Number.NaN;
    };
    return {
      samples: this.count,
      p50_ms: at(50),
      p95_ms: at(95),
      p99_ms: at(99),
      max_ms: this.count > 0 ? this.max : Number.NaN,
    };
  }
}

/** Requests per change id (index = `bench_orders.id`), saturating at 255; grows by doubling. */
let seen = new Uint8Array(1 << 20);
let requests = 0;
let distinct = 0;
let unreadable = 0;
let overall = new Histogram();
let interval = new Histogram();
let intervalRequests = 0;

function record(id: number, latencyMs: number): void {
  if (id >= seen.length) {
    let size = seen.length;
    while (size <= id) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(seen);
    seen = grown;
  }
  const count = seen[id] as number;
  if (count === 0) distinct++;
  if (count < 255) seen[id] = count + 1;
  if (Number.isFinite(latencyMs)) {
    overall.add(latencyMs);
    interval.add(latencyMs);
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const now = performance.timeOrigin + performance.now();
    requests++;
    intervalRequests++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        after?: { id?: number; t_ms?: number };
      };
      const id = Number(body.after?.id);
      if (Number.isSafeInteger(id) && id > 0) record(id, now - Number(body.after?.t_ms));
      else unreadable++;
    } catch {
      unreadable++;
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});

function verify(expected: number) {
  let missing = 0;
  let duplicated = 0;
  let extraRequests = 0;
  let unexpected = 0;
  const missingSample: number[] = [];
  const duplicatedSample: number[] = [];
  for (let id = 1; id < seen.length; id++) {
    const count = seen[id] as number;
    if (id > expected) {
      if (count > 0) unexpected++;
      continue;
    }
    if (count === 0) {
      missing++;
      if (missingSample.length < 10) missingSample.push(id);
    } else if (count > 1) {
      duplicated++;
      extraRequests += count - 1;
      if (duplicatedSample.length < 10) duplicatedSample.push(id);
    }
  }
  // Ids past the array were never received: all missing.
  for (let id = seen.length; id <= expected; id++) {
    missing++;
    if (missingSample.length < 10) missingSample.push(id);
  }
  return {
    expected,
    requests,
    distinct,
    missing,
    duplicated,
    extra_requests: extraRequests,
    unexpected,
    unreadable,
    missing_sample: missingSample,
    duplicated_sample: duplicatedSample,
  };
}

const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  const [command, argument] = line.trim().split(/\s+/);
  if (command === "interval") {
    answer({ requests: intervalRequests, ...interval.stats() });
    interval = new Histogram();
    intervalRequests = 0;
  } else if (command === "total") {
    answer({ requests, distinct, unreadable, ...overall.stats() });
  } else if (command === "verify") {
    answer(verify(Number(argument)));
  } else if (command === "reset") {
    seen = new Uint8Array(1 << 20);
    requests = distinct = unreadable = intervalRequests = 0;
    overall = new Histogram();
    interval = new Histogram();
    answer({ ok: true });
  } else if (command !== "") {
    answer({ error: `unknown command ${command}` });
  }
});
commands.on("close", () => server.close(() => process.exit(0)));
