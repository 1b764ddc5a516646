import * as v from "valibot";
import { issueMessage } from "../validation.ts";
import { defaultActionRegistry } from "./registry.ts";
import { actionTimingSchema, splitTiming } from "./timing.ts";
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
      // The timing fields every action has (src/actions/timing.ts) are validated apart, so each
      // action's own schema (strict) sees only its own fields.
      const { timing, rest } = splitTiming(dataset.value);
      const timed = timing === null ? null : v.safeParse(actionTimingSchema, timing);
      const result = v.safeParse(definition.schema, rest);
      const issues = [...(timed?.issues ?? []), ...(result.issues ?? [])];
      if (issues.length > 0 || !result.success) {
        for (const issue of issues) {
          const path = issue.path as [v.IssuePathItem, ...v.IssuePathItem[]] | undefined;
          const message = issueMessage(issue);
          addIssue(path ? { message, path } : { message });
        }
        return NEVER;
      }
      const output = (
        timed?.success ? { ...(result.output as object), ...timed.output } : result.output
      ) as ActionConfig;
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
 * point at the exact field; an unknown type is refused naming every type the registry has. Every
 * type also takes the timing fields (`delay_ms`, `run_at_template`, `debounce`: timing.ts).
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
