import { cacheAction } from "./cache.ts";
import { databaseAction } from "./database.ts";
import { emailAction } from "./email.ts";
import { jobAction } from "./job.ts";
import { logAction } from "./log.ts";
import { pushAction } from "./push.ts";
import { searchAction } from "./search.ts";
import { slackAction } from "./slack.ts";
import { smsAction } from "./sms.ts";
import type { ActionDefinition, ActionRegistry, ActionType } from "./types.ts";
import { webhookAction } from "./webhook.ts";

/** A registry over these definitions, one per type. */
export function createActionRegistry(definitions: readonly ActionDefinition[]): ActionRegistry {
  const byType = new Map<string, ActionDefinition>();
  for (const definition of definitions) {
    if (byType.has(definition.type)) throw new Error(`duplicate action type ${definition.type}`);
    byType.set(definition.type, definition);
  }
  return { get: (type) => byType.get(type) };
}

/** Every built-in action. */
export const BUILT_IN_ACTIONS: Readonly<Record<ActionType, ActionDefinition>> = {
  webhook: webhookAction as ActionDefinition,
  slack: slackAction as ActionDefinition,
  email: emailAction as ActionDefinition,
  sms: smsAction as ActionDefinition,
  push: pushAction as ActionDefinition,
  search: searchAction as ActionDefinition,
  cache: cacheAction as ActionDefinition,
  database: databaseAction as ActionDefinition,
  log: logAction as ActionDefinition,
  job: jobAction as ActionDefinition,
};

/** The registry the executor and the observer schema use by default. */
export const defaultActionRegistry: ActionRegistry = createActionRegistry(
  Object.values(BUILT_IN_ACTIONS),
);

/**
 * The built-in actions plus a host's own (`createObservers({ actions })`). A custom type may not
 * reuse a built-in one's name.
 */
export function actionRegistry(custom: readonly ActionDefinition[] = []): ActionRegistry {
  if (custom.length === 0) return defaultActionRegistry;
  return createActionRegistry([...Object.values(BUILT_IN_ACTIONS), ...custom]);
}
