import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { actionTimingEntries } from "../../actions/timing.ts";
import type { ActionRegistry } from "../../actions/types.ts";

/*
 * JSON Schema for the OpenAPI document, generated from the core's valibot schemas (their one
 * definition): fields, types, enums, bounds, defaults, descriptions and examples. Checks JSON
 * Schema cannot say (templates parse, exactly one of `url` and `url_env`) stay in validation.
 */

export type JsonSchema = Record<string, unknown>;

/** The component name of an action type's schema: `webhook` -> `ActionWebhook`. */
export function actionSchemaName(type: string): string {
  return `Action${type
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("")}`;
}

/** Rewrites `#/$defs/<key>` references to the components they move to. */
function relocate(value: unknown, names: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => relocate(item, names));
  if (typeof value !== "object" || value === null) return value;
  const out: JsonSchema = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === "$ref" && typeof item === "string" && item.startsWith("#/$defs/")) {
      out[key] = `#/components/schemas/${names.get(item.slice("#/$defs/".length)) ?? item}`;
    } else if (key !== "$schema" && key !== "$defs") {
      out[key] = relocate(item, names);
    }
  }
  return out;
}

/**
 * `schema` as the root of a component, with `components` (schemas used inside it) as `$ref`s to
 * the components of those names. Pipes are read from their last schema on ("output" mode), so a
 * field's enum is the normalised values and its checks the final ones.
 */
export function componentSchema(
  schema: v.GenericSchema,
  components: Readonly<Record<string, v.GenericSchema>> = {},
): JsonSchema {
  const converted = toJsonSchema(schema, {
    errorMode: "ignore",
    target: "draft-2020-12",
    typeMode: "output",
    definitions: components,
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  }) as JsonSchema;
  const { $schema: _, $defs: __, ...rest } = converted;
  return rest;
}

/** The timing fields every action takes (src/actions/timing.ts), as JSON Schema properties. */
function timingProperties(): Record<string, unknown> {
  const schema = toJsonSchema(v.object(actionTimingEntries), {
    errorMode: "ignore",
    target: "draft-2020-12",
  }) as JsonSchema;
  return (schema.properties ?? {}) as Record<string, unknown>;
}

/** An action's component with the timing fields beside its own. */
function withTimingFields(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, unknown> | undefined;
  if (!properties) return schema;
  return { ...schema, properties: { ...properties, ...timingProperties() } };
}

/**
 * One OpenAPI component per action of `registry` (built-ins and a host's own), generated from the
 * action's own valibot schema, and `ActionConfig`: one of them, by `type`.
 */
export function actionComponentSchemas(registry: ActionRegistry): Record<string, JsonSchema> {
  const components: Record<string, JsonSchema> = {};
  const types: string[] = [];
  for (const definition of registry.list()) {
    types.push(definition.type);
    const schema = toJsonSchema(definition.schema as v.GenericSchema, {
      errorMode: "ignore",
      target: "draft-2020-12",
    }) as JsonSchema;
    const base = actionSchemaName(definition.type);
    const names = new Map<string, string>();
    const defs = (schema.$defs ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(defs)) names.set(key, `${base}Def${key}`);
    for (const [key, def] of Object.entries(defs)) {
      components[names.get(key) as string] = relocate(def, names) as JsonSchema;
    }
    components[base] = withTimingFields(relocate(schema, names) as JsonSchema);
  }
  components.ActionConfig = {
    type: "object",
    description:
      "An action; its fields depend on `type` (one schema per action type this server has, its own included)",
    properties: { type: { type: "string", enum: types } },
    required: ["type"],
    oneOf: types.map((type) => ({ $ref: `#/components/schemas/${actionSchemaName(type)}` })),
  };
  return components;
}
