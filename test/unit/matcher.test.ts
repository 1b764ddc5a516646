import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ChangeEvent,
  ConditionEvaluationError,
  ConditionSyntaxError,
  compileCondition,
  createConditionCache,
  createMatcher,
  type MatchableObserver,
} from "../../src/index.ts";
import { changeEvent, insert, update } from "../support/events.ts";

interface TestObserver extends MatchableObserver {
  name: string;
}

const observer = (name: string, fields: Partial<TestObserver> = {}): TestObserver => ({
  name,
  entity_type: "Order",
  event_type: "UPDATE",
  condition_expression: null,
  ...fields,
});

const names = (list: TestObserver[]) => list.map((o) => o.name);

describe("createMatcher", () => {
  it("treats a null event type as every event type (FraiseQL's runtime took it as INSERT only)", () => {
    const matcher = createMatcher([observer("all", { event_type: null }), observer("updates")]);
    expect(names(matcher.match(insert({})).matched)).toEqual(["all"]);
    expect(names(matcher.match(update({}, {})).matched)).toEqual(["all", "updates"]);
    expect(names(matcher.match(changeEvent("DELETE", { before: {} })).matched)).toEqual(["all"]);
  });

  it("matches event types in any case, entity types exactly, and null entity types as any", () => {
    const matcher = createMatcher([
      observer("lower", { event_type: "update" }),
      observer("any-entity", { entity_type: null }),
      observer("other", { entity_type: "Invoice" }),
      observer("case", { entity_type: "order" }),
    ]);
    expect(names(matcher.match(update({}, {})).matched)).toEqual(["lower", "any-entity"]);
  });

  it("reads '*' as a wildcard too, as FraiseQL's definitions wrote it", () => {
    const matcher = createMatcher([observer("star", { entity_type: "*", event_type: "*" })]);
    expect(names(matcher.match(insert({})).matched)).toEqual(["star"]);
    expect(names(matcher.match(update({}, {}, { object_type: "Invoice" })).matched)).toEqual([
      "star",
    ]);
  });

  it("skips disabled observers", () => {
    const matcher = createMatcher([observer("off", { enabled: false }), observer("on")]);
    expect(matcher.size).toBe(1);
    expect(names(matcher.match(update({}, {})).matched)).toEqual(["on"]);
  });

  it("orders matches by priority, then by the order observers were given", () => {
    const matcher = createMatcher([
      observer("b", { priority: 200 }),
      observer("a", { priority: 10, entity_type: null }),
      observer("c"),
      observer("d", { priority: 200 }),
    ]);
    expect(names(matcher.match(update({}, {})).matched)).toEqual(["a", "c", "b", "d"]);
  });

  it("keeps a tenant's observers to that tenant's events; global observers see every tenant", () => {
    const matcher = createMatcher([
      observer("global"),
      observer("tenant-1", { fk_customer_org: 1 }),
      observer("tenant-2", { fk_customer_org: "2" }),
    ]);
    const of = (tenant: string | null) => update({}, {}, { fk_customer_org: tenant });
    expect(names(matcher.match(of("1")).matched)).toEqual(["global", "tenant-1"]);
    expect(names(matcher.match(of("2")).matched)).toEqual(["global", "tenant-2"]);
    expect(names(matcher.match(of(null)).matched)).toEqual(["global"]);
  });

  it("reports conditions that cannot be evaluated, and conditions that do not parse, as errors", () => {
    const matcher = createMatcher([
      observer("missing-field", { condition_expression: "nope == 1" }),
      observer("broken", { condition_expression: "total >" }),
      observer("fine", { condition_expression: "total > 1" }),
    ]);
    const result = matcher.match(update({ total: 5 }, { total: 4 }));
    expect(names(result.matched)).toEqual(["fine"]);
    expect(result.errors.map((e) => [e.observer.name, e.error.constructor])).toEqual([
      ["missing-field", ConditionEvaluationError],
      ["broken", ConditionSyntaxError],
    ]);
  });

  it("evaluates one condition, not 10 000, when each starts with a distinct equality", () => {
    const observers = Array.from({ length: 10_000 }, (_, i) =>
      observer(`customer-${i}`, { condition_expression: `customer_id == ${i} && total > 100` }),
    );
    const matcher = createMatcher(observers);
    const result = matcher.match(
      update({ customer_id: 4321, total: 150 }, { customer_id: 4321, total: 10 }),
    );
    expect(names(result.matched)).toEqual(["customer-4321"]);
    expect(result.evaluated).toBe(1);
  });

  it("evaluates only observers whose numeric bound the value passes", () => {
    const observers = Array.from({ length: 10_000 }, (_, i) =>
      observer(`over-${i}`, { condition_expression: `amount > ${i} && currency == 'EUR'` }),
    );
    observers.push(observer("under", { condition_expression: "3 >= amount" }));
    const result = createMatcher(observers).match(update({ amount: 4.5, currency: "EUR" }, {}));
    expect(names(result.matched)).toEqual(["over-0", "over-1", "over-2", "over-3", "over-4"]);
    expect(result.evaluated).toBe(5);
    // A value that is not a number makes every such condition an error, which must be reported.
    const wrongType = createMatcher(observers.slice(0, 3)).match(update({ amount: "4" }, {}));
    expect(wrongType.errors).toHaveLength(3);
  });

  it("finds exactly the bounds each ordering operator accepts, the equal bound included or not", () => {
    const tens = Array.from({ length: 10 }, (_, i) => i);
    const conditions = [
      ...[">", ">=", "<", "<="].flatMap((op) => tens.map((i) => `a ${op} ${i}`)),
      ...tens.map((i) => `${i} < a`),
    ];
    const observers = conditions.map((c) => observer(c, { condition_expression: c }));
    const result = createMatcher(observers).match(update({ a: 5 }, {}));
    // > 0..4 (5), >= 0..5 (6), < 6..9 (4), <= 5..9 (5), and "k < a" for k = 0..4 (5).
    expect(result.matched).toHaveLength(25);
    expect(result.evaluated).toBe(25);
    expect(names(result.matched)).toContain("a >= 5");
    expect(names(result.matched)).toContain("a <= 5");
    expect(names(result.matched)).not.toContain("a > 5");
    expect(names(result.matched)).not.toContain("a < 5");
  });

  it("indexes `in` lists and field_changed_to / field_changed_from", () => {
    const matcher = createMatcher([
      observer("tiers", { condition_expression: "customer.tier in ['gold', 'platinum']" }),
      observer("shipped", {
        condition_expression: "field_changed_to('status', 'shipped') && total > 1",
      }),
      observer("was-pending", { condition_expression: "field_changed_from('status', 'pending')" }),
      observer("cancelled", { condition_expression: "field_changed_to('status', 'cancelled')" }),
    ]);
    const event = update(
      { status: "shipped", total: 2, customer: { tier: "gold" } },
      { status: "pending", total: 2, customer: { tier: "gold" } },
    );
    const result = matcher.match(event);
    expect(names(result.matched)).toEqual(["tiers", "shipped", "was-pending"]);
    expect(result.evaluated).toBe(3);
  });

  it("still evaluates indexed observers when the indexed field is missing, so the error is reported", () => {
    const matcher = createMatcher([observer("eq", { condition_expression: "status == 'x'" })]);
    const result = matcher.match(update({}, {}));
    expect(result.errors.map((e) => e.observer.name)).toEqual(["eq"]);
  });

  it("agrees with evaluating every observer, on generated observers and events", () => {
    const conditions = [
      null,
      "status == 'shipped'",
      "status == 'pending' && total > 10",
      "'shipped' == status",
      "total == 100 || status == 'x'",
      "total == 100.0 && has_field('total')",
      "customer.tier in ['gold', 'silver']",
      "field_changed_to('status', 'shipped')",
      "field_changed_from('status', 'pending') && total >= 0",
      "field_changed_to('total', 100)",
      "has_field('status') && status == 'shipped'",
      "flag == true",
      "flag == null",
      "total > 10",
      "total >= 100 && status == 'shipped'",
      "100 > total",
      "total <= 100.5 || flag == true",
      "total < 10",
      "10 <= total",
      "total > 9007199254740993",
      "total <= 100",
      "total <= 50 && has_field('status')",
      "total >",
    ];
    const value = fc.oneof(
      fc.constantFrom(
        "shipped",
        "pending",
        "x",
        100,
        100.5,
        10,
        9.99,
        -3,
        9007199254740994n,
        true,
        null,
      ),
      fc.integer({ min: -5, max: 120 }),
      fc.constant({ a: 1 }),
    );
    const image = fc.option(
      fc.record(
        {
          status: value,
          total: value,
          flag: value,
          customer: fc.record({ tier: fc.constantFrom("gold", "silver", 1) }),
        },
        { requiredKeys: [] },
      ),
      { nil: null },
    );
    const arbObserver = fc.record({
      condition_expression: fc.constantFrom(...conditions),
      entity_type: fc.constantFrom("Order", "Invoice", null),
      event_type: fc.constantFrom("INSERT", "UPDATE", "DELETE", null),
      fk_customer_org: fc.constantFrom(null, 1, 2),
      enabled: fc.boolean(),
      priority: fc.integer({ min: 0, max: 3 }),
    });
    const arbEvent = fc.record({
      type: fc.constantFrom("INSERT", "UPDATE", "DELETE", "CUSTOM" as const),
      before: image,
      after: image,
      tenant: fc.constantFrom(null, "1", "2"),
      entity: fc.constantFrom("Order", "Invoice"),
    });
    fc.assert(
      fc.property(fc.array(arbObserver, { maxLength: 30 }), arbEvent, (rawObservers, e) => {
        const observers = rawObservers.map((o, i) => ({ ...o, name: String(i) }));
        const event: ChangeEvent = changeEvent(
          e.type,
          { before: e.before, after: e.after },
          { fk_customer_org: e.tenant, object_type: e.entity },
        );
        const expected = bruteForce(observers, event);
        const actual = createMatcher(observers).match(event);
        expect(names(actual.matched)).toEqual(expected.matched);
        expect(actual.errors.map((x) => x.observer.name)).toEqual(expected.errors);
      }),
      { numRuns: 500 },
    );
  });
});

function bruteForce(observers: TestObserver[], event: ChangeEvent) {
  const applicable = observers
    .map((o, i) => ({ o, i }))
    .filter(({ o }) => o.enabled !== false)
    .filter(({ o }) => o.event_type == null || o.event_type === event.event_type)
    .filter(({ o }) => o.entity_type == null || o.entity_type === event.entity_type)
    .filter(({ o }) => o.fk_customer_org == null || String(o.fk_customer_org) === event.tenant_id)
    .sort((a, b) => (a.o.priority ?? 100) - (b.o.priority ?? 100) || a.i - b.i);
  const matched: string[] = [];
  const errors: string[] = [];
  for (const { o } of applicable) {
    try {
      if (!o.condition_expression || compileCondition(o.condition_expression).evaluate(event))
        matched.push(o.name);
    } catch {
      errors.push(o.name);
    }
  }
  return { matched, errors };
}

describe("createConditionCache", () => {
  it("compiles each source once and evicts the least recently used beyond its bound", () => {
    const cache = createConditionCache(2);
    const a = cache.get("a == 1");
    expect(cache.get("a == 1")).toBe(a);
    cache.get("b == 1");
    cache.get("a == 1"); // a is now the most recent
    cache.get("c == 1"); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.get("a == 1")).toBe(a);
    const bad = cache.get("a ==");
    expect(bad).toBeInstanceOf(ConditionSyntaxError);
  });

  it("is shared by matchers built from the same cache", () => {
    const cache = createConditionCache();
    createMatcher([observer("x", { condition_expression: "total > 1" })], { cache });
    createMatcher([observer("x", { condition_expression: "total > 1" })], { cache });
    expect(cache.size).toBe(1);
  });
});
