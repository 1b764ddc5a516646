/**
 * The runtime benchmark's results: their shape (what `bench/results/runtime.json` holds), the
 * console tables, the markdown file (`runtime.md`) and the chart (`runtime.svg`).
 */
import { markdownTable } from "../support/markdown.ts";
import { describeMachine, integer, type Machine, table } from "../support/report.ts";
import { horizontalBars, svgDocument, verticalBars } from "../support/svg.ts";

/** How the producers write: one row per statement and commit, or `batch` rows per statement. */
export type ProducerMode = "single" | "batch";

export interface CommitFigures {
  achieved_per_sec: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
}

export interface LatencyPhase {
  offered_per_sec: number;
  capture_only: CommitFigures;
  end_to_end: CommitFigures & {
    samples: number;
    p50_ms: number;
    p95_ms: number;
    p99_ms: number;
    max_ms: number;
    /** Percent of one core: the runtime (this process), the producer, the receiver. */
    cpu_pct: Record<string, number | null>;
    machine_busy_pct: number | null;
  };
}

/** The producers alone at full speed, capture trigger and no runtime. */
export interface Ceiling {
  producer: ProducerMode;
  rows_per_statement: number;
  changes: number;
  seconds: number;
  changes_per_sec: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
}

/**
 * - `drain`: a backlog written while the runtime was stopped, then a fresh runtime delivers, logs
 *   and checkpoints all of it (the runtime alone on the machine).
 * - `sustained`: the producers write at full speed while the runtime delivers; from the first
 *   write to the last change checkpointed (producers and runtime share the machine).
 */
export interface ThroughputRun {
  kind: "drain" | "sustained";
  producer: ProducerMode;
  observers: number;
  changes: number;
  deliveries: number;
  seconds: number;
  changes_per_sec: number;
  deliveries_per_sec: number;
  /** changes_per_sec / the same producers' ceiling. */
  fraction_of_ceiling: number;
  /** For `sustained`: the rate the producers reached meanwhile. */
  produced_per_sec?: number;
  machine_busy_pct: number | null;
}

export interface RuntimeResults {
  date: string;
  machine: Machine & { postgres: string };
  machine_busy_before_pct: number | null;
  /** Sessions of other databases on the same server running a statement when the run began. */
  other_databases_active_sessions_before: number;
  settings: {
    quick: boolean;
    action: "webhook" | "log";
    notify: boolean;
    poll_ms: number;
    rates: number[];
    seconds: number;
    drain_deliveries: number;
    observers: number[];
    batch: number;
    producers: number;
    condition: string;
  };
  latency_method: string;
  latency: LatencyPhase[];
  ceiling: Ceiling[];
  throughput: ThroughputRun[];
}

/** Grouped integers, with a space as the README writes them (1 000, 13 470). */
const n = (value: number) => integer.format(value).replaceAll(",", " ");
/** Milliseconds: one decimal below 100, then whole. */
const ms = (value: number) =>
  !Number.isFinite(value) ? "-" : value < 100 ? value.toFixed(1) : n(value);
const pct = (value: number | null) => (value === null ? "-" : `${Math.round(value)} %`);
const producerName = (mode: ProducerMode, batch: number) =>
  mode === "single" ? "single-row commits" : `${batch}-row inserts`;
const observersName = (count: number) => `${count} observer${count === 1 ? "" : "s"}`;

function latencyRows(results: RuntimeResults): string[][] {
  return results.latency.flatMap(({ offered_per_sec: rate, capture_only: c, end_to_end: e }) => [
    [
      `capture only, ${n(rate)}/s offered`,
      n(c.achieved_per_sec),
      `${ms(c.commit_p50_ms)} / ${ms(c.commit_p99_ms)}`,
      "",
      "",
      "",
      "",
    ],
    [
      `end to end, ${n(rate)}/s offered`,
      n(e.achieved_per_sec),
      `${ms(e.commit_p50_ms)} / ${ms(e.commit_p99_ms)}`,
      ms(e.p50_ms),
      ms(e.p95_ms),
      ms(e.p99_ms),
      ms(e.max_ms),
    ],
  ]);
}

const LATENCY_HEADERS = [
  "scenario",
  "changes/s",
  "commit p50 / p99",
  "hook p50",
  "hook p95",
  "hook p99",
  "hook max",
];

function throughputRows(results: RuntimeResults): string[][] {
  const { batch } = results.settings;
  const rows: string[][] = [];
  for (const ceiling of results.ceiling) {
    rows.push([
      `ceiling: capture only, ${producerName(ceiling.producer, batch)}`,
      "-",
      n(ceiling.changes),
      n(ceiling.changes_per_sec),
      "",
      "100 %",
    ]);
    for (const run of results.throughput.filter((r) => r.producer === ceiling.producer)) {
      const what =
        run.kind === "drain"
          ? `drain of a backlog, ${producerName(run.producer, batch)}`
          : `sustained: ${producerName(run.producer, batch)} at full speed + runtime`;
      rows.push([
        what,
        n(run.observers),
        n(run.changes),
        n(run.changes_per_sec),
        n(run.deliveries_per_sec),
        pct(run.fraction_of_ceiling * 100),
      ]);
    }
  }
  return rows;
}

const THROUGHPUT_HEADERS = [
  "scenario",
  "observers",
  "changes",
  "changes/s",
  "deliveries/s",
  "of ceiling",
];

/** Whether something else was running when the run began. */
function busy(results: RuntimeResults): boolean {
  return (
    (results.machine_busy_before_pct ?? 0) > 10 ||
    results.other_databases_active_sessions_before > 0
  );
}

/** What `runtime.bench.ts` prints. */
export function consoleReport(results: RuntimeResults): string {
  const lines = [
    describeMachine(results.machine),
    `PostgreSQL ${results.machine.postgres}; before the run: machine ${pct(results.machine_busy_before_pct)} busy (all cores), ${results.other_databases_active_sessions_before} active sessions on other databases${busy(results) ? " (something else is running: expect noisier figures)" : ""}`,
    "",
  ];
  if (results.latency.length > 0) {
    lines.push(table(LATENCY_HEADERS, latencyRows(results), 1));
    lines.push(
      "(milliseconds; hook = commit to webhook received, every sample sorted; commit = the producers' INSERT round trip)",
      "",
    );
  }
  lines.push(table(THROUGHPUT_HEADERS, throughputRows(results), 1));
  lines.push(
    "(ceiling: the producers at full speed with the capture trigger and no runtime; of ceiling: changes/s over the same producers' ceiling)",
  );
  return lines.join("\n");
}

/** `bench/results/runtime.md`: the tables the README shows, with how they were made. */
export function markdownReport(results: RuntimeResults): string {
  const { settings } = results;
  const lines = [
    "# Runtime benchmark",
    "",
    `${results.date.slice(0, 10)}: ${describeMachine(results.machine)}, PostgreSQL ${results.machine.postgres}. ` +
      `Before the run: machine ${pct(results.machine_busy_before_pct)} busy (all cores), ` +
      `${results.other_databases_active_sessions_before} active sessions on other databases` +
      `${busy(results) ? " (something else was running: noisier figures)" : ""}.` +
      (settings.quick ? " **Quick run** (`--quick`): short phases, noisier figures." : ""),
    "",
    `Producers: ${settings.producers} connections in their own process. Action: ${settings.action}` +
      `${settings.notify ? "" : ` (no NOTIFY, polling every ${settings.poll_ms} ms)`}; every observer ` +
      `watches \`Order\` INSERTs with the condition \`${settings.condition}\` (true for every row).`,
    "",
    "![runtime benchmark](runtime.svg)",
    "",
  ];
  if (results.latency.length > 0) {
    lines.push(
      `## Latency (${settings.seconds} s per offered rate, single-row commits, 1 observer)`,
      "",
      markdownTable(LATENCY_HEADERS, latencyRows(results)),
      "",
      "Milliseconds. `hook`: from the row's insert (`clock_timestamp()`) to the webhook received, over " +
        "every change (exact percentiles of all samples). `commit`: the producers' own INSERT round " +
        "trip. `capture only`: the same load with no runtime running.",
      "",
    );
  }
  lines.push(
    "## Throughput",
    "",
    markdownTable(THROUGHPUT_HEADERS, throughputRows(results)),
    "",
    `Drains: ${n(settings.drain_deliveries)} deliveries each (changes = deliveries / observers), ` +
      "written while the runtime was stopped, then timed from the runtime's start until every change " +
      "is delivered, logged and checkpointed. Sustained: the producers write " +
      `${n(settings.drain_deliveries)} changes at full speed while the runtime delivers; ` +
      "timed from the first write to the last checkpoint. Ceiling: the producers at full speed for " +
      `${settings.seconds} s with the capture trigger and no runtime. \`${settings.batch}-row inserts\`: ` +
      `one \`INSERT … SELECT\` of ${settings.batch} rows per statement (one commit, one trigger call).`,
    "",
  );
  return lines.join("\n");
}

const PERCENTILES = [
  { name: "p50", color: "#54aeff" },
  { name: "p95", color: "#0969da" },
  { name: "p99", color: "#0a3069" },
  { name: "max", color: "#bf8700" },
];

/** `bench/results/runtime.svg`: latency percentiles per offered rate, throughput per scenario. */
export function svgReport(results: RuntimeResults): string {
  const width = 920;
  const panels: string[] = [];
  let y = 12;
  if (results.latency.length > 0) {
    panels.push(
      verticalBars(
        {
          title: "Commit to webhook received, single-row commits (log scale)",
          axis: "milliseconds",
          series: PERCENTILES,
          groups: results.latency.map((phase) => ({
            label: `${n(phase.offered_per_sec)}/s offered (${n(phase.end_to_end.achieved_per_sec)} achieved)`,
            values: [
              phase.end_to_end.p50_ms,
              phase.end_to_end.p95_ms,
              phase.end_to_end.p99_ms,
              phase.end_to_end.max_ms,
            ],
          })),
          scale: "log",
          format: (value) => (value < 10 ? Number(value.toFixed(1)).toString() : n(value)),
        },
        { x: 12, y, width: width - 24, height: 280 },
      ),
    );
    y += 300;
  }
  const { batch } = results.settings;
  const short = (mode: ProducerMode) => (mode === "single" ? "single-row" : `${batch}-row`);
  const groups = results.ceiling.flatMap((ceiling) => [
    {
      label: `ceiling, ${short(ceiling.producer)} (no runtime)`,
      values: [ceiling.changes_per_sec, null],
    },
    ...results.throughput
      .filter((run) => run.producer === ceiling.producer)
      .map((run) => ({
        label: `${run.kind}, ${short(run.producer)}, ${observersName(run.observers)}`,
        values: [run.changes_per_sec, run.deliveries_per_sec],
      })),
  ]);
  const height = groups.length * 30 + 80;
  panels.push(
    horizontalBars(
      {
        title: "Throughput end to end (delivered, logged, checkpointed)",
        axis: "per second",
        series: [
          { name: "changes/s", color: "#1a7f37" },
          { name: "deliveries/s", color: "#8250df" },
        ],
        groups,
      },
      { x: 12, y, width: width - 24, height },
      250,
    ),
  );
  y += height + 10;
  return svgDocument(width, y + 16, panels, {
    title: "fraiseql-observers runtime benchmark",
    footnote: `${results.date.slice(0, 10)} · ${describeMachine(results.machine)} · PostgreSQL ${results.machine.postgres}${results.settings.quick ? " · quick run" : ""}`,
  });
}
