export { type CacheConfig, cacheAction } from "./cache.ts";
export { createUpstashCacheStore, type UpstashCacheStoreOptions } from "./cache-upstash.ts";
export {
  type ActionConfig,
  type ActionConfigSchema,
  actionConfigSchema,
  actionConfigSchemaFor,
} from "./config.ts";
export { type DatabaseConfig, databaseAction } from "./database.ts";
export { type EmailConfig, emailAction } from "./email.ts";
export { type JobConfig, jobAction } from "./job.ts";
export { type LogConfig, logAction } from "./log.ts";
export {
  type ActionPolicy,
  actionPolicyIssues,
  DEFAULT_ACTION_POLICY,
  isServerVariable,
  type PolicyCode,
  type PolicyIssue,
  type PolicyRule,
  secretRefusal,
} from "./policy.ts";
export { type PushConfig, pushAction } from "./push.ts";
export {
  ACTION_TYPE_PATTERN,
  actionRegistry,
  BUILT_IN_ACTIONS,
  type CustomActionDefinition,
  createActionRegistry,
  defaultActionRegistry,
  defineAction,
  MAX_ACTION_TYPE_LENGTH,
} from "./registry.ts";
export { type SearchConfig, searchAction } from "./search.ts";
export { requireSecret, resolveSecret, type SecretScope } from "./secrets.ts";
export { type SlackConfig, slackAction } from "./slack.ts";
export { type SmsConfig, smsAction } from "./sms.ts";
export {
  ACTION_TYPES,
  type ActionDefinition,
  type ActionEnvironment,
  ActionFailure,
  type ActionRegistry,
  type ActionRequest,
  type ActionResult,
  type ActionType,
  type FailureKind,
  type ObserverRef,
} from "./types.ts";
export { type WebhookConfig, webhookAction } from "./webhook.ts";
