/**
 * Core benchmark: condition parsing and evaluation, change-event normalization, and the matcher at
 * 10 / 1 000 / 10 000 observers. Run with `npm run bench`; prints a table and writes
 * bench/results/core.json. Every measured call is checked first (parses, evaluates to the expected
 * value, matches the expected observers): a failed check exits non-zero instead of timing nothing.
 *
 * Environment: BENCH_TIME_MS (time budget per task, default 1000) and BENCH_WARMUP_MS (default 250).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, platform } from "node:os";
import { Bench, type FnReturnedObject, type Task } from "tinybench";
import {
  type ChangeEvent,
  compileCondition,
  createConditionCache,
  createMatcher,
  type JsonObject,
  type MatchableObserver,
  type Matcher,
  normalizeChangeEvent,
  parseCondition,
} from "../src/index.ts";

const TIME_MS = envNumber("BENCH_TIME_MS", 1000);
const WARMUP_MS = envNumber("BENCH_WARMUP_MS", 250);
/** Calls are timed in batches of about this long, so the timer's own cost stays out of the figures. */
const BATCH_TARGET_NS = 50_000;
const OBSERVER_COUNTS = [10, 1_000, 10_000] as const;

/** Consumes every result so the engine cannot drop the measured work. */
let sink = 0;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) fail(`${name} must be a non-negative number`);
  return value;
}

function fail(message: string): never {
  console.error(`bench/core: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const CUSTOMER_ID = 4711;

/** An order row as an application writes it: 16 columns, nested objects, an array of items. */
function orderImage(status: string, updatedAt: string, tracking: string | null): JsonObject {
  return {
    id: 1_048_576,
    order_number: "ORD-2026-004711",
    customer_id: CUSTOMER_ID,
    status,
    total: 249.9,
    subtotal: 229.9,
    tax: 20,
    currency: "EUR",
    customer: {
      id: CUSTOMER_ID,
      name: "Ada Lovelace",
      email: "ada.lovelace@example.com",
      tier: "gold",
      since: "2019-03-14",
    },
    items: [
      { sku: "SKU-1001", quantity: 2, unit_price: 59.95 },
      { sku: "SKU-2002", quantity: 1, unit_price: 110 },
    ],
    shipping_address: {
      line1: "12 Analytical Street",
      city: "London",
      postcode: "N1 9GU",
      country: "GB",
    },
    tags: ["priority", "gift"],
    is_paid: true,
    tracking_number: tracking,
    created_at: "2026-11-20T09:15:00Z",
    updated_at: updatedAt,
  };
}

const AFTER = orderImage("shipped", "2026-11-27T04:49:40Z", "1Z999AA10123456784");
const BEFORE = orderImage("pending", "2026-11-20T09:15:00Z", null);

/** A `core.tb_entity_change_log` row as postgres.js returns it (JSONB parsed, timestamptz a Date). */
const ROW_OBJECTS = {
  id: "0193a5c2-7e4b-7c1d-9f3e-2b8a6d4c1e07",
  pk_entity_change_log: 987_654,
  object_type: "Order",
  modification_type: "UPDATE",
  object_id: 1_048_576,
  object_data: AFTER,
  object_data_before: BEFORE,
  fk_customer_org: 1,
  tenant_id: null,
  created_at: new Date("2026-11-27T04:49:40.123Z"),
  transaction_id: 88_123,
};

/** The same row from a driver that returns JSONB as text. */
const ROW_TEXT = {
  ...ROW_OBJECTS,
  object_data: JSON.stringify(AFTER),
  object_data_before: JSON.stringify(BEFORE),
};

const EVENT: ChangeEvent = normalizeChangeEvent(ROW_OBJECTS);

/** Representative conditions, with what each evaluates to on EVENT. */
const CONDITIONS: readonly { source: string; expected: boolean }[] = [
  { source: "total > 100", expected: true },
  { source: "status == 'pending'", expected: false },
  { source: "field_changed_to('status', 'shipped') && total > 100", expected: true },
  {
    source: "customer.tier in ['gold', 'platinum'] && (total >= 1000 || has_field('vip'))",
    expected: false,
  },
  { source: "customer.email matches '^[a-z0-9._%+-]+@example\\.com$'", expected: true },
];

// ---------------------------------------------------------------------------------------------
// Observer sets
// ---------------------------------------------------------------------------------------------

interface Observer extends MatchableObserver {
  id: number;
}

interface Scenario {
  name: "indexed" | "unindexable";
  description: string;
  build(count: number): Observer[];
  /** How many observers must match EVENT, at every observer count measured. */
  expectedMatches: number;
  /** How many conditions match() must evaluate for EVENT (what the indexes leave). */
  expectedEvaluated(count: number): number;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "indexed",
    description:
      "`customer_id == <n> && total > 100`; entity types Order / any / Invoice / Shipment, event types UPDATE / any / insert, tenants any / 1 / 2; the first 12 observers watch the event's customer",
    // Of the first 12 (which watch customer 4711), those for Order-or-any and UPDATE-or-any.
    expectedMatches: 4,
    // The equality index leaves only those four.
    expectedEvaluated: () => 4,
    build(count) {
      const entities = ["Order", null, "Invoice", "Shipment"];
      const eventTypes = ["UPDATE", null, "insert"];
      const tenants = [null, 1, 2];
      return Array.from({ length: count }, (_, i) => ({
        id: i,
        entity_type: entities[i % 4] ?? null,
        event_type: eventTypes[Math.floor(i / 4) % 3] ?? null,
        fk_customer_org: i < 12 ? null : (tenants[Math.floor(i / 12) % 3] ?? null),
        priority: 100 - (i % 3) * 10,
        condition_expression: `customer_id == ${i < 12 ? CUSTOMER_ID : 100_000 + i} && total > 100`,
      }));
    },
  },
  {
    name: "unindexable",
    description:
      "`total > <245 + n>`; entity type Order or any, event type UPDATE or any, tenant any or 1, so every observer is a candidate and is evaluated; the first 5 match",
    expectedMatches: 5,
    expectedEvaluated: (count) => count,
    build(count) {
      return Array.from({ length: count }, (_, i) => ({
        id: i,
        entity_type: i % 2 === 0 ? "Order" : null,
        event_type: Math.floor(i / 2) % 2 === 0 ? "UPDATE" : null,
        fk_customer_org: i % 3 === 2 ? 1 : null,
        priority: 100 - (i % 3) * 10,
        condition_expression: `total > ${245 + i}`,
      }));
    },
  },
];

/**
 * What the matcher must return, worked out the slow way: every observer checked in turn. Also
 * counts the observers whose tenant, event type and entity type fit: what a matcher without the
 * equality index would evaluate.
 */
function referenceMatch(
  observers: readonly Observer[],
  event: ChangeEvent,
): { matched: Observer[]; eligible: number } {
  const matched: { observer: Observer; order: number }[] = [];
  let eligible = 0;
  observers.forEach((observer, order) => {
    if (observer.enabled === false) return;
    if (observer.fk_customer_org != null && String(observer.fk_customer_org) !== event.tenant_id) {
      return;
    }
    if (observer.event_type != null && observer.event_type.toUpperCase() !== event.event_type) {
      return;
    }
    if (observer.entity_type != null && observer.entity_type !== event.entity_type) return;
    eligible++;
    const source = observer.condition_expression?.trim();
    if (source && !compileCondition(source).evaluate(event)) return;
    matched.push({ observer, order });
  });
  matched.sort(
    (a, b) => (a.observer.priority ?? 100) - (b.observer.priority ?? 100) || a.order - b.order,
  );
  return { matched: matched.map((m) => m.observer), eligible };
}

/** Checks the matcher against the reference; returns how many observers it evaluates and could have. */
function checkMatcher(
  scenario: Scenario,
  count: number,
  observers: Observer[],
  matcher: Matcher<Observer>,
): { evaluated: number; eligible: number } {
  const where = `${scenario.name} matcher with ${count} observers`;
  const result = matcher.match(EVENT);
  if (result.errors.length > 0) {
    fail(`${where}: ${result.errors.length} errors, first: ${result.errors[0]?.error.message}`);
  }
  const { matched, eligible } = referenceMatch(observers, EVENT);
  if (matched.length !== scenario.expectedMatches) {
    fail(
      `${where}: the reference finds ${matched.length} matches, not ${scenario.expectedMatches}`,
    );
  }
  const got = result.matched.map((o) => o.id).join(",");
  const want = matched.map((o) => o.id).join(",");
  if (got !== want) fail(`${where}: matched [${got}], expected [${want}]`);
  if (result.evaluated !== scenario.expectedEvaluated(count)) {
    fail(
      `${where}: evaluated ${result.evaluated} conditions, expected ${scenario.expectedEvaluated(count)}`,
    );
  }
  return { evaluated: result.evaluated, eligible };
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

type Group = "parse" | "evaluate" | "normalize" | "match";

interface TaskInfo {
  group: Group;
  label: string;
  batch: number;
  scenario?: Scenario["name"];
  observers?: number;
  matched?: number;
  /** Conditions match() evaluates. */
  evaluated?: number;
  /** Observers whose tenant, event type and entity type fit the event. */
  eligible?: number;
}

const bench = new Bench({
  name: "fraiseql-observers core",
  time: TIME_MS,
  warmupTime: WARMUP_MS,
  iterations: 16,
  warmupIterations: 16,
});
const infos = new Map<string, TaskInfo>();

/** Cost of one warmed-up call in ns, roughly (best of three): enough to size a batch. */
function estimateNs(fn: () => void): number {
  const warmUntil = performance.now() + 20;
  let warmCalls = 0;
  while (warmCalls < 32 || performance.now() < warmUntil) {
    fn();
    warmCalls++;
  }
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    let calls = 1;
    for (;;) {
      const start = performance.now();
      for (let i = 0; i < calls; i++) fn();
      const elapsed = performance.now() - start;
      if (elapsed >= 1 || calls >= 1 << 20) {
        best = Math.min(best, (elapsed * 1e6) / calls);
        break;
      }
      calls *= 2;
    }
  }
  return best;
}

/** Adds a task whose samples are the mean time of one call over a batch of calls. */
function addTask(info: Omit<TaskInfo, "batch">, fn: () => void): void {
  const batch = Math.max(1, Math.min(100_000, Math.round(BATCH_TARGET_NS / estimateNs(fn))));
  const name = `${info.group}: ${info.label}`;
  infos.set(name, { ...info, batch });
  bench.add(
    name,
    (): FnReturnedObject => {
      const start = performance.now();
      for (let i = 0; i < batch; i++) fn();
      const elapsed = performance.now() - start;
      return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
    },
    { async: false },
  );
}

// 1. Parsing.
for (const { source } of CONDITIONS) {
  const parsed = parseCondition(source);
  if (!parsed.success) fail(`'${source}' does not parse: ${JSON.stringify(parsed.issues)}`);
  addTask({ group: "parse", label: source }, () => {
    if (parseCondition(source).success) sink++;
  });
}

// 2. Evaluation on a normalized UPDATE.
for (const { source, expected } of CONDITIONS) {
  const { evaluate } = compileCondition(source);
  const got = evaluate(EVENT);
  if (got !== expected) fail(`'${source}' evaluates to ${got} on the event, expected ${expected}`);
  addTask({ group: "evaluate", label: `${source}  → ${expected}` }, () => {
    if (evaluate(EVENT)) sink++;
  });
}

// 3. Normalization.
for (const [label, row] of [
  ["UPDATE row, JSONB as objects", ROW_OBJECTS],
  ["UPDATE row, JSONB as JSON text", ROW_TEXT],
] as const) {
  const event = normalizeChangeEvent(row);
  const changed = Object.keys(event.changes ?? {})
    .sort()
    .join(",");
  if (changed !== "status,tracking_number,updated_at") {
    fail(`normalizing the ${label} gives changes [${changed}]`);
  }
  addTask({ group: "normalize", label }, () => {
    if (normalizeChangeEvent(row).changes) sink++;
  });
}

// 4. Matching, and what building the matchers costs.
const builds: Record<string, { observers: number; cold_ms: number; warm_ms: number }> = {};
for (const scenario of SCENARIOS) {
  for (const count of OBSERVER_COUNTS) {
    const observers = scenario.build(count);
    const cache = createConditionCache(count * 2);
    const coldStart = performance.now();
    const matcher = createMatcher(observers, { cache });
    const coldMs = performance.now() - coldStart;
    const warmMs = medianMs(5, () => createMatcher(observers, { cache }));
    builds[`${scenario.name}/${count}`] = { observers: count, cold_ms: coldMs, warm_ms: warmMs };
    if (matcher.size !== count) fail(`${scenario.name}: matcher holds ${matcher.size} of ${count}`);
    const { evaluated, eligible } = checkMatcher(scenario, count, observers, matcher);
    addTask(
      {
        group: "match",
        label: `${scenario.name}, ${count.toLocaleString("en-US")} observers`,
        scenario: scenario.name,
        observers: count,
        matched: scenario.expectedMatches,
        evaluated,
        eligible,
      },
      () => {
        sink += matcher.match(EVENT).matched.length;
      },
    );
  }
}

function medianMs(runs: number, fn: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)] ?? Number.NaN;
}

const started = performance.now();
await bench.run();
const wallSeconds = (performance.now() - started) / 1000;

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface Row extends TaskInfo {
  name: string;
  ops_per_sec: number;
  ns_per_op: number;
  p50_ns: number;
  p99_ns: number;
  rme_pct: number;
  samples: number;
}

const rows: Row[] = bench.tasks.map((task: Task) => {
  const info = infos.get(task.name);
  const result = task.result;
  if (!info) fail(`unknown task ${task.name}`);
  if (result.state !== "completed") {
    const why = result.state === "errored" ? result.error.message : result.state;
    fail(`task '${task.name}' did not complete: ${why}`);
  }
  const { latency } = result;
  return {
    name: task.name,
    ...info,
    ops_per_sec: 1000 / latency.mean,
    ns_per_op: latency.mean * 1e6,
    p50_ns: latency.p50 * 1e6,
    p99_ns: latency.p99 * 1e6,
    rme_pct: latency.rme,
    samples: latency.samplesCount,
  };
});

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
function ns(value: number): string {
  return value < 100 ? value.toFixed(1) : integer.format(value);
}

function table(headers: string[], body: string[][], alignLeft: number): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) =>
        c < alignLeft ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

const cpuList = cpus();
const cpuModel = cpuList[0]?.model.trim() ?? "unknown";
console.log(
  `fraiseql-observers core benchmark — Node ${process.version}, ${cpuModel}, ${cpuList.length} cores (${availableParallelism()} available), ${platform()}/${arch()}`,
);
console.log(
  `${TIME_MS} ms per task after ${WARMUP_MS} ms warmup; each sample is the mean of a batch of calls (ns = nanoseconds per call)\n`,
);
console.log(
  table(
    ["group", "task", "ops/s", "ns/op", "p50 ns", "p99 ns", "±%", "batch"],
    rows.map((r) => [
      r.group,
      r.label,
      integer.format(r.ops_per_sec),
      ns(r.ns_per_op),
      ns(r.p50_ns),
      ns(r.p99_ns),
      r.rme_pct.toFixed(2),
      String(r.batch),
    ]),
    2,
  ),
);

const scaling = SCENARIOS.map((scenario) => {
  const perCount = OBSERVER_COUNTS.map((count) => {
    const row = rows.find((r) => r.scenario === scenario.name && r.observers === count);
    const build = builds[`${scenario.name}/${count}`];
    if (!row || !build) fail(`no result for ${scenario.name} with ${count} observers`);
    return {
      observers: count,
      eligible: row.eligible ?? 0,
      evaluated: row.evaluated ?? 0,
      matched: scenario.expectedMatches,
      ns_per_match: row.ns_per_op,
      p50_ns: row.p50_ns,
      build_ms_cold: build.cold_ms,
      build_ms_warm: build.warm_ms,
    };
  });
  const first = perCount[0];
  const last = perCount[perCount.length - 1];
  if (!first || !last) fail("no observer counts");
  return {
    scenario: scenario.name,
    description: scenario.description,
    results: perCount,
    ratio_10000_to_10: last.ns_per_match / first.ns_per_match,
  };
});

console.log(
  "\nMatcher: ns per match() (mean), by number of observers. eligible = observers whose tenant, event",
);
console.log(
  "type and entity type fit the event; evaluated = conditions match() ran after the equality index.",
);
console.log(
  table(
    [
      "scenario",
      "observers",
      "eligible",
      "evaluated",
      "matched",
      "ns/match",
      "p50 ns",
      "× 10-observer cost",
      "build ms (cold / warm)",
    ],
    scaling.flatMap((s) => {
      const base = s.results[0]?.ns_per_match ?? Number.NaN;
      return s.results.map((r) => [
        s.scenario,
        integer.format(r.observers),
        integer.format(r.eligible),
        integer.format(r.evaluated),
        String(r.matched),
        ns(r.ns_per_match),
        ns(r.p50_ns),
        `${(r.ns_per_match / base).toFixed(2)}×`,
        `${r.build_ms_cold.toFixed(2)} / ${r.build_ms_warm.toFixed(2)}`,
      ]);
    }),
    1,
  ),
);
for (const s of scaling) {
  console.log(`${s.scenario}: 10,000 observers cost ${s.ratio_10000_to_10.toFixed(2)}× what 10 do`);
}
console.log(`\nTotal benchmark time ${wallSeconds.toFixed(1)} s (checksum ${sink}).`);

const output = {
  benchmark: "core",
  date: new Date().toISOString(),
  node: process.version,
  v8: process.versions.v8,
  platform: `${platform()}/${arch()}`,
  cpu: { model: cpuModel, cores: cpuList.length, available_parallelism: availableParallelism() },
  settings: {
    time_ms: TIME_MS,
    warmup_ms: WARMUP_MS,
    batch_target_ns: BATCH_TARGET_NS,
    note: "each sample is the mean of `batch` calls; ns_per_op is the mean, ops_per_sec its inverse",
  },
  event: {
    entity_type: EVENT.entity_type,
    event_type: EVENT.event_type,
    tenant_id: EVENT.tenant_id,
    fields: Object.keys(AFTER).length,
  },
  results: rows.map((r) => ({
    group: r.group,
    name: r.label,
    ops_per_sec: round(r.ops_per_sec),
    ns_per_op: round(r.ns_per_op),
    p50_ns: round(r.p50_ns),
    p99_ns: round(r.p99_ns),
    rme_pct: round(r.rme_pct),
    samples: r.samples,
    batch: r.batch,
    ...(r.scenario
      ? {
          scenario: r.scenario,
          observers: r.observers,
          eligible: r.eligible,
          evaluated: r.evaluated,
          matched: r.matched,
        }
      : {}),
  })),
  matcher: scaling.map((s) => ({
    ...s,
    results: s.results.map((r) => ({
      ...r,
      ns_per_match: round(r.ns_per_match),
      p50_ns: round(r.p50_ns),
      build_ms_cold: round(r.build_ms_cold),
      build_ms_warm: round(r.build_ms_warm),
    })),
    ratio_10000_to_10: round(s.ratio_10000_to_10),
  })),
  wall_seconds: round(wallSeconds),
};

function round(value: number): number {
  return Number(value.toPrecision(4));
}

const resultsDir = new URL("./results/", import.meta.url);
mkdirSync(resultsDir, { recursive: true });
const resultsFile = new URL("core.json", resultsDir);
writeFileSync(resultsFile, `${JSON.stringify(output, null, 2)}\n`);
console.log(`Results written to ${resultsFile.pathname}`);
