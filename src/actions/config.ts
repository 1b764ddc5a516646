import * as v from "valibot";
import { issueMessage } from "../validation.ts";
import { defaultActionRegistry } from "./registry.ts";
import { ACTION_TYPES } from "./types.ts";

/**
 * Any action config (`{type, ...}`), validated by its own action's schema. Issues keep their paths
 * (`url`, `headers.x-team`), so an API can point at the exact field.
 */
export const actionConfigSchema = v.pipe(
  v.looseObject({
    type: v.picklist(ACTION_TYPES, `must be one of ${ACTION_TYPES.join(", ")}`),
  }),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const definition = defaultActionRegistry.get(dataset.value.type);
    if (!definition) {
      addIssue({ message: `unknown action type ${dataset.value.type}` });
      return NEVER;
    }
    const result = v.safeParse(definition.schema, dataset.value);
    if (result.success) return result.output as { type: string } & Record<string, unknown>;
    for (const issue of result.issues) {
      const path = issue.path as [v.IssuePathItem, ...v.IssuePathItem[]] | undefined;
      const message = issueMessage(issue);
      addIssue(path ? { message, path } : { message });
    }
    return NEVER;
  }),
);

/** A validated action config. */
export type ActionConfig = v.InferOutput<typeof actionConfigSchema>;
