/**
 * Measurement with tinybench: settings from the environment, the bench itself, and tasks timed in
 * batches of calls so the timer's own cost stays out of the figures.
 *
 * Environment: BENCH_TIME_MS (time budget per task, default 1000) and BENCH_WARMUP_MS (default 250).
 */
import { Bench, type FnReturnedObject } from "tinybench";
import { fail } from "./fail.ts";

/** Calls are timed in batches of about this long, so the timer's own cost stays out of the figures. */
export const BATCH_TARGET_NS = 50_000;

export interface Settings {
  /** Time budget per task, in ms. */
  timeMs: number;
  /** Warmup per task, in ms. */
  warmupMs: number;
}

/** Reads BENCH_TIME_MS and BENCH_WARMUP_MS; a value that is not a non-negative number fails. */
export function settingsFromEnv(): Settings {
  return {
    timeMs: envNumber("BENCH_TIME_MS", 1000),
    warmupMs: envNumber("BENCH_WARMUP_MS", 250),
  };
}

/** A non-negative number from the environment, or `fallback` when the variable is unset or empty. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) fail(`${name} must be a non-negative number`);
  return value;
}

export function createBench(name: string, settings: Settings): Bench {
  return new Bench({
    name,
    time: settings.timeMs,
    warmupTime: settings.warmupMs,
    iterations: 16,
    warmupIterations: 16,
  });
}

/** Cost of one warmed-up call in ns, roughly (best of three): enough to size a batch. */
export function estimateNs(fn: () => void): number {
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

/**
 * Adds a task whose samples are the mean time of one call over a batch of calls (about
 * BATCH_TARGET_NS long). Returns the batch size.
 */
export function addBatchedTask(bench: Bench, name: string, fn: () => void): number {
  const batch = Math.max(1, Math.min(100_000, Math.round(BATCH_TARGET_NS / estimateNs(fn))));
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
  return batch;
}

/** Median wall time of `runs` calls, in ms (for one-off costs too slow to batch). */
export function medianMs(runs: number, fn: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)] ?? Number.NaN;
}

/** Runs every task; returns the wall time in seconds. */
export async function runBench(bench: Bench): Promise<number> {
  const started = performance.now();
  await bench.run();
  return (performance.now() - started) / 1000;
}
