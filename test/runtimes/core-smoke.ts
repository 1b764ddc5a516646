// Exercises the core the same way on every runtime (Node, Bun, Deno, workerd); the results are
// compared by test/unit/runtimes.test.ts.
import {
  compileCondition,
  conditionToSql,
  createMatcher,
  explainCondition,
  normalizeChangeEvent,
  parseCondition,
} from "../../src/index.ts";

/** What the core computes for a fixed change, as plain JSON. */
export function coreSmoke(): Record<string, unknown> {
  const event = normalizeChangeEvent({
    id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
    object_type: "Order",
    modification_type: "UPDATE",
    object_data:
      '{"status": "shipped", "total": 100.00, "big": 9007199254740993, "email": "Ann@example.com"}',
    object_data_before: '{"status": "pending", "total": 100, "big": 9007199254740993}',
    created_at: "2026-11-27 10:00:00.5+00",
  });
  return {
    timestamp: event.timestamp,
    changes: Object.keys(event.changes ?? {}),
    shipped: compileCondition("field_changed_to('status', 'shipped') && total == 100").evaluate(
      event,
    ),
    big: compileCondition("big == 9007199254740993 && big != 9007199254740992").evaluate(event),
    regex: compileCondition("email matches '^[A-Z][a-z]+@example\\.com$'").evaluate(event),
    catastrophic: compileCondition("email matches '^(a|aa)*$'").evaluate(event),
    issue: parseCondition("total = 1").success,
    explained: (() => {
      const result = explainCondition("missing > 1", event);
      return result.success ? result.error?.message : "parse failed";
    })(),
    sql: conditionToSql("status in ['a', 'b']").success,
    matched: createMatcher([
      {
        name: "a",
        entity_type: "Order",
        event_type: "UPDATE",
        condition_expression: "status == 'shipped'",
      },
      { name: "b", entity_type: null, event_type: null, condition_expression: "status == 'x'" },
    ])
      .match(event)
      .matched.map((o) => o.name),
  };
}
