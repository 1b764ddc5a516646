/**
 * A host's own action types: `actionRegistry(custom)` checks each definition when it is
 * registered, and everything that looks a type up takes the registry: the action config schema,
 * the observer schemas and the OpenAPI components.
 */
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { actionConfigSchema, actionConfigSchemaFor } from "../../src/actions/config.ts";
import {
  actionRegistry,
  BUILT_IN_ACTIONS,
  type CustomActionDefinition,
  defaultActionRegistry,
  defineAction,
} from "../../src/actions/registry.ts";
import { ACTION_TYPES, type ActionRegistry } from "../../src/actions/types.ts";
import { actionComponentSchemas } from "../../src/api/schemas/action-docs.ts";
import {
  observerDefinitionSchema,
  observerDefinitionSchemaFor,
  observerPatchSchemaFor,
} from "../../src/observers/schema.ts";
import { safeParseConfig } from "../../src/validation.ts";
import { testEnvironment } from "../support/actions.ts";

const discord = defineAction({
  type: "discord",
  schema: v.strictObject({
    type: v.literal("discord"),
    channel: v.pipe(v.string(), v.nonEmpty("must not be empty")),
    mention: v.optional(v.boolean(), false),
  }),
  run: async ({ config }) => ({ message: `posted to ${config.channel}` }),
});

const custom = (fields: Partial<CustomActionDefinition>): CustomActionDefinition =>
  ({ ...discord, ...fields }) as CustomActionDefinition;

describe("actionRegistry", () => {
  it("is the built-ins when given nothing, listed in order", () => {
    expect(actionRegistry()).toBe(defaultActionRegistry);
    expect(actionRegistry([])).toBe(defaultActionRegistry);
    expect(defaultActionRegistry.list().map((d) => d.type)).toEqual([...ACTION_TYPES]);
  });

  it("adds a host's own types after the built-ins, with a shared destination by default", () => {
    const registry = actionRegistry([discord]);
    expect(registry.list().map((d) => d.type)).toEqual([...ACTION_TYPES, "discord"]);
    expect(registry.get("webhook")).toBe(BUILT_IN_ACTIONS.webhook);
    const definition = registry.get("discord");
    expect(definition?.run).toBe(discord.run);
    expect(definition?.destination({ type: "discord" }, testEnvironment())).toBe("custom:discord");
    const own = actionRegistry([custom({ destination: () => "discord:ops" })]);
    expect(own.get("discord")?.destination({}, testEnvironment())).toBe("discord:ops");
  });

  it.each([
    ["Discord"],
    ["1discord"],
    ["dis-cord"],
    ["dis cord"],
    ["my__crm"],
    ["crm_"],
    ["crm_1"],
    [""],
    ["x".repeat(65)],
  ])("refuses the type name %j, saying what a name may be", (type) => {
    expect(() =>
      actionRegistry([custom({ type, schema: v.strictObject({ type: v.literal(type) }) })]),
    ).toThrow(/lower-case words of letters and digits joined by single underscores/);
  });

  it("accepts names of words and digits up to 64 characters", () => {
    for (const type of ["crm_sync", "s3", "a".repeat(64), "push_v2"]) {
      const registry = actionRegistry([
        custom({ type, schema: v.strictObject({ type: v.literal(type) }) }),
      ]);
      expect(registry.get(type)?.type).toBe(type);
    }
  });

  it("refuses a built-in's name and a type registered twice", () => {
    expect(() =>
      actionRegistry([
        custom({ type: "webhook", schema: v.strictObject({ type: v.literal("webhook") }) }),
      ]),
    ).toThrow(
      'custom action type "webhook": webhook is a built-in action type; choose another name',
    );
    expect(() => actionRegistry([discord, discord])).toThrow(
      'custom action type "discord" is registered twice',
    );
  });

  it("refuses a schema that does not pin its type", () => {
    const message = /schema must be a valibot object schema .* with type: v\.literal\("discord"\)/;
    for (const schema of [
      v.strictObject({ channel: v.string() }),
      v.strictObject({ type: v.string(), channel: v.string() }),
      v.strictObject({ type: v.literal("slack") }),
      v.string(),
      undefined,
    ]) {
      expect(() => actionRegistry([custom({ schema: schema as v.GenericSchema })])).toThrow(
        message,
      );
    }
    // A pipe headed by such an object is fine.
    const piped = v.pipe(
      v.strictObject({ type: v.literal("discord"), a: v.optional(v.number()) }),
      v.check(() => true),
    );
    expect(actionRegistry([custom({ schema: piped })]).get("discord")).toBeDefined();
  });

  it("refuses a field named like a credential that the redaction would show", () => {
    // Responses, logs and dead letters redact secrets by field name: `bot_token` would be shown.
    for (const field of [
      "bot_token",
      "secret",
      "apiKey",
      "clientSecret",
      "password_hash",
      "auth",
    ]) {
      const schema = v.strictObject({ type: v.literal("discord"), [field]: v.string() });
      expect(() => actionRegistry([custom({ schema })])).toThrow(
        new RegExp(`field ${field} looks like a credential.*name it one of signing_secret`),
      );
    }
    // Names the redaction knows, variables' names and templates are fine.
    const schema = v.strictObject({
      type: v.literal("discord"),
      auth_token: v.optional(v.string()),
      api_key: v.optional(v.string()),
      headers: v.optional(v.record(v.string(), v.string())),
      token_env: v.optional(v.string()),
      auth_header_template: v.optional(v.string()),
      // Words that only contain one: not credentials.
      author: v.optional(v.string()),
      cache_key: v.optional(v.string()),
      tokenizer: v.optional(v.string()),
    });
    expect(actionRegistry([custom({ schema })]).get("discord")).toBeDefined();
  });

  it("refuses a definition without run, or with hooks that are not functions", () => {
    expect(() =>
      actionRegistry([custom({ run: undefined as unknown as CustomActionDefinition["run"] })]),
    ).toThrow('custom action type "discord": run must be a function');
    expect(() =>
      actionRegistry([custom({ destination: "discord" as unknown as () => string })]),
    ).toThrow("destination must be a function when given");
    expect(() => actionRegistry([custom({ policyIssues: [] as unknown as () => [] })])).toThrow(
      "policyIssues must be a function when given",
    );
    expect(() => actionRegistry([null as unknown as CustomActionDefinition])).toThrow(
      "a custom action must be an object { type, schema, run }",
    );
  });
});

describe("actionConfigSchemaFor", () => {
  const registry = actionRegistry([discord]);

  it("is one schema per registry", () => {
    expect(actionConfigSchemaFor(registry)).toBe(actionConfigSchemaFor(registry));
    expect(actionConfigSchemaFor(defaultActionRegistry)).toBe(actionConfigSchema);
    expect(observerDefinitionSchemaFor(defaultActionRegistry)).toBe(observerDefinitionSchema);
    expect(observerDefinitionSchemaFor(registry)).not.toBe(observerDefinitionSchema);
  });

  it("validates a custom config with its own schema, naming the field", () => {
    const schema = actionConfigSchemaFor(registry);
    expect(safeParseConfig(schema, { type: "discord", channel: "ops" })).toEqual({
      success: true,
      output: { type: "discord", channel: "ops", mention: false },
    });
    expect(safeParseConfig(schema, { type: "discord", channel: "", colour: 1 })).toEqual({
      success: false,
      issues: [
        { path: "channel", message: "must not be empty" },
        { path: "colour", message: 'unknown field "colour"' },
      ],
    });
  });

  it("lists the registry's types when the type is unknown", () => {
    const all = [...ACTION_TYPES, "discord"].join(", ");
    expect(safeParseConfig(actionConfigSchemaFor(registry), { type: "fax" })).toEqual({
      success: false,
      issues: [{ path: "type", message: `must be one of ${all}` }],
    });
    // The built-ins alone know nothing of it.
    expect(safeParseConfig(actionConfigSchema, { type: "discord", channel: "ops" })).toEqual({
      success: false,
      issues: [{ path: "type", message: `must be one of ${ACTION_TYPES.join(", ")}` }],
    });
  });

  it("refuses a config whose schema drops its type (it could never run)", () => {
    const dropping = actionRegistry([
      custom({
        schema: v.pipe(
          v.strictObject({ type: v.literal("discord") }),
          v.transform(({ type: _, ...rest }) => rest),
        ),
      }),
    ]);
    expect(safeParseConfig(actionConfigSchemaFor(dropping), { type: "discord" })).toEqual({
      success: false,
      issues: [{ path: "", message: "the discord action's schema did not keep its type" }],
    });
  });

  it("carries custom types into the observer schemas", () => {
    const observer = { name: "to-discord", actions: [{ type: "discord", channel: "ops" }] };
    expect(safeParseConfig(observerDefinitionSchemaFor(registry), observer).success).toBe(true);
    expect(safeParseConfig(observerDefinitionSchema, observer)).toMatchObject({
      success: false,
      issues: [{ path: "actions.0.type" }],
    });
    expect(
      safeParseConfig(observerPatchSchemaFor(registry), { actions: [{ type: "discord" }] }),
    ).toEqual({ success: false, issues: [{ path: "actions.0.channel", message: "is required" }] });
  });
});

describe("actionComponentSchemas", () => {
  it("documents every type of the registry, custom ones included, and ActionConfig lists them", () => {
    const registries: ActionRegistry[] = [defaultActionRegistry, actionRegistry([discord])];
    const [builtIn, withDiscord] = registries.map(actionComponentSchemas);
    expect(builtIn?.ActionDiscord).toBeUndefined();
    expect(withDiscord?.ActionDiscord).toMatchObject({
      type: "object",
      properties: {
        type: { const: "discord" },
        channel: { type: "string", minLength: 1 },
        mention: { type: "boolean", default: false },
      },
      required: ["type", "channel"],
      additionalProperties: false,
    });
    expect(withDiscord?.ActionConfig?.oneOf).toContainEqual({
      $ref: "#/components/schemas/ActionDiscord",
    });
    expect(builtIn?.ActionConfig?.oneOf).toHaveLength(ACTION_TYPES.length);
  });
});
