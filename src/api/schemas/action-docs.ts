import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { BUILT_IN_ACTIONS } from "../../actions/registry.ts";
import { actionSchemaName } from "./observers.ts";

type JsonSchema = Record<string, unknown>;

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
 * One OpenAPI component per built-in action, generated from the action's own valibot schema (its
 * one definition): fields, types, enums and defaults. Checks JSON Schema cannot say (templates
 * parse, exactly one of `url` and `url_env`) are in each schema's validation, not in these.
 */
export function actionComponentSchemas(): Record<string, JsonSchema> {
  const components: Record<string, JsonSchema> = {};
  for (const [type, definition] of Object.entries(BUILT_IN_ACTIONS)) {
    const schema = toJsonSchema(definition.schema as v.GenericSchema, {
      errorMode: "ignore",
      target: "draft-2020-12",
    }) as JsonSchema;
    const base = actionSchemaName(type);
    const names = new Map<string, string>();
    const defs = (schema.$defs ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(defs)) names.set(key, `${base}Def${key}`);
    for (const [key, def] of Object.entries(defs)) {
      components[names.get(key) as string] = relocate(def, names) as JsonSchema;
    }
    components[base] = relocate(schema, names) as JsonSchema;
  }
  return components;
}
