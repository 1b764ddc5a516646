/**
 * Core benchmark: condition parsing and evaluation, change-event normalization, and the matcher at
 * 10 / 1 000 / 10 000 observers. Run with `npm run bench`; prints a table and writes
 * bench/results/core.json. Every measured call is checked first (parses, evaluates to the expected
 * value, matches the expected observers): a failed check exits non-zero instead of timing nothing.
 *
 * Environment: BENCH_TIME_MS (time budget per task, default 1000) and BENCH_WARMUP_MS (default 250).
 *
 * Inputs are in core/inputs.ts, observer sets in core/observers.ts, the checked tasks in
 * core/tasks.ts; support/ holds the measuring and reporting shared with other benchmarks.
 */
import { matcherScaling, printMatcherScaling } from "./core/matcher-scaling.ts";
import { coreResults, printTaskTable } from "./core/report.ts";
import { addCoreTasks, checksum } from "./core/tasks.ts";
import { runBenchmark } from "./support/fail.ts";
import { createBench, runBench, settingsFromEnv } from "./support/measure.ts";
import { machine, taskRows, writeResults } from "./support/report.ts";

await runBenchmark("core", async () => {
  const settings = settingsFromEnv();
  const bench = createBench("fraiseql-observers core", settings);
  const { infos, builds } = addCoreTasks(bench);
  const wallSeconds = await runBench(bench);

  const rows = taskRows(bench, infos);
  const host = machine();
  printTaskTable(rows, settings, host);
  const scaling = matcherScaling(rows, builds);
  printMatcherScaling(scaling);
  console.log(`\nTotal benchmark time ${wallSeconds.toFixed(1)} s (checksum ${checksum()}).`);

  writeResults("core", coreResults({ settings, host, rows, scaling, wallSeconds }));
});
