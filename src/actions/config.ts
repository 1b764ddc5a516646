import * as v from "valibot";
import { issueMessage } from "../validation.ts";
import { defaultActionRegistry } from "./registry.ts";
import type { ActionRegistry } from "./types.ts";

/** A validated action config: `{type, ...}` as its action's schema outputs it. */
export type ActionConfig = { type: string } & Record<string, unknown>;

function buildActionConfigSchema(registry: ActionRegistry) {
  const types = registry.list().map((definition) => definition.type);
  return v.pipe(
    v.looseObject({
      type: v.picklist(types, `must be one of ${types.join(", ")}`),
    }),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const definition = registry.get(dataset.value.type);
      if (!definition) {
        addIssue({ message: `unknown action type ${dataset.value.type}` });
        return NEVER;
      }
      const result = v.safeParse(definition.schema, dataset.value);
      if (!result.success) {
        for (const issue of result.issues) {
          const path = issue.path as [v.IssuePathItem, ...v.IssuePathItem[]] | undefined;
          const message = issueMessage(issue);
          addIssue(path ? { message, path } : { message });
        }
        return NEVER;
      }
      const output = result.output as ActionConfig;
      // The stored config is dispatched by its type: a schema that dropped or changed it would
      // store an action no registry could run.
      if (output?.type !== definition.type) {
        addIssue({ message: `the ${definition.type} action's schema did not keep its type` });
        return NEVER;
      }
      return output;
    }),
  );
}

/** The schema of any action config of `registry`'s types. */
export type ActionConfigSchema = ReturnType<typeof buildActionConfigSchema>;

const schemas = new WeakMap<ActionRegistry, ActionConfigSchema>();

/**
 * Any action config (`{type, ...}`) of one of `registry`'s types, validated by that action's own
 * schema (cached per registry). Issues keep their paths (`url`, `headers.x-team`), so an API can
 * point at the exact field; an unknown type is refused naming every type the registry has.
 */
export function actionConfigSchemaFor(registry: ActionRegistry): ActionConfigSchema {
  let schema = schemas.get(registry);
  if (!schema) {
    schema = buildActionConfigSchema(registry);
    schemas.set(registry, schema);
  }
  return schema;
}

/** Any built-in action config (`actionConfigSchemaFor(defaultActionRegistry)`). */
export const actionConfigSchema: ActionConfigSchema = actionConfigSchemaFor(defaultActionRegistry);
