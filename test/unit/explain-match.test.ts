import { describe, expect, it } from "vitest";
import { explainMatch } from "../../src/matcher/explain-match.ts";
import type { MatchableObserver } from "../../src/matcher/matcher.ts";
import { changeEvent, insert, update } from "../support/events.ts";

const observer = (fields: Partial<MatchableObserver> = {}): MatchableObserver => ({
  entity_type: "Order",
  event_type: "UPDATE",
  condition_expression: null,
  ...fields,
});

describe("explainMatch", () => {
  it("fires without a condition, saying so, and with no condition tree", () => {
    expect(explainMatch(observer(), update({ status: "new" }, { status: "old" }))).toEqual({
      fired: true,
      reason: "fired",
      detail: "every criterion matches and there is no condition",
    });
    // Blank conditions are no condition, as the matcher trims them.
    expect(explainMatch(observer({ condition_expression: "  " }), update({}, {}))).toEqual({
      fired: true,
      reason: "fired",
      detail: "every criterion matches and there is no condition",
    });
  });

  it("fires when the condition is true, with the explain tree of the condition", () => {
    const result = explainMatch(
      observer({ condition_expression: "status == 'shipped' && total > 10" }),
      update({ status: "shipped", total: 20 }, { status: "new", total: 20 }),
    );
    expect(result).toMatchObject({
      fired: true,
      reason: "fired",
      detail: "every criterion matches and the condition is true",
      condition: { success: true, result: true, root: { kind: "and", outcome: "true" } },
    });
  });

  it("says the condition is false, with the step that decided", () => {
    const result = explainMatch(
      observer({ condition_expression: "total > 100" }),
      update({ total: 80 }, { total: 70 }),
    );
    expect(result.fired).toBe(false);
    expect(result.reason).toBe("condition_false");
    expect(result.detail).toBe("the condition is false for this change");
    expect(result.condition).toMatchObject({
      success: true,
      result: false,
      root: {
        kind: "compare",
        text: "total > 100",
        outcome: "false",
        values: [
          { text: "total", value: 80 },
          { text: "100", value: 100 },
        ],
      },
    });
  });

  it("reports a condition that cannot be evaluated, with where", () => {
    const result = explainMatch(
      observer({ condition_expression: "status == 'x' || total > 5" }),
      update({ status: "y", total: "lots" }, { status: "y" }),
    );
    expect(result.fired).toBe(false);
    expect(result.reason).toBe("condition_error");
    expect(result.detail).toMatch(
      /^the condition could not be evaluated for this change \(at position 17\): /,
    );
    expect(result.condition).toMatchObject({
      success: true,
      result: null,
      error: { position: 17, length: 9 },
    });
  });

  it("reports a condition that does not parse, with its position", () => {
    const result = explainMatch(observer({ condition_expression: "status ==" }), update({}, {}));
    expect(result.fired).toBe(false);
    expect(result.reason).toBe("condition_error");
    expect(result.detail).toMatch(/^the condition does not parse: at position 9: /);
    expect(result.condition).toMatchObject({ success: false, issues: [{ position: 9 }] });
  });

  it("says a disabled observer is disabled before looking at anything else", () => {
    const result = explainMatch(
      observer({ enabled: false, entity_type: "User", condition_expression: "status ==" }),
      insert({}),
    );
    expect(result).toEqual({
      fired: false,
      reason: "disabled",
      detail: "the observer is disabled",
    });
  });

  it("names the tenants when they differ, before the event type", () => {
    const event = insert({}, { fk_customer_org: 7 });
    expect(explainMatch(observer({ fk_customer_org: 42 }), event)).toEqual({
      fired: false,
      reason: "tenant",
      detail: "the observer belongs to tenant 42 but the change is tenant 7's",
    });
    expect(explainMatch(observer({ fk_customer_org: "42" }), insert({}))).toEqual({
      fired: false,
      reason: "tenant",
      detail: "the observer belongs to tenant 42 but the change has no tenant",
    });
    // Global observers see every tenant; a tenant's observer sees its own.
    const any = observer({ event_type: null, fk_customer_org: null });
    expect(explainMatch(any, event).reason).toBe("fired");
    expect(explainMatch(observer({ event_type: null, fk_customer_org: 7n }), event).reason).toBe(
      "fired",
    );
  });

  it("names the event types when they differ, in any case", () => {
    expect(explainMatch(observer({ event_type: "update" }), insert({}))).toEqual({
      fired: false,
      reason: "event_type",
      detail: 'event_type is "update" but the change is an INSERT',
    });
    expect(
      explainMatch(observer({ event_type: "INSERT" }), changeEvent("DELETE", { before: {} }))
        .detail,
    ).toBe('event_type is "INSERT" but the change is a DELETE');
    expect(explainMatch(observer({ event_type: "update" }), update({}, {})).reason).toBe("fired");
    expect(explainMatch(observer({ event_type: "*" }), insert({})).reason).toBe("fired");
  });

  it("names the entity types when they differ, exactly (case matters)", () => {
    expect(
      explainMatch(observer({ entity_type: "Order" }), update({}, {}, { object_type: "User" })),
    ).toEqual({
      fired: false,
      reason: "entity_type",
      detail: 'entity_type is "Order" but the change is a "User"',
    });
    expect(explainMatch(observer({ entity_type: "order" }), update({}, {})).reason).toBe(
      "entity_type",
    );
    expect(explainMatch(observer({ entity_type: null }), update({}, {})).reason).toBe("fired");
    expect(explainMatch(observer({ entity_type: "*" }), update({}, {})).reason).toBe("fired");
  });

  it("does not evaluate the condition when another criterion already failed", () => {
    const result = explainMatch(
      observer({ entity_type: "User", condition_expression: "status ==" }),
      update({}, {}),
    );
    expect(result.reason).toBe("entity_type");
    expect(result.condition).toBeUndefined();
  });
});
