/**
 * Metrics benchmark: the cost the hot path pays per attempt and per change (src/metrics), and a
 * scrape's rendering. Every task is checked first (the counter moved, the traceparent is well
 * formed); times are per call, in batches (support/measure.ts).
 *
 * - `recordAttempt` (success, and a failure that is retried): what the executor's `finish` adds.
 * - a resolved child's `inc()` and a histogram's `observe()`: what one more metric costs.
 * - `traceparentFor`: per attempt of a change with a trace id (a new span id).
 * - `render`: the process registry with every action type used, as a scrape renders it.
 *
 * Run: `node bench/metrics.bench.ts` or `bun bench/metrics.bench.ts` (a few seconds). Environment:
 * BENCH_TIME_MS (default 1000), BENCH_WARMUP_MS (default 250). Writes bench/results/metrics.json.
 */
import type { ExecutionOutcome } from "../src/executor/outcome.ts";
import { eventsProcessed, metrics, recordAttempt } from "../src/metrics/observers.ts";
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { traceparentFor } from "../src/metrics/trace.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { addBatchedTask, createBench, runBench, settingsFromEnv } from "./support/measure.ts";
import {
  describeMachine,
  machine,
  ns,
  settingsRecord,
  table,
  taskRows,
  writeResults,
} from "./support/report.ts";

const success: ExecutionOutcome = {
  deliveryId: "d",
  attempt: 1,
  maxAttempts: 3,
  status: "success",
  disposition: "done",
  nextAttempt: null,
  nextAttemptAt: null,
  startedAt: 0,
  durationMs: 12,
  httpStatus: 204,
  errorCode: null,
  errorMessage: null,
  message: "HTTP 204",
  responseExcerpt: null,
};
const retried: ExecutionOutcome = {
  ...success,
  status: "failed",
  disposition: "retry",
  nextAttempt: 2,
  nextAttemptAt: 1,
  httpStatus: 503,
  errorCode: "HTTP_STATUS",
};
const TYPES = ["webhook", "slack", "email", "sms", "push", "search", "cache", "log"];

await runBenchmark("metrics", async () => {
  const settings = settingsFromEnv();
  const bench = createBench("fraiseql-observers metrics", settings);
  const local = new MetricsRegistry();
  const counter = local.counter("bench_total", "Bench.", ["kind"]).labels("a");
  const histogram = local.histogram("bench_seconds", "Bench.", ["kind"]).labels("a");
  for (const type of TYPES) {
    recordAttempt(type, success, null);
    recordAttempt(type, retried, "transient");
  }

  const before = eventsProcessed.value;
  eventsProcessed.inc(500);
  if (eventsProcessed.value !== before + 500) fail("the counter did not move");
  const traceparent = traceparentFor("4bf92f3577b34da6a3ce929d0e0e4736") ?? "";
  if (!/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/.test(traceparent)) {
    fail(`malformed traceparent ${traceparent}`);
  }
  if (!metrics.render().includes('fraiseql_observer_action_executed_total{action_type="log"}')) {
    fail("render lacks an action type");
  }

  const infos = new Map<string, { batch: number }>();
  const add = (name: string, fn: () => void) =>
    infos.set(name, { batch: addBatchedTask(bench, name, fn) });
  add("recordAttempt, success", () => recordAttempt("webhook", success, null));
  add("recordAttempt, failure retried", () => recordAttempt("webhook", retried, "transient"));
  add("counter child inc()", () => counter.inc());
  add("histogram child observe()", () => histogram.observe(0.05));
  add("traceparentFor (new span id)", () => {
    traceparentFor("4bf92f3577b34da6a3ce929d0e0e4736");
  });
  add("render the process registry", () => {
    metrics.render();
  });
  await runBench(bench);
  const rows = taskRows(bench, infos);
  const host = machine();
  console.log(`\n${describeMachine(host)}\n`);
  console.log(
    table(
      ["task", "ns/op", "p99 ns", "±%"],
      rows.map((r) => [r.name, ns(r.ns_per_op), ns(r.p99_ns), r.rme_pct.toFixed(1)]),
      1,
    ),
  );
  writeResults("metrics", { settings: settingsRecord(settings), host, rows });
});
