/**
 * The core benchmark's tasks: parse, evaluate, normalize and match. Every input is checked before
 * its task is added (parses, evaluates to the expected value, normalizes to the expected changes,
 * matches what the reference does); a failed check stops the run.
 */
import type { Bench } from "tinybench";
import {
  compileCondition,
  createConditionCache,
  createMatcher,
  normalizeChangeEvent,
  parseCondition,
} from "../../src/index.ts";
import { fail } from "../support/fail.ts";
import { addBatchedTask, medianMs } from "../support/measure.ts";
import { CONDITIONS, EVENT, ROW_OBJECTS, ROW_TEXT } from "./inputs.ts";
import { checkMatcher, OBSERVER_COUNTS, SCENARIOS, type Scenario } from "./observers.ts";

export type Group = "parse" | "evaluate" | "normalize" | "match";

export interface TaskInfo {
  group: Group;
  label: string;
  batch: number;
  scenario?: Scenario["name"];
  observers?: number;
  matched?: number;
  /** Conditions match() evaluates. */
  evaluated?: number;
  /** Observers whose tenant, event type and entity type fit the event. */
  eligible?: number;
}

/** What building one matcher cost, keyed `<scenario>/<observers>`. */
export type Builds = Record<string, { observers: number; cold_ms: number; warm_ms: number }>;

/** Consumes every result so the engine cannot drop the measured work. */
let sink = 0;

/** The sum of every measured result: printed, so none of the work can be optimized away. */
export function checksum(): number {
  return sink;
}

/** Checks every input and adds its task to `bench`; returns what was recorded about each task. */
export function addCoreTasks(bench: Bench): { infos: Map<string, TaskInfo>; builds: Builds } {
  const infos = new Map<string, TaskInfo>();
  function addTask(info: Omit<TaskInfo, "batch">, fn: () => void): void {
    const name = `${info.group}: ${info.label}`;
    infos.set(name, { ...info, batch: addBatchedTask(bench, name, fn) });
  }

  // 1. Parsing.
  for (const { source } of CONDITIONS) {
    const parsed = parseCondition(source);
    if (!parsed.success) fail(`'${source}' does not parse: ${JSON.stringify(parsed.issues)}`);
    addTask({ group: "parse", label: source }, () => {
      if (parseCondition(source).success) sink++;
    });
  }

  // 2. Evaluation on a normalized UPDATE.
  for (const { source, expected } of CONDITIONS) {
    const { evaluate } = compileCondition(source);
    const got = evaluate(EVENT);
    if (got !== expected)
      fail(`'${source}' evaluates to ${got} on the event, expected ${expected}`);
    addTask({ group: "evaluate", label: `${source}  → ${expected}` }, () => {
      if (evaluate(EVENT)) sink++;
    });
  }

  // 3. Normalization.
  for (const [label, row] of [
    ["UPDATE row, JSONB as objects", ROW_OBJECTS],
    ["UPDATE row, JSONB as JSON text", ROW_TEXT],
  ] as const) {
    const event = normalizeChangeEvent(row);
    const changed = Object.keys(event.changes ?? {})
      .sort()
      .join(",");
    if (changed !== "status,tracking_number,updated_at") {
      fail(`normalizing the ${label} gives changes [${changed}]`);
    }
    addTask({ group: "normalize", label }, () => {
      if (normalizeChangeEvent(row).changes) sink++;
    });
  }

  // 4. Matching, and what building the matchers costs.
  const builds: Builds = {};
  for (const scenario of SCENARIOS) {
    for (const count of OBSERVER_COUNTS) {
      const observers = scenario.build(count);
      const cache = createConditionCache(count * 2);
      const coldStart = performance.now();
      const matcher = createMatcher(observers, { cache });
      const coldMs = performance.now() - coldStart;
      const warmMs = medianMs(5, () => createMatcher(observers, { cache }));
      builds[`${scenario.name}/${count}`] = { observers: count, cold_ms: coldMs, warm_ms: warmMs };
      if (matcher.size !== count) {
        fail(`${scenario.name}: matcher holds ${matcher.size} of ${count}`);
      }
      const { evaluated, eligible } = checkMatcher(scenario, count, observers, matcher);
      addTask(
        {
          group: "match",
          label: `${scenario.name}, ${count.toLocaleString("en-US")} observers`,
          scenario: scenario.name,
          observers: count,
          matched: scenario.expectedMatches,
          evaluated,
          eligible,
        },
        () => {
          sink += matcher.match(EVENT).matched.length;
        },
      );
    }
  }
  return { infos, builds };
}
