/**
 * Before/after of bench/delivery.bench.ts: reads the runs of each version
 * (bench/results/delivery-runs/<version>-<n>.json, written with BENCH_DELIVERY_NAME), takes the
 * median of each figure over the runs, and writes bench/results/delivery.{json,md,svg}.
 * `bun bench/delivery/compare.ts [before-label] [after-label]` (default `base` and `after`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { writeResultFile } from "../support/markdown.ts";
import { round, writeResults } from "../support/report.ts";
import { compact, horizontalBars, svgDocument } from "../support/svg.ts";

interface Run {
  date: string;
  machine_busy_before_pct: number | null;
  results: Record<string, Record<string, number | string | Record<string, number>>>;
}

const RUNS = new URL("../results/delivery-runs/", import.meta.url);
const [beforeLabel = "base", afterLabel = "after"] = process.argv.slice(2);

function runsOf(label: string): Run[] {
  return readdirSync(RUNS)
    .filter((name) => name.startsWith(`${label}-`) && name.endsWith(".json"))
    .sort()
    .map((name) => JSON.parse(readFileSync(new URL(name, RUNS), "utf8")) as Run);
}

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The figures compared: [label, phase, field, higher is better]. */
const FIGURES: [string, string, string, boolean][] = [
  ["sustained, 100-row inserts: changes/s end to end", "sustained_batch", "changes_per_sec", true],
  [
    "sustained, single-row commits: changes/s end to end",
    "sustained_single",
    "changes_per_sec",
    true,
  ],
  [
    "graphile-worker, single-row commits: changes/s",
    "graphile_worker_sustained_single",
    "changes_per_sec",
    true,
  ],
  ["1 000/s offered: achieved/s", "offered_1000", "achieved_per_sec", true],
  ["1 000/s offered: hook p50 ms", "offered_1000", "hook_p50_ms", false],
  ["1 000/s offered: hook p99 ms", "offered_1000", "hook_p99_ms", false],
  ["1 000/s offered: commit p99 ms", "offered_1000", "commit_p99_ms", false],
  ["5 000/s offered: achieved/s", "offered_5000", "achieved_per_sec", true],
  ["5 000/s offered: hook p99 ms", "offered_5000", "hook_p99_ms", false],
  ["5 000/s offered: commit p99 ms", "offered_5000", "commit_p99_ms", false],
  [
    "ceiling: single-row commits, no runtime, notify off",
    "ceiling_single",
    "changes_per_sec",
    true,
  ],
];

const before = runsOf(beforeLabel);
const after = runsOf(afterLabel);
if (before.length === 0 || after.length === 0) {
  console.error(
    `bench/delivery/compare: no runs for ${beforeLabel} or ${afterLabel} in ${RUNS.pathname}`,
  );
  process.exit(1);
}
const pick = (runs: Run[], phase: string, field: string) =>
  median(runs.map((run) => Number(run.results[phase]?.[field] ?? Number.NaN)));
const ratioOf = (runs: Run[]) =>
  median(
    runs.map(
      (run) =>
        Number(run.results.sustained_single?.changes_per_sec) /
        Number(run.results.graphile_worker_sustained_single?.changes_per_sec),
    ),
  );

const rows = FIGURES.map(([label, phase, field, higher]) => {
  const b = pick(before, phase, field);
  const a = pick(after, phase, field);
  const gain = higher ? a / b : b / a;
  return { label, phase, field, before: round(b), after: round(a), after_over_before: round(gain) };
});
const fmt = (value: number) =>
  Number.isFinite(value)
    ? value >= 100
      ? Math.round(value).toLocaleString("en-US")
      : value.toFixed(1)
    : "–";
const table = [
  `| Default settings, medians of ${before.length} runs before and ${after.length} after, alternated | before (${beforeLabel}) | after | gain |`,
  "| --- | ---: | ---: | ---: |",
  ...rows.map(
    (r) =>
      `| ${r.label} | ${fmt(r.before)} | ${fmt(r.after)} | ${Number.isFinite(r.after_over_before) ? `${r.after_over_before.toFixed(2)}×` : "–"} |`,
  ),
  `| single-row sustained, ours ÷ graphile-worker | ${ratioOf(before).toFixed(2)}× | ${ratioOf(after).toFixed(2)}× | |`,
].join("\n");
const busy = (runs: Run[]) =>
  runs
    .map((run) =>
      run.machine_busy_before_pct === null ? "?" : `${Math.round(run.machine_busy_before_pct)} %`,
    )
    .join(", ");
const note = `Machine busy before each run (other work on the shared 2 cores): before ${busy(before)}; after ${busy(after)}.`;
writeResultFile("delivery.md", `${table}\n\n${note}\n`);

const series = [
  { name: beforeLabel, color: "#afb8c1" },
  { name: afterLabel, color: "#0969da" },
];
const throughput = rows.filter((r) => r.field === "changes_per_sec");
const latency = rows.filter((r) => r.field.endsWith("_ms"));
const panelHeight = (n: number) => 60 + n * 44;
const width = 900;
const panels = [
  horizontalBars(
    {
      title: "Throughput, changes/s (higher is better)",
      axis: "changes/s",
      series,
      groups: throughput.map((r) => ({
        label: r.label.replace(": changes/s end to end", "").replace(": changes/s", ""),
        values: [r.before, r.after],
      })),
      format: compact,
    },
    { x: 0, y: 30, width, height: panelHeight(throughput.length) },
    330,
  ),
  horizontalBars(
    {
      title: "Latency, ms (lower is better; log scale)",
      axis: "milliseconds",
      series,
      groups: latency.map((r) => ({
        label: r.label.replace(" ms", ""),
        values: [r.before, r.after],
      })),
      scale: "log",
      format: compact,
    },
    { x: 0, y: 40 + panelHeight(throughput.length), width, height: panelHeight(latency.length) },
    330,
  ),
];
const height = 60 + panelHeight(throughput.length) + panelHeight(latency.length);
writeResultFile(
  "delivery.svg",
  svgDocument(width, height, panels, {
    title: `Delivery with default settings: ${beforeLabel} and ${afterLabel}`,
    footnote: `bench/delivery.bench.ts: medians of ${before.length} + ${after.length} alternated runs on a shared 2-core machine, busy before each: ${busy(before)}; ${busy(after)} (bench/results/delivery.md).`,
  }),
);
writeResults("delivery", {
  before: { label: beforeLabel, runs: before.length, dates: before.map((r) => r.date) },
  after: { label: afterLabel, runs: after.length, dates: after.map((r) => r.date) },
  machine_busy_before_pct: {
    before: before.map((r) => r.machine_busy_before_pct),
    after: after.map((r) => r.machine_busy_before_pct),
  },
  figures: rows,
  sustained_single_ours_over_graphile_worker: {
    before: round(ratioOf(before)),
    after: round(ratioOf(after)),
  },
});
console.log(table);
