/**
 * Executor benchmark: actions per second through `createExecutor` to a local webhook receiver
 * (its own process, so it runs on the other core), against plain `fetch` calls of the same body at
 * the same concurrency, measured in the same run. The sender is CPU-bound on one core, so the
 * difference in time per action is the executor's overhead: validation (cached), limits, timeout,
 * templates or the default body, signing, outcome. `log` does no I/O: its time is the executor's
 * whole cost for one action.
 *
 * Environment: BENCH_DELIVERIES (per round, default 20 000), BENCH_ROUNDS (default 3; the median
 * round is reported), BENCH_CONCURRENCY (default 64).
 *
 * `npm run bench` runs it on Bun (what `bun run server` uses) and on Node, writing
 * bench/results/executor-bun.json and executor-node.json.
 */
import { normalizeChangeEvent } from "../src/events/normalize.ts";
import { stringifyJson } from "../src/json.ts";
import { startReceiverProcess } from "./executor/receiver.ts";
import { createExecutorScenarios, type Scenario } from "./executor/scenarios.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const runtimeName = () => ("bun" in process.versions ? "bun" : "node");

await runBenchmark("executor", async () => {
  const deliveries = envNumber("BENCH_DELIVERIES", 20_000);
  const rounds = Math.max(1, envNumber("BENCH_ROUNDS", 3));
  const concurrency = Math.max(1, envNumber("BENCH_CONCURRENCY", 64));
  const receiver = await startReceiverProcess();
  const event = normalizeChangeEvent({
    id: "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    pk_entity_change_log: 1,
    object_type: "Order",
    modification_type: "UPDATE",
    object_id: "42",
    object_data: { id: 42, status: "shipped", total: 129.5, customer: { tier: "gold" } },
    object_data_before: { id: 42, status: "paid", total: 129.5, customer: { tier: "gold" } },
    created_at: "2026-11-27T10:00:00Z",
  });
  const body = stringifyJson({ id: "delivery", event_id: event.id, after: event.after });
  const scenarios = createExecutorScenarios({ url: receiver.url, event, body, concurrency });

  const results: { scenario: Scenario; perSecond: number }[] = [];
  try {
    for (const scenario of scenarios) {
      await scenario.run(Math.min(deliveries, 1000)); // warm-up: JIT, connection pool
      const rates: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const before = await receiver.count();
        const started = performance.now();
        await scenario.run(deliveries);
        const seconds = (performance.now() - started) / 1000;
        const delivered = (await receiver.count()) - before;
        const expected = scenario.sends ? deliveries : 0;
        if (delivered !== expected) {
          fail(`${scenario.name}: the receiver got ${delivered} requests, expected ${expected}`);
        }
        rates.push(deliveries / seconds);
      }
      rates.sort((a, b) => a - b);
      results.push({ scenario, perSecond: rates[Math.floor(rates.length / 2)] as number });
    }
  } finally {
    await receiver.stop();
  }

  const baseline = results[0]?.perSecond ?? fail("no baseline");
  const host = machine();
  console.log(
    `\nExecutor: ${integer.format(deliveries)} deliveries per round, median of ${rounds} rounds, concurrency ${concurrency}`,
  );
  console.log(`${describeMachine(host)}\n`);
  const rows = results.map(({ scenario, perSecond }) => [
    scenario.name,
    integer.format(perSecond),
    `${(perSecond / baseline).toFixed(2)}×`,
    scenario.sends ? `${round(1e6 / perSecond - 1e6 / baseline)} µs` : "–",
    `${round(1e6 / perSecond)} µs`,
  ]);
  console.log(
    table(["scenario", "actions/s", "vs fetch", "added per action", "wall/action"], rows, 1),
  );
  writeResults(`executor-${runtimeName()}`, {
    date: new Date().toISOString(),
    machine: host,
    settings: { deliveries, rounds, concurrency },
    results: results.map(({ scenario, perSecond }) => ({
      scenario: scenario.name,
      actions_per_second: round(perSecond),
      ratio_to_fetch: round(perSecond / baseline),
    })),
  });
});
