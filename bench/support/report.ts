/**
 * Reporting: task statistics from tinybench, number formatting, plain-text tables, the machine the
 * benchmark ran on, and the results file in bench/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, platform } from "node:os";
import type { Bench, Task } from "tinybench";
import { fail } from "./fail.ts";
import { BATCH_TARGET_NS, type Settings } from "./measure.ts";

/** One task's figures; times are per call, in ns. */
export interface TaskStats {
  ops_per_sec: number;
  ns_per_op: number;
  p50_ns: number;
  p99_ns: number;
  rme_pct: number;
  samples: number;
}

export type Row<Info> = Info & { name: string } & TaskStats;

/**
 * One row per task, in the order they were added, joining each task's figures with what the
 * benchmark recorded about it (`infos`, by task name). Fails on an unknown or incomplete task.
 */
export function taskRows<Info extends object>(
  bench: Bench,
  infos: ReadonlyMap<string, Info>,
): Row<Info>[] {
  return bench.tasks.map((task: Task) => {
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
}

export const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** A time in ns: one decimal below 100, else a grouped integer. */
export function ns(value: number): string {
  return value < 100 ? value.toFixed(1) : integer.format(value);
}

/** Four significant digits, for the results file. */
export function round(value: number): number {
  return Number(value.toPrecision(4));
}

/** A plain-text table; the first `alignLeft` columns are left-aligned, the rest right-aligned. */
export function table(headers: string[], body: string[][], alignLeft: number): string {
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

export interface Machine {
  /** The JavaScript runtime that ran the benchmark, e.g. "Bun 1.4.5" or "Node v22.23.3". */
  runtime: string;
  node: string;
  v8: string;
  platform: string;
  cpu: { model: string; cores: number; available_parallelism: number };
}

export function machine(): Machine {
  const cpuList = cpus();
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return {
    runtime: bun ? `Bun ${bun}` : `Node ${process.version}`,
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()}/${arch()}`,
    cpu: {
      model: cpuList[0]?.model.trim() ?? "unknown",
      cores: cpuList.length,
      available_parallelism: availableParallelism(),
    },
  };
}

/** "Node v22… (or Bun 1.…), <cpu>, N cores (M available), linux/x64". */
export function describeMachine(host: Machine): string {
  const { cpu } = host;
  return `${host.runtime}, ${cpu.model}, ${cpu.cores} cores (${cpu.available_parallelism} available), ${host.platform}`;
}

/** The settings line printed above the task table. */
export function describeSettings(settings: Settings): string {
  return `${settings.timeMs} ms per task after ${settings.warmupMs} ms warmup; each sample is the mean of a batch of calls (ns = nanoseconds per call)\n`;
}

/** The settings as recorded in a results file. */
export function settingsRecord(settings: Settings) {
  return {
    time_ms: settings.timeMs,
    warmup_ms: settings.warmupMs,
    batch_target_ns: BATCH_TARGET_NS,
    note: "each sample is the mean of `batch` calls; ns_per_op is the mean, ops_per_sec its inverse",
  };
}

/** Writes bench/results/<benchmark>.json and says where. */
export function writeResults(benchmark: string, output: unknown): void {
  const resultsDir = new URL("../results/", import.meta.url);
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = new URL(`${benchmark}.json`, resultsDir);
  writeFileSync(resultsFile, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`Results written to ${resultsFile.pathname}`);
}
