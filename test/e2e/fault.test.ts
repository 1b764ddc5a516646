/**
 * Fault injection, CI size: the Bun server as a process on a PostgreSQL instance this file starts
 * itself, a real webhook receiver, single-row commits as load, and one fault per round at a random
 * moment (test/support/fault/scenarios.ts, shared with bench/fault.bench.ts, which runs the same
 * scenarios longer: 10 kill rounds, a 30 s receiver outage). Every round must deliver every
 * captured change, with repeats only ever under the original's webhook-id: lost = 0.
 *
 * The moments are random; the seed is printed with the results (FAULT_SEED replays a run).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FaultHarness,
  type FaultSettings,
  type RoundResult,
  type ScenarioName,
  startFaultHarness,
  summarize,
  summaryCells,
} from "../support/fault/scenarios.ts";

const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 1_000_000));
const settings: FaultSettings = {
  rate: 150,
  connections: 4,
  burst: 200,
  loadMs: 3_000,
  rounds: {
    kill9: 3,
    pg_restart: 1,
    receiver_down: 1,
    listener_terminated: 1,
    two_servers_kill9: 1,
  },
  // Short leases so that a killed server's claimed work comes back within the round.
  leaseMs: 3_000,
  pollMs: 1_000,
  pgDownMs: 2_000,
  // The bench holds the receiver down for 30 s; the retry policy scales with the outage.
  receiverDownMs: 8_000,
  terminations: 3,
  drainTimeoutMs: 60_000,
  seed,
};

let harness: FaultHarness;
const results: RoundResult[] = [];

beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(async () => {
  if (results.length > 0) {
    console.log(
      `fault injection (seed ${seed}):\n${summaryCells(summarize(results))
        .map((row) => row.join(" | "))
        .join("\n")}`,
    );
  }
  await harness?.close();
});

async function run(scenario: ScenarioName): Promise<void> {
  const rounds = await harness.runScenario(scenario, settings);
  results.push(...rounds);
  expect(rounds).toHaveLength(settings.rounds[scenario]);
  for (const round of rounds) {
    const where = `${scenario} round ${round.round} (seed ${seed}): ${JSON.stringify(round)}`;
    expect(round.counts.captured, where).toBeGreaterThan(0);
    expect(round.counts.lost, where).toBe(0);
    // Every repeat carried the webhook-id of the first delivery: receivers can deduplicate.
    expect(round.counts.split_ids, where).toBe(0);
    expect(round.counts.shared_ids, where).toBe(0);
    expect(round.counts.delivered, where).toBe(round.counts.captured);
    expect(round.faults.length, where).toBeGreaterThan(0);
    expect(round.problems, where).toEqual([]);
  }
}

describe("fault injection under load (CI size)", { timeout: 240_000 }, () => {
  it("kill -9 of the server at a random moment, replacement started: nothing lost", () =>
    run("kill9"));
  it("PostgreSQL crashed (stop -m immediate) and restarted: nothing lost", () => run("pg_restart"));
  it("receiver down, then back: retries bring everything through", () => run("receiver_down"));
  it("the server's connections terminated, its LISTEN connection included: nothing lost", () =>
    run("listener_terminated"));
  it("two servers sharing the work, one killed -9: the other finishes it", () =>
    run("two_servers_kill9"));
});
