/**
 * How match() scales with the number of observers, per scenario: figures from the match tasks and
 * the matcher build times, printed as a table and kept for the results file.
 */
import { fail } from "../support/fail.ts";
import { integer, ns, type Row, table } from "../support/report.ts";
import { OBSERVER_COUNTS, SCENARIOS } from "./observers.ts";
import type { Builds, TaskInfo } from "./tasks.ts";

export interface ScenarioScaling {
  scenario: string;
  description: string;
  results: {
    observers: number;
    eligible: number;
    evaluated: number;
    matched: number;
    ns_per_match: number;
    p50_ns: number;
    build_ms_cold: number;
    build_ms_warm: number;
  }[];
  ratio_10000_to_10: number;
}

/** One entry per scenario; fails when a scenario lacks a result for an observer count. */
export function matcherScaling(rows: Row<TaskInfo>[], builds: Builds): ScenarioScaling[] {
  return SCENARIOS.map((scenario) => {
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
}

export function printMatcherScaling(scaling: ScenarioScaling[]): void {
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
    console.log(
      `${s.scenario}: 10,000 observers cost ${s.ratio_10000_to_10.toFixed(2)}× what 10 do`,
    );
  }
}
