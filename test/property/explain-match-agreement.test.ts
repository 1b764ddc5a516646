/**
 * explainMatch decides exactly as createMatcher: for any observer and event, it fires iff the
 * matcher matches the observer, and reports condition_error iff the matcher reports an error.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { printCondition } from "../../src/dsl/printer.ts";
import { explainMatch } from "../../src/matcher/explain-match.ts";
import { createMatcher, type MatchableObserver } from "../../src/matcher/matcher.ts";
import { changeEventArb, conditionArb, vocabularyPathArb } from "../support/arbitraries/index.ts";

const conditionSourceArb = fc.oneof(
  {
    weight: 6,
    arbitrary: conditionArb({ path: vocabularyPathArb(), maxDepth: 3 }).map(printCondition),
  },
  // Nothing to evaluate, padding the matcher trims, and conditions that do not parse.
  { weight: 1, arbitrary: fc.constantFrom(null, "", "   ", " status == 'new' ", "status ==", "(") },
);

const observerArb: fc.Arbitrary<MatchableObserver> = fc.record(
  {
    entity_type: fc.constantFrom(null, "Order", "Customer", "Invoice", "*"),
    event_type: fc.constantFrom(null, "INSERT", "update", "DELETE", "CUSTOM", "*"),
    condition_expression: conditionSourceArb,
    enabled: fc.boolean(),
    priority: fc.integer({ min: 0, max: 200 }),
    fk_customer_org: fc.constantFrom(null, "1", "42", 42, 7n),
  },
  { requiredKeys: ["condition_expression"] },
);

describe("explainMatch", () => {
  it("agrees with createMatcher on whether the observer fires and whether its condition errs", () => {
    fc.assert(
      fc.property(observerArb, changeEventArb, (observer, event) => {
        const result = createMatcher([observer]).match(event);
        const explained = explainMatch(observer, event);
        expect(explained.fired).toBe(result.matched.includes(observer));
        expect(explained.reason === "condition_error").toBe(
          result.errors.some((e) => e.observer === observer),
        );
        expect(explained.reason === "fired").toBe(explained.fired);
        // The tree is there exactly when a condition was evaluated.
        const evaluated = ["fired", "condition_false", "condition_error"].includes(
          explained.reason,
        );
        const hasCondition = Boolean(observer.condition_expression?.trim());
        expect(explained.condition !== undefined).toBe(evaluated && hasCondition);
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees when many observers are matched together, each explained on its own", () => {
    fc.assert(
      fc.property(fc.array(observerArb, { maxLength: 12 }), changeEventArb, (observers, event) => {
        const result = createMatcher(observers).match(event);
        const fired = observers.filter((o) => explainMatch(o, event).fired);
        const failed = observers.filter((o) => explainMatch(o, event).reason === "condition_error");
        expect(new Set(result.matched)).toEqual(new Set(fired));
        expect(new Set(result.errors.map((e) => e.observer))).toEqual(new Set(failed));
      }),
      { numRuns: 300 },
    );
  });
});
