import { describe, expect, it } from "vitest";
import { ConditionEvaluationError, compileCondition } from "../../src/index.ts";
import { changeEvent, insert, remove, update } from "../support/events.ts";

function run(source: string, event = insert({})): boolean {
  return compileCondition(source).evaluate(event);
}

function errorOf(source: string, event = insert({})): ConditionEvaluationError {
  try {
    compileCondition(source).evaluate(event);
  } catch (error) {
    expect(error).toBeInstanceOf(ConditionEvaluationError);
    return error as ConditionEvaluationError;
  }
  throw new Error(`expected ${source} to raise an evaluation error`);
}

describe("FraiseQL's published examples", () => {
  it.each([
    ["total > 100", { total: 150 }, true],
    ["status == 'pending'", { status: "pending" }, true],
    ["status != 'pending'", { status: "shipped" }, true],
    ["status == 'pending'", { status: "Pending" }, false],
    ["note == ''", { note: "" }, true],
    ["has_field('total')", { total: 100 }, true],
    ["has_field('nonexistent')", { total: 100 }, false],
    ["!has_field('deleted_at')", { total: 100 }, true],
    ["total > 100 && status == 'shipped'", { total: 150, status: "shipped" }, true],
    ["status == 'pending' || status == 'shipped'", { status: "shipped" }, true],
    [
      "(total > 100 && status == 'shipped') || priority == 'high'",
      { total: 50, status: "shipped", priority: "high" },
      true,
    ],
    ["code == '100'", { code: "100" }, true],
    ["total == '100'", { total: 100.0 }, false],
  ])("%s on %j is %s", (source, after, expected) => {
    expect(run(source, insert(after))).toBe(expected);
  });

  it("compares numbers numerically: numeric(10,2) 100.00 equals 100", () => {
    // JSONB text as PostgreSQL returns it for a numeric(10,2) column.
    const event = changeEvent("INSERT", {}, { object_data: '{"total": 100.00}' });
    expect(run("total == 100", event)).toBe(true);
    expect(run("total != 100", event)).toBe(false);
    expect(run("total >= 100.0 && total <= 100", event)).toBe(true);
  });

  it("compares integers beyond 2^53 exactly", () => {
    const event = changeEvent("INSERT", {}, { object_data: '{"big": 9007199254740993}' });
    expect(run("big == 9007199254740993", event)).toBe(true);
    expect(run("big == 9007199254740992", event)).toBe(false);
    expect(run("big > 9007199254740992", event)).toBe(true);
    expect(run("big < 9007199254740994.5", event)).toBe(true);
  });

  it("makes a missing field an error, not false", () => {
    const error = errorOf("nonexistent == 'foo'", insert({ total: 100 }));
    expect(error.code).toBe("CONDITION_EVALUATION");
    expect(error.message).toContain("'nonexistent' is not in the INSERT event's data");
    expect(error.position).toBe(0);
    expect(error.length).toBe("nonexistent == 'foo'".length - 9);
  });

  it("finds a present field whose value is null", () => {
    expect(run("deleted_at == null", insert({ deleted_at: null }))).toBe(true);
    expect(run("has_field('deleted_at')", insert({ deleted_at: null }))).toBe(true);
  });

  it("short-circuits && and ||", () => {
    expect(run("has_field('x') && x > 5", insert({}))).toBe(false);
    expect(run("total > 1 || missing == 1", insert({ total: 5 }))).toBe(true);
    expect(errorOf("missing == 1 || total > 1", insert({ total: 5 })).position).toBe(0);
    expect(errorOf("!(missing == 1)", insert({})).message).toContain("missing");
  });

  it("needs numbers on both sides of an ordering", () => {
    expect(errorOf("total > 100", insert({ total: "150" })).message).toContain(
      "the left side is a string ('150')",
    );
    expect(errorOf("total > limit", insert({ total: 5, limit: true })).message).toContain(
      "right side is a boolean",
    );
    expect(errorOf("total > 1", insert({ total: null })).message).toContain("left side is a null");
  });

  it("tells a FraiseQL user to quote a bare word on the right of a comparison", () => {
    expect(errorOf("status == shipped", insert({ status: "shipped" })).message).toContain(
      "to compare with the text 'shipped', quote it",
    );
    expect(run("status == expected", insert({ status: "a", expected: "a" }))).toBe(true);
  });
});

describe("field_changed, field_changed_to, field_changed_from", () => {
  const shipped = update({ status: "shipped", total: 150 }, { status: "pending", total: 150 });

  it.each([
    ["field_changed_to('status', 'shipped')", true],
    ["field_changed_from('status', 'pending')", true],
    ["field_changed_to('status', 'pending')", false],
    ["field_changed('status')", true],
    ["field_changed('total')", false],
    ["field_changed_to('status', 'shipped') && total > 100", true],
  ])("%s", (source, expected) => {
    expect(run(source, shipped)).toBe(expected);
  });

  it("treats 50.00 → 100.00 as a change and 100 → 100.0 as none", () => {
    const event = changeEvent(
      "UPDATE",
      {},
      {
        object_data: '{"total": 100.00, "tax": 1}',
        object_data_before: '{"total": 50.00, "tax": 1.0}',
      },
    );
    expect(run("field_changed_to('total', 100)", event)).toBe(true);
    expect(run("field_changed_from('total', 50)", event)).toBe(true);
    expect(run("field_changed('tax')", event)).toBe(false);
  });

  it("reads quoted arguments as strings, unlike FraiseQL which read '100' as a number", () => {
    const event = update({ total: 100, code: "100" }, { total: 50, code: "50" });
    expect(run("field_changed_to('total', '100')", event)).toBe(false);
    expect(run("field_changed_to('code', '100')", event)).toBe(true);
  });

  it("is false, not an error, for inserts, deletes and custom events", () => {
    expect(run("field_changed('status')", insert({ status: "x" }))).toBe(false);
    expect(run("field_changed_to('status', 'x')", remove({ status: "x" }))).toBe(false);
    expect(run("field_changed('status')", changeEvent("CUSTOM", { after: { status: "x" } }))).toBe(
      false,
    );
  });

  it("is an error naming the pre-image for an UPDATE captured without one", () => {
    const error = errorOf("field_changed('status')", update({ status: "x" }, null));
    expect(error.message).toContain("without a pre-image");
    expect(error.message).toContain("pre_image");
  });

  it("sees nested fields, and a field that appears or disappears, as changed", () => {
    const event = update(
      { customer: { tier: "gold" }, added: 1 },
      { customer: { tier: "silver" }, removed: 2 },
    );
    expect(run("field_changed('customer.tier')", event)).toBe(true);
    expect(run("field_changed_to('customer.tier', 'gold')", event)).toBe(true);
    expect(run("field_changed('added') && field_changed('removed')", event)).toBe(true);
    expect(run("field_changed_from('added', null)", event)).toBe(false);
  });
});

describe("beyond FraiseQL", () => {
  const order = insert({
    status: "shipped",
    total: 120,
    customer: { tier: "gold", email: "Ann@Example.com" },
    tags: ["vip", "eu", 7],
    items: [{ sku: "A-1" }, { sku: "B-2" }],
    note: "fragile, handle with care",
  });

  it.each([
    ["customer.tier == 'gold'", true],
    ["items.1.sku == 'B-2'", true],
    ["status in ['pending', 'shipped']", true],
    ["total in [100, 120.0]", true],
    ["status in ['pending']", false],
    ["tags contains 'vip'", true],
    ["tags contains 7", true],
    ["tags contains 'us'", false],
    ["note contains 'handle'", true],
    ["customer.email matches '(?i)@example\\.com$'", true],
    ["customer.email matches '^ann'", false],
    ["status == 'shipped' AND NOT total < 100 OR false == true", true],
  ])("%s", (source, expected) => {
    expect(run(source, order)).toBe(expected);
  });

  it("reads plain fields from the before-image of a delete, and old./new. explicitly", () => {
    expect(run("status == 'cancelled'", remove({ status: "cancelled" }))).toBe(true);
    const event = update({ total: 200 }, { total: 100 });
    expect(run("new.total > old.total && total == 200", event)).toBe(true);
    expect(errorOf("old.total == 1", insert({ total: 1 })).message).toContain(
      "has no before-image",
    );
    expect(run("has_field('old.total')", insert({ total: 1 }))).toBe(false);
  });

  it("lets . in a pattern match a newline, as PostgreSQL does", () => {
    expect(run("note matches 'a.b'", insert({ note: "a\nb" }))).toBe(true);
  });

  it("matches in linear time: a classic catastrophic pattern returns at once", () => {
    const event = insert({ s: `${"a".repeat(5000)}!` });
    expect(run("s matches '^(a+)+$'", event)).toBe(false);
    expect(run("s matches '^(a|aa)*$'", event)).toBe(false);
  });

  it("raises type errors for contains and matches on the wrong kind of value", () => {
    expect(errorOf("total contains 'x'", order).message).toContain("needs a string or an array");
    expect(errorOf("note contains 5", order).message).toContain("needs a string");
    expect(errorOf("total matches 'x'", order).message).toContain("'matches' needs a string");
  });

  it("does not reach into the prototype", () => {
    expect(run("has_field('constructor')", insert({}))).toBe(false);
    expect(run("has_field('__proto__')", insert({}))).toBe(false);
    expect(run("has_field('toString')", insert({}))).toBe(false);
  });
});
