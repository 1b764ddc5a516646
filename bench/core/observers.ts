/**
 * The core benchmark's observer sets: three scenarios built at 10 / 1 000 / 10 000 observers, a
 * brute-force reference matcher, and the check that a matcher agrees with it.
 */
import {
  type ChangeEvent,
  compileCondition,
  type MatchableObserver,
  type Matcher,
} from "../../src/index.ts";
import { fail } from "../support/fail.ts";
import { CUSTOMER_ID, EVENT } from "./inputs.ts";

export const OBSERVER_COUNTS = [10, 1_000, 10_000] as const;

export interface Observer extends MatchableObserver {
  id: number;
}

export interface Scenario {
  name: "equality" | "range" | "unindexable";
  description: string;
  build(count: number): Observer[];
  /** How many observers must match EVENT, at every observer count measured. */
  expectedMatches: number;
  /** How many conditions match() must evaluate for EVENT (what the indexes leave). */
  expectedEvaluated(count: number): number;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "equality",
    description:
      "`customer_id == <n> && total > 100`; entity types Order / any / Invoice / Shipment, event types UPDATE / any / insert, tenants any / 1 / 2; the first 12 observers watch the event's customer",
    // Of the first 12 (which watch customer 4711), those for Order-or-any and UPDATE-or-any.
    expectedMatches: 4,
    // The equality index leaves only those four.
    expectedEvaluated: () => 4,
    build(count) {
      const entities = ["Order", null, "Invoice", "Shipment"];
      const eventTypes = ["UPDATE", null, "insert"];
      const tenants = [null, 1, 2];
      return Array.from({ length: count }, (_, i) => ({
        id: i,
        entity_type: entities[i % 4] ?? null,
        event_type: eventTypes[Math.floor(i / 4) % 3] ?? null,
        fk_customer_org: i < 12 ? null : (tenants[Math.floor(i / 12) % 3] ?? null),
        priority: 100 - (i % 3) * 10,
        condition_expression: `customer_id == ${i < 12 ? CUSTOMER_ID : 100_000 + i} && total > 100`,
      }));
    },
  },
  {
    name: "range",
    description:
      "`total > <245 + n>`; entity type Order or any, event type UPDATE or any, tenant any or 1, so every observer is a candidate; the range index leaves the first 5, which match",
    expectedMatches: 5,
    expectedEvaluated: () => 5,
    build: (count) => thresholdObservers(count, (i) => `total > ${245 + i}`),
  },
  {
    name: "unindexable",
    description:
      "`total != <n> && total > <245 + n>` on the same spread: a first conjunct no index can use, so every observer is evaluated; the first 5 match",
    expectedMatches: 5,
    expectedEvaluated: (count) => count,
    build: (count) => thresholdObservers(count, (i) => `total != ${i} && total > ${245 + i}`),
  },
];

/** Observers that all fit the event's tenant, event type and entity type. */
function thresholdObservers(count: number, condition: (i: number) => string): Observer[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i,
    entity_type: i % 2 === 0 ? "Order" : null,
    event_type: Math.floor(i / 2) % 2 === 0 ? "UPDATE" : null,
    fk_customer_org: i % 3 === 2 ? 1 : null,
    priority: 100 - (i % 3) * 10,
    condition_expression: condition(i),
  }));
}

/**
 * What the matcher must return, worked out the slow way: every observer checked in turn. Also
 * counts the observers whose tenant, event type and entity type fit: what a matcher without the
 * equality index would evaluate.
 */
function referenceMatch(
  observers: readonly Observer[],
  event: ChangeEvent,
): { matched: Observer[]; eligible: number } {
  const matched: { observer: Observer; order: number }[] = [];
  let eligible = 0;
  observers.forEach((observer, order) => {
    if (observer.enabled === false) return;
    if (observer.fk_customer_org != null && String(observer.fk_customer_org) !== event.tenant_id) {
      return;
    }
    if (observer.event_type != null && observer.event_type.toUpperCase() !== event.event_type) {
      return;
    }
    if (observer.entity_type != null && observer.entity_type !== event.entity_type) return;
    eligible++;
    const source = observer.condition_expression?.trim();
    if (source && !compileCondition(source).evaluate(event)) return;
    matched.push({ observer, order });
  });
  matched.sort(
    (a, b) => (a.observer.priority ?? 100) - (b.observer.priority ?? 100) || a.order - b.order,
  );
  return { matched: matched.map((m) => m.observer), eligible };
}

/** Checks the matcher against the reference; returns how many observers it evaluates and could have. */
export function checkMatcher(
  scenario: Scenario,
  count: number,
  observers: Observer[],
  matcher: Matcher<Observer>,
): { evaluated: number; eligible: number } {
  const where = `${scenario.name} matcher with ${count} observers`;
  const result = matcher.match(EVENT);
  if (result.errors.length > 0) {
    fail(`${where}: ${result.errors.length} errors, first: ${result.errors[0]?.error.message}`);
  }
  const { matched, eligible } = referenceMatch(observers, EVENT);
  if (matched.length !== scenario.expectedMatches) {
    fail(
      `${where}: the reference finds ${matched.length} matches, not ${scenario.expectedMatches}`,
    );
  }
  const got = result.matched.map((o) => o.id).join(",");
  const want = matched.map((o) => o.id).join(",");
  if (got !== want) fail(`${where}: matched [${got}], expected [${want}]`);
  if (result.evaluated !== scenario.expectedEvaluated(count)) {
    fail(
      `${where}: evaluated ${result.evaluated} conditions, expected ${scenario.expectedEvaluated(count)}`,
    );
  }
  return { evaluated: result.evaluated, eligible };
}
