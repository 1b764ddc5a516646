import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { observerDefinitionSchema } from "../../src/observers/schema.ts";
import { parseConfig, safeParseConfig } from "../../src/validation.ts";
import { designExample, exampleWebhook as webhook } from "../support/observer-definitions.ts";

function issues(value: unknown) {
  const result = safeParseConfig(observerDefinitionSchema, value);
  if (result.success) throw new Error("expected the observer to be refused");
  return result.issues;
}

describe("observerDefinitionSchema", () => {
  it("accepts DESIGN's example and fills defaults", () => {
    const observer = parseConfig(observerDefinitionSchema, designExample());
    expect(observer.name).toBe("order-shipped");
    expect(observer.actions).toHaveLength(1);
    expect(observer.actions[0]).toMatchObject({ type: "webhook", headers: { "x-team": "ops" } });

    const minimal = parseConfig(observerDefinitionSchema, { name: " audit ", actions: [webhook] });
    expect(minimal).toMatchObject({
      name: "audit",
      description: null,
      entity_type: null,
      event_type: null,
      condition_expression: null,
      enabled: true,
      priority: 100,
      timeout_ms: 30000,
    });
  });

  it("normalises the event type's case", () => {
    const observer = parseConfig(observerDefinitionSchema, {
      name: "a",
      event_type: "delete",
      actions: [webhook],
    });
    expect(observer.event_type).toBe("DELETE");
    expect(issues({ name: "a", event_type: "UPSERT", actions: [webhook] })).toEqual([
      { path: "event_type", message: expect.stringContaining("INSERT, UPDATE, DELETE, CUSTOM") },
    ]);
  });

  it("refuses a condition that does not parse, with its position", () => {
    const found = issues({ name: "a", condition_expression: "total > ", actions: [webhook] });
    expect(found).toHaveLength(1);
    expect(found[0]?.path).toBe("condition_expression");
    expect(found[0]?.message).toMatch(/^at position 8: /);
  });

  it("points at the offending field of an action", () => {
    const found = issues({
      name: "a",
      actions: [webhook, { type: "webhook", url: "ftp://example.com" }],
    });
    expect(found.map((issue) => issue.path)).toEqual(["actions.1.url"]);
    expect(issues({ name: "a", actions: [{ type: "carrier-pigeon" }] })[0]).toMatchObject({
      path: "actions.0.type",
      message: expect.stringContaining("webhook, slack, email"),
    });
  });

  it("refuses a URL embedding credentials at save time (every delivery would fail INVALID_URL), without repeating them", () => {
    const found = issues({
      name: "a",
      actions: [
        { type: "webhook", url: "https://user:hunter2@example.com/hook" },
        { type: "slack", webhook_url: "https://token@hooks.slack.com/services/T/B/C" },
      ],
    });
    expect(found.map((issue) => issue.path)).toEqual(["actions.0.url", "actions.1.webhook_url"]);
    expect(found[0]?.message).toMatch(/must not embed credentials/);
    expect(JSON.stringify(found)).not.toContain("hunter2");
    expect(issues({ name: "a", actions: [{ type: "webhook", url: "not a url" }] })).toEqual([
      { path: "actions.0.url", message: "must be an absolute http:// or https:// URL" },
    ]);
  });

  it("refuses unknown fields, no actions, bad numbers and an empty name", () => {
    expect(issues({ name: "a", actions: [webhook], colour: "red" })).toEqual([
      { path: "colour", message: 'unknown field "colour"' },
    ]);
    expect(issues({ name: "a", actions: [{ ...webhook, secret: "x" }] })).toEqual([
      { path: "actions.0.secret", message: 'unknown field "secret"' },
    ]);
    expect(issues({ name: "a", actions: [] })[0]?.path).toBe("actions");
    expect(issues({ name: "a", actions: [webhook], timeout_ms: 0 })[0]?.path).toBe("timeout_ms");
    expect(issues({ name: "a", actions: [webhook], priority: 1.5 })[0]?.path).toBe("priority");
    expect(issues({ name: "   ", actions: [webhook] })[0]?.path).toBe("name");
    expect(
      issues({ name: "a", actions: [webhook], retry_config: { backoff: "exponential" } })[0]?.path,
    ).toBe("retry_config.backoff");
  });

  it("throws one ConfigError carrying every issue", () => {
    try {
      parseConfig(observerDefinitionSchema, { name: "", actions: [] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(["name", "actions"]);
    }
  });
});
