/**
 * The core benchmark's task table and results file (bench/results/core.json).
 */
import type { Settings } from "../support/measure.ts";
import {
  describeMachine,
  describeSettings,
  integer,
  type Machine,
  ns,
  type Row,
  round,
  settingsRecord,
  table,
} from "../support/report.ts";
import { AFTER, EVENT } from "./inputs.ts";
import type { ScenarioScaling } from "./matcher-scaling.ts";
import type { TaskInfo } from "./tasks.ts";

export function printTaskTable(rows: Row<TaskInfo>[], settings: Settings, host: Machine): void {
  console.log(`fraiseql-observers core benchmark — ${describeMachine(host)}`);
  console.log(describeSettings(settings));
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
}

/** What bench/results/core.json holds; figures rounded to four significant digits. */
export function coreResults(run: {
  settings: Settings;
  host: Machine;
  rows: Row<TaskInfo>[];
  scaling: ScenarioScaling[];
  wallSeconds: number;
}) {
  const { settings, host, rows, scaling, wallSeconds } = run;
  return {
    benchmark: "core",
    date: new Date().toISOString(),
    ...host,
    settings: settingsRecord(settings),
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
}
