/**
 * Fault-injection benchmark: the scenarios of the CI suite (test/e2e/fault.test.ts), from the same
 * module (test/support/fault/scenarios.ts), at the size the README quotes: the Bun server as a
 * process on a PostgreSQL instance started for the run (initdb in a temporary directory, a free
 * port), single-row commits at BENCH_FAULT_RATE changes/s (default 500) plus a burst of
 * BENCH_FAULT_BURST rows (default 500) just before each fault, and per round one fault at a
 * random moment:
 *
 * - kill -9 of the server, a replacement started at once: BENCH_FAULT_KILL_ROUNDS (10);
 * - PostgreSQL crashed (`pg_ctl stop -m immediate`), down BENCH_FAULT_PG_DOWN_SECONDS (5), and
 *   restarted: BENCH_FAULT_ROUNDS (3);
 * - the receiver down (connections refused) for BENCH_FAULT_RECEIVER_DOWN_SECONDS (30), then back:
 *   BENCH_FAULT_RECEIVER_ROUNDS (1);
 * - every connection of the server, its LISTEN connection included, ended with
 *   pg_terminate_backend BENCH_FAULT_TERMINATIONS times (5) a round: BENCH_FAULT_ROUNDS;
 * - two servers sharing the work, one killed -9: BENCH_FAULT_ROUNDS.
 *
 * Each round counts captured (change-log rows), delivered (distinct webhook-ids of captured
 * changes received), duplicated (changes received more than once, every repeat under the same
 * webhook-id) and lost (captured, never received). Any lost change, repeat under another id, or
 * other problem fails the run (exit 1) after the results are written.
 *
 * `--quick` (or BENCH_QUICK=1): the CI suite's size. BENCH_FAULT_SCENARIOS picks scenarios
 * (comma-separated names), BENCH_FAULT_SEED replays the random moments of a run,
 * BENCH_FAULT_LEASE_MS sets the servers' OBSERVERS_LEASE_MS (default 5 000),
 * BENCH_FAULT_LOAD_SECONDS the load's length per round (default 6).
 * Results: bench/results/fault.json and fault.md (fault-quick.* with `--quick`).
 */
import {
  type FaultSettings,
  type RoundResult,
  retryPolicyFor,
  SCENARIO_LABELS,
  SCENARIOS,
  type ScenarioName,
  startFaultHarness,
  summarize,
  summaryCells,
} from "../test/support/fault/scenarios.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { markdownTable, writeResultFile } from "./support/markdown.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter } from "./support/proc.ts";
import { describeMachine, machine, table, writeResults } from "./support/report.ts";

const quick =
  process.argv.includes("--quick") || /^(1|true|yes|on)$/i.test(process.env.BENCH_QUICK ?? "");

function chosenScenarios(): Set<ScenarioName> {
  const raw = process.env.BENCH_FAULT_SCENARIOS;
  if (!raw) return new Set(SCENARIOS);
  const names = raw.split(",").map((name) => name.trim());
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      fail(`BENCH_FAULT_SCENARIOS: unknown scenario ${name} (known: ${SCENARIOS.join(", ")})`);
    }
  }
  return new Set(names as ScenarioName[]);
}

function settingsFromEnv(): FaultSettings {
  const rounds = envNumber("BENCH_FAULT_ROUNDS", quick ? 1 : 3);
  const only = chosenScenarios();
  const pick = (scenario: ScenarioName, count: number) => (only.has(scenario) ? count : 0);
  return {
    rate: envNumber("BENCH_FAULT_RATE", quick ? 150 : 500),
    connections: envNumber("BENCH_FAULT_CONNECTIONS", 4),
    burst: envNumber("BENCH_FAULT_BURST", quick ? 200 : 500),
    loadMs: envNumber("BENCH_FAULT_LOAD_SECONDS", quick ? 3 : 6) * 1000,
    rounds: {
      kill9: pick("kill9", envNumber("BENCH_FAULT_KILL_ROUNDS", quick ? 3 : 10)),
      pg_restart: pick("pg_restart", rounds),
      receiver_down: pick("receiver_down", envNumber("BENCH_FAULT_RECEIVER_ROUNDS", 1)),
      listener_terminated: pick("listener_terminated", rounds),
      two_servers_kill9: pick("two_servers_kill9", rounds),
    },
    leaseMs: envNumber("BENCH_FAULT_LEASE_MS", quick ? 3_000 : 5_000),
    pollMs: 1_000,
    pgDownMs: envNumber("BENCH_FAULT_PG_DOWN_SECONDS", quick ? 2 : 5) * 1000,
    receiverDownMs: envNumber("BENCH_FAULT_RECEIVER_DOWN_SECONDS", quick ? 8 : 30) * 1000,
    terminations: envNumber("BENCH_FAULT_TERMINATIONS", quick ? 3 : 5),
    drainTimeoutMs: envNumber("BENCH_FAULT_DRAIN_SECONDS", 180) * 1000,
    seed: envNumber("BENCH_FAULT_SEED", Math.floor(Math.random() * 1_000_000)),
    log: (line) => console.log(line),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number) => n.toLocaleString("en-US").replaceAll(",", " ");

/** One line per round, for the markdown file. */
function roundCells(results: readonly RoundResult[]): string[][] {
  return results.map((r) => [
    `${r.scenario} #${r.round}`,
    count(r.counts.captured),
    count(r.counts.delivered),
    `${count(r.counts.duplicated)} (+${count(r.counts.extra_requests)})`,
    count(r.counts.lost),
    r.faults.map((f) => count(f.backlog)).join(", "),
    r.faults
      .map((f) =>
        f.terminated === undefined ? seconds(f.at_ms) : `${seconds(f.at_ms)}: ${f.terminated}`,
      )
      .join(", "),
    seconds(r.drain_ms),
    r.failed_attempts_logged === null ? "-" : count(r.failed_attempts_logged),
    r.shutdowns.map(String).join(", "),
    r.problems.length === 0 ? "ok" : r.problems.join("; "),
  ]);
}

/** How the servers still running at the end of each round took SIGTERM. */
function shutdownLine(results: readonly RoundResult[]): string {
  const all = results.flatMap((r) => r.shutdowns);
  const clean = all.filter((code) => code === 0).length;
  const hung = all.filter((code) => code === "hung").length;
  return `Graceful stops at the end of the rounds: ${clean} of ${all.length} servers exited 0 on SIGTERM${hung > 0 ? `; ${hung} did not exit within 20 s (killed): a shutdown waits for queries in flight, which postgres.js 3.4.9 can hold until the connect timeout after a termination` : ""}.`;
}

const ROUND_HEADERS = [
  "round",
  "captured",
  "delivered",
  "duplicated (+requests)",
  "lost",
  "backlog at fault",
  "fault at (ended connections)",
  "drain",
  "retries logged",
  "SIGTERM exit",
  "result",
];

await runBenchmark("fault", async () => {
  const settings = settingsFromEnv();
  if (!(settings.rate > 0)) fail("BENCH_FAULT_RATE must be positive");
  if (!(settings.connections >= 1)) fail("BENCH_FAULT_CONNECTIONS must be at least 1");
  if (settings.leaseMs < 1_000)
    fail("BENCH_FAULT_LEASE_MS must be at least 1000 (the server's minimum)");
  const host = machine();
  const before = cpuMeter({});
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busyBefore = before.stop().machine_busy_pct;
  const settingsLine =
    `${count(settings.rate)} single-row commits/s from ${settings.connections} connections for ${seconds(settings.loadMs)} a round ` +
    `(longer when the fault lasts longer) + a ${count(settings.burst)}-row burst before each fault; ` +
    `servers with OBSERVERS_LEASE_MS=${settings.leaseMs}, other settings default; receiver answers after 0–10 ms; ` +
    `PostgreSQL down ${seconds(settings.pgDownMs)}, receiver down ${seconds(settings.receiverDownMs)}, ` +
    `${settings.terminations} terminations a round; seed ${settings.seed}`;
  console.log(`fault injection${quick ? " (quick)" : ""}: ${settingsLine}`);
  console.log(
    `machine: ${describeMachine(host)}; ${Math.round(busyBefore ?? 0)} % busy before the run`,
  );

  const harness = await startFaultHarness();
  const results: RoundResult[] = [];
  const started = performance.now();
  try {
    for (const scenario of SCENARIOS) {
      if (settings.rounds[scenario] === 0) continue;
      console.log(`${SCENARIO_LABELS[scenario]}: ${settings.rounds[scenario]} rounds`);
      results.push(...(await harness.runScenario(scenario, settings)));
    }
  } finally {
    await harness.close();
  }
  const totalSeconds = (performance.now() - started) / 1000;

  const summaries = summarize(results);
  const [headers = [], ...rows] = summaryCells(summaries);
  console.log(`\n${table(headers, rows, 1)}\n\n${shutdownLine(results)}\n`);
  const failed = results.filter((r) => r.problems.length > 0);
  const date = new Date().toISOString();
  const name = quick ? "fault-quick" : "fault";
  writeResults(name, {
    date,
    machine: host,
    machine_busy_before_pct: busyBefore,
    settings: { ...settings, log: undefined, quick },
    observer_retry_config: retryPolicyFor(settings.receiverDownMs),
    method:
      "server = bun adapters/hosts/bun/main.ts in its own process(es) on a PostgreSQL instance started for the run; captured = rows of core.tb_entity_change_log (checked equal to the rows written); delivered = distinct webhook-id headers received carrying a captured event_id; duplicated = captured changes received more than once (split_ids counts those received under more than one webhook-id, which must be 0); lost = captured changes never received; drain = from the end of the load until every captured change was received and core.tb_observer_delivery was empty",
    total_seconds: Math.round(totalSeconds),
    summary: summaries,
    rounds: results,
  });
  writeResultFile(
    `${name}.md`,
    [
      `# Fault injection${quick ? " (quick)" : ""}`,
      "",
      `${date.slice(0, 10)}, ${describeMachine(host)}, ${Math.round(busyBefore ?? 0)} % busy before the run (shared machine); ${Math.round(totalSeconds)} s in all.`,
      "",
      `Settings: ${settingsLine}. Observer retry policy: ${JSON.stringify(retryPolicyFor(settings.receiverDownMs))}.`,
      "",
      markdownTable(headers, rows),
      "",
      shutdownLine(results),
      "",
      "Per round (backlog at fault: captured changes not yet received when it struck; retries logged: attempts logged as anything but a success):",
      "",
      markdownTable(ROUND_HEADERS, roundCells(results)),
    ].join("\n"),
  );
  if (failed.length > 0) {
    fail(
      `${failed.length} rounds failed: ${failed.map((r) => `${r.scenario} #${r.round}: ${r.problems.join("; ")}`).join(" | ")}`,
    );
  }
});
