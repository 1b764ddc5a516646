import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ChangeEvent,
  ChangeEventError,
  ConditionEvaluationError,
  compileCondition,
  explainCondition,
  MAX_CONDITION_LENGTH,
  normalizeChangeEvent,
  printCondition,
} from "../../src/index.ts";
import {
  anyLiteralValueArb,
  changeEventArb,
  conditionArb,
  nearValidRowArb,
  pathArb,
  vocabularyPathArb,
} from "../support/arbitraries/index.ts";

/** Conditions over the fields events usually have, and over arbitrary paths. */
const sourceArb = conditionArb({
  path: fc.oneof(
    { weight: 3, arbitrary: vocabularyPathArb() },
    { weight: 1, arbitrary: pathArb() },
  ),
  changePath: fc.oneof(
    { weight: 3, arbitrary: vocabularyPathArb(["data"]) },
    { weight: 1, arbitrary: pathArb({ images: ["data"] }) },
  ),
  literal: anyLiteralValueArb,
  maxDepth: 5,
})
  .map(printCondition)
  .filter((source) => new TextEncoder().encode(source).length <= MAX_CONDITION_LENGTH);

type Outcome = boolean | null;

/** true / false, or null when the condition cannot be answered; anything else thrown fails. */
function evaluate(source: string, event: ChangeEvent): Outcome {
  const condition = compileCondition(source);
  try {
    const result = condition.evaluate(event);
    expect(typeof result, `evaluate returned ${String(result)}`).toBe("boolean");
    return result;
  } catch (error: unknown) {
    if (error instanceof ConditionEvaluationError) {
      expect(error.position).toBeGreaterThanOrEqual(0);
      expect(error.position + error.length).toBeLessThanOrEqual(source.length);
      return null;
    }
    throw error;
  }
}

describe("the evaluator is total", () => {
  it("returns a boolean or throws ConditionEvaluationError, for any condition and event", () => {
    fc.assert(
      fc.property(sourceArb, changeEventArb, (source, event) => {
        evaluate(source, event);
      }),
      { numRuns: 3000 },
    );
  });

  it("agrees with explainCondition (null where evaluate throws)", () => {
    fc.assert(
      fc.property(sourceArb, changeEventArb, (source, event) => {
        const outcome = evaluate(source, event);
        const explained = explainCondition(source, event);
        expect(explained.success).toBe(true);
        if (!explained.success) return;
        expect(explained.result).toBe(outcome);
        if (outcome === null) expect(explained.error).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });

  it("produces both outcomes and errors (the generators reach every case)", () => {
    const outcomes = new Set<Outcome>();
    fc.assert(
      fc.property(sourceArb, changeEventArb, (source, event) => {
        outcomes.add(evaluate(source, event));
      }),
      { numRuns: 500 },
    );
    expect(outcomes).toEqual(new Set([true, false, null]));
  });
});

describe("normalizeChangeEvent is total", () => {
  const expectReturnsOrChangeEventError = (row: unknown) => {
    try {
      const event = normalizeChangeEvent(row);
      expect(["INSERT", "UPDATE", "DELETE", "CUSTOM"]).toContain(event.event_type);
    } catch (error: unknown) {
      if (!(error instanceof ChangeEventError)) throw error;
    }
  };

  it("returns an event or throws ChangeEventError for anything", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
        }),
        expectReturnsOrChangeEventError,
      ),
      { numRuns: 2000 },
    );
  });

  it("returns an event or throws ChangeEventError for rows close to valid", () => {
    fc.assert(fc.property(nearValidRowArb, expectReturnsOrChangeEventError), { numRuns: 3000 });
  });

  it("accepts some of the near-valid rows (the generator is not all garbage)", () => {
    // A fixed seed: about 2-4 % of these rows are valid, and a random draw of 1 000 sometimes fell
    // to the old threshold (19 accepted in one of 20 seeds tried), which made this test flaky.
    let accepted = 0;
    for (const row of fc.sample(nearValidRowArb, { numRuns: 1000, seed: 1 })) {
      try {
        normalizeChangeEvent(row);
        accepted++;
      } catch {}
    }
    expect(accepted).toBeGreaterThan(10);
  });
});

// Not generated (fast-check's JSON stays shallow), but a row PostgreSQL accepts: with the default
// max_stack_depth (2MB) it stores jsonb nested 14 000 levels deep (16 000 is refused).
describe("JSON nested as deep as PostgreSQL stores it", () => {
  const depth = 14_000;
  const deep = `${"[".repeat(depth)}${"]".repeat(depth)}`;
  const row = (modification_type: string) => ({
    id: "00000000-0000-4000-8000-000000000000",
    object_type: "Order",
    modification_type,
    object_data: `{"x":${deep},"n":1}`,
    object_data_before: `{"x":${deep},"n":2}`,
    created_at: "2026-01-01T00:00:00Z",
  });

  it("normalizeChangeEvent returns or throws ChangeEventError", () => {
    let thrown: unknown;
    try {
      normalizeChangeEvent(row("UPDATE"));
    } catch (error: unknown) {
      thrown = error;
    }
    if (thrown !== undefined) expect(thrown).toBeInstanceOf(ChangeEventError);
  });

  it("evaluate returns a boolean or throws ConditionEvaluationError", () => {
    // An UPDATE whose images each hold their own deep array (built from two INSERT rows, since
    // normalizing the UPDATE row itself fails, see above).
    const inserted = normalizeChangeEvent(row("INSERT"));
    const event: ChangeEvent = {
      ...inserted,
      event_type: "UPDATE",
      op: "u",
      before: normalizeChangeEvent(row("INSERT")).after,
    };
    const escaped: string[] = [];
    for (const source of [
      "x != 1",
      "x > 1",
      "x contains 1",
      "old.x == new.x",
      "field_changed('x')",
    ]) {
      try {
        compileCondition(source).evaluate(event);
      } catch (error: unknown) {
        if (!(error instanceof ConditionEvaluationError)) escaped.push(`${source}: ${error}`);
      }
    }
    expect(escaped).toEqual([]);
  });
});
