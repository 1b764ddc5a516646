/**
 * The timing fields every action has (src/actions/timing.ts, docs/time.md): validated the same
 * for built-in and custom types, refused naming the field, documented in every action's OpenAPI
 * component, and read back by ingest (`planTiming`) and at run time (`timingFailure`).
 */
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { actionConfigSchema, actionConfigSchemaFor } from "../../src/actions/config.ts";
import { actionRegistry, defineAction } from "../../src/actions/registry.ts";
import {
  actionTimingOf,
  MAX_DEBOUNCE_WINDOW_MS,
  MAX_DELAY_MS,
  parseInstant,
  planTiming,
  timingFailure,
  withoutTiming,
} from "../../src/actions/timing.ts";
import { webhookTime } from "../../src/actions/webhook.ts";
import { actionComponentSchemas } from "../../src/api/schemas/action-docs.ts";
import type { ChangeEvent } from "../../src/events/types.ts";
import { safeParseConfig } from "../../src/validation.ts";

const hook = { type: "webhook", url: "https://example.com/hook" };

function issues(config: unknown, schema = actionConfigSchema) {
  const result = safeParseConfig(schema, config);
  if (result.success) throw new Error("expected the action to be refused");
  return result.issues;
}

const discord = defineAction({
  type: "discord",
  schema: v.strictObject({ type: v.literal("discord"), channel: v.string() }),
  run: async () => ({ message: "ok" }),
});

const event: ChangeEvent = {
  id: "0b9f4c2e-3a51-4b53-9d0e-3c4a8b5e1f00",
  sequence: "1",
  entity_type: "Order",
  entity_id: "42",
  event_type: "UPDATE",
  op: "u",
  before: null,
  after: { remind_at: "2030-01-02T03:04:05.123456+02:00", blank: "" },
  changes: null,
  tenant_id: "7",
  timestamp: "2026-01-01T00:00:00Z",
  transaction_id: null,
  source: null,
};
const observer = { id: "o", name: "n" };

describe("the timing fields", () => {
  it("are accepted on a built-in action and kept beside its own fields", () => {
    const result = safeParseConfig(actionConfigSchema, { ...hook, delay_ms: 60_000 });
    expect(result).toMatchObject({ success: true, output: { ...hook, delay_ms: 60_000 } });
    const debounced = safeParseConfig(actionConfigSchema, {
      type: "slack",
      webhook_url: "https://hooks.slack.com/services/x",
      debounce: { window_ms: 500 },
    });
    expect(debounced).toMatchObject({ success: true, output: { debounce: { window_ms: 500 } } });
  });

  it("apply to a host's own action type, whose schema never sees them", () => {
    const schema = actionConfigSchemaFor(actionRegistry([discord]));
    const result = safeParseConfig(schema, {
      type: "discord",
      channel: "ops",
      run_at_template: "{{ after.remind_at }}",
    });
    expect(result).toMatchObject({
      success: true,
      output: { type: "discord", channel: "ops", run_at_template: "{{ after.remind_at }}" },
    });
    expect(issues({ type: "discord", channel: "ops", delay_ms: -1 }, schema)).toEqual([
      { path: "delay_ms", message: "must be at least 0" },
    ]);
    expect(withoutTiming({ type: "discord", channel: "ops", delay_ms: 5 })).toEqual({
      type: "discord",
      channel: "ops",
    });
  });

  it("may not be declared by a host's own schema", () => {
    const clash = defineAction({
      type: "clash",
      schema: v.strictObject({ type: v.literal("clash"), delay_ms: v.number() }),
      run: async () => ({ message: "ok" }),
    });
    expect(() => actionRegistry([clash])).toThrow(/field delay_ms is one every action has/);
  });

  it("refuse bad values, naming the field", () => {
    expect(issues({ ...hook, delay_ms: MAX_DELAY_MS + 1 })).toEqual([
      { path: "delay_ms", message: `must be at most ${MAX_DELAY_MS} (30 days)` },
    ]);
    expect(issues({ ...hook, delay_ms: 1.5 })).toEqual([
      { path: "delay_ms", message: "must be an integer" },
    ]);
    expect(issues({ ...hook, delay_ms: 10, run_at_template: "{{ after.at }}" })).toEqual([
      { path: "run_at_template", message: "give delay_ms or run_at_template, not both" },
    ]);
    expect(issues({ ...hook, delay_ms: 10, debounce: { window_ms: 10 } })).toEqual([
      {
        path: "debounce",
        message:
          "debounce decides when the delivery runs: it cannot be combined with delay_ms or run_at_template",
      },
    ]);
    expect(issues({ ...hook, run_at_template: "{{ after.at" })[0]?.path).toBe("run_at_template");
    expect(issues({ ...hook, run_at_template: "" })).toEqual([
      { path: "run_at_template", message: "must not be empty" },
    ]);
    expect(issues({ ...hook, debounce: { window_ms: MAX_DEBOUNCE_WINDOW_MS + 1 } })).toEqual([
      {
        path: "debounce.window_ms",
        message: `must be at most ${MAX_DEBOUNCE_WINDOW_MS} (1 day)`,
      },
    ]);
    expect(issues({ ...hook, debounce: { window_ms: 100, max_wait_ms: 50 } })).toEqual([
      { path: "debounce.max_wait_ms", message: "must be at least window_ms" },
    ]);
    expect(issues({ ...hook, debounce: { window_ms: 100, key: "x" } })).toEqual([
      { path: "debounce.key", message: 'unknown field "key"' },
    ]);
    expect(issues({ ...hook, debounce: { key_template: "{{ id }}" } })).toEqual([
      { path: "debounce.window_ms", message: "is required" },
    ]);
    expect(issues({ ...hook, debounce: [] })[0]?.path).toBe("debounce");
  });

  it("are documented in every action's OpenAPI component", () => {
    const components = actionComponentSchemas(actionRegistry([discord]));
    for (const name of ["ActionWebhook", "ActionDiscord", "ActionLog"]) {
      const properties = (components[name] as { properties: Record<string, unknown> }).properties;
      expect(Object.keys(properties)).toEqual(
        expect.arrayContaining(["delay_ms", "run_at_template", "debounce"]),
      );
    }
  });
});

describe("timing at ingest and at run time", () => {
  it("plans a delay, an instant and a debounce key (per tenant)", () => {
    const delay = actionTimingOf({ ...hook, delay_ms: 250 });
    expect(delay && planTiming(delay, event, observer)).toEqual({ delayMs: 250 });
    const at = actionTimingOf({ ...hook, run_at_template: "{{ after.remind_at }}" });
    expect(at && planTiming(at, event, observer)).toEqual({
      dueAt: "2030-01-02T01:04:05.123Z",
    });
    const bounce = actionTimingOf({ ...hook, debounce: { window_ms: 100 } });
    expect(bounce && planTiming(bounce, event, observer)).toEqual({
      debounce: { key: "7/42", windowMs: 100, maxWaitMs: 1_000 },
    });
    expect(actionTimingOf(hook)).toBeNull();
    expect(actionTimingOf({ ...hook, delay_ms: 0 })).toBeNull();
  });

  it("says why a delivery cannot run: no instant, an empty key", () => {
    const noInstant = { ...hook, run_at_template: "{{ after.blank }}soon" };
    expect(timingFailure(noInstant, event, observer)).toEqual({
      code: "INVALID_RUN_AT",
      message:
        'run_at_template rendered "soon", which is not an instant (RFC 3339, such as 2030-01-01T09:00:00Z)',
    });
    const emptyKey = { ...hook, debounce: { window_ms: 10, key_template: "{{ after.blank }}" } };
    expect(timingFailure(emptyKey, event, observer)).toEqual({
      code: "INVALID_DEBOUNCE_KEY",
      message: "debounce.key_template rendered an empty key for this change",
    });
    expect(timingFailure({ ...hook, delay_ms: 5 }, event, observer)).toBeNull();
    const bad = actionTimingOf(noInstant);
    expect(bad && planTiming(bad, event, observer)).toBeNull();
  });

  it("reads RFC 3339 instants, PostgreSQL's included, and nothing else", () => {
    expect(parseInstant("2030-01-01T09:00:00Z")).toBe(Date.UTC(2030, 0, 1, 9));
    expect(parseInstant("2030-01-01 09:00:00.5+01:00")).toBe(Date.UTC(2030, 0, 1, 8, 0, 0, 500));
    expect(parseInstant("2030-01-01T09:00:00")).toBe(Date.UTC(2030, 0, 1, 9));
    for (const text of ["", "tomorrow", "2030-02-30T00:00:00Z", "2030-01-01", "1700000000000"]) {
      expect(parseInstant(text)).toBeUndefined();
    }
  });

  it("stamps a webhook with its due time unless it runs more than 4 minutes late", () => {
    expect(webhookTime(undefined, 5_000)).toBe(5_000);
    expect(webhookTime(1_000, 5_000)).toBe(1_000);
    expect(webhookTime(1_000, 1_000 + 4 * 60_000 + 1)).toBe(1_000 + 4 * 60_000 + 1);
  });
});
