import { z } from "@hono/zod-openapi";
import { actionConfigSchema } from "../../actions/config.ts";
import { ACTION_TYPES } from "../../actions/types.ts";
import { parseCondition } from "../../dsl/parser.ts";
import { EVENT_TYPES } from "../../events/types.ts";
import {
  BACKOFF_STRATEGIES,
  DEFAULT_RETRY_CONFIG,
  MAX_ATTEMPTS_LIMIT,
  MAX_RETRY_DELAY_MS,
} from "../../executor/retry-policy.ts";
import {
  DEFAULT_PRIORITY,
  DEFAULT_TIMEOUT_MS,
  MAX_OBSERVER_NAME_LENGTH,
  MAX_PRIORITY,
  MAX_TIMEOUT_MS,
  MIN_PRIORITY,
} from "../../observers/schema.ts";
import { redactedPlaceholders } from "../../store/redact.ts";
import { safeParseConfig } from "../../validation.ts";
import { TenantId, Timestamp } from "./common.ts";

/*
 * The observer request bodies, in zod for the OpenAPI document and for validation at the door.
 * The core's valibot schema (src/observers/schema.ts) stays the definition the store applies; a
 * test keeps the two in agreement on a corpus of valid and invalid observers. Action configs are
 * not described twice: each built-in action's own valibot schema validates it here too (and its
 * JSON Schema, generated from the same definition, documents it: see action-docs.ts).
 */

const integer = () =>
  z.number().int("must be an integer").max(Number.MAX_SAFE_INTEGER).min(Number.MIN_SAFE_INTEGER);

const name = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(MAX_OBSERVER_NAME_LENGTH, `must be at most ${MAX_OBSERVER_NAME_LENGTH} characters`)
  .openapi({ description: "Unique per tenant among live observers", example: "order-shipped" });

const entityType = z
  .string()
  .trim()
  .min(1, "must not be empty (use null for all)")
  .nullable()
  .openapi({
    description: "The entity (object_type) to watch; null for every entity",
    example: "Order",
  });

const eventType = z
  .string()
  .toUpperCase()
  .refine((value) => (EVENT_TYPES as readonly string[]).includes(value), {
    message: `must be one of ${EVENT_TYPES.join(", ")} (or null for all)`,
  })
  .nullable()
  .openapi({
    enum: [...EVENT_TYPES],
    description: "INSERT, UPDATE, DELETE or CUSTOM (any case); null for every event type",
  });

const condition = z
  .string()
  .superRefine((source, context) => {
    if (source.trim() === "") return;
    const parsed = parseCondition(source);
    if (parsed.success) return;
    for (const issue of parsed.issues) {
      context.addIssue({
        code: "custom",
        message: `at position ${issue.position}: ${issue.message}`,
      });
    }
  })
  .nullable()
  .openapi({
    description: "A condition in the DSL (docs/conditions.md); null or empty fires on every change",
    example: "status == 'shipped' && changed(status)",
  });

/** One action: `{type, ...}`, validated by that action's own schema. */
export const ActionInputSchema = z
  .object({
    type: z.string().openapi({ enum: [...ACTION_TYPES] }),
  })
  .loose()
  .superRefine((action, context) => {
    // A secret read back as `[REDACTED]` and sent again would be stored as the secret.
    for (const issue of redactedPlaceholders([action])) {
      const path = issue.path.split(".").slice(2);
      context.addIssue({ code: "custom", message: issue.message, path });
    }
    const result = safeParseConfig(actionConfigSchema, action);
    if (result.success) return;
    for (const issue of result.issues) {
      context.addIssue({
        code: "custom",
        message: issue.message,
        path: issue.path === "" ? [] : issue.path.split("."),
      });
    }
  })
  .openapi("ActionConfig", {
    description: "An action; its fields depend on `type` (one schema per built-in action)",
    oneOf: ACTION_TYPES.map((type) => ({ $ref: `#/components/schemas/${actionSchemaName(type)}` })),
  } as Record<string, unknown>);

/** The component name of a built-in action's schema. */
export function actionSchemaName(type: string): string {
  return `Action${type
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("")}`;
}

const delay = integer()
  .min(0, "must not be negative")
  .max(MAX_RETRY_DELAY_MS, `must be at most ${MAX_RETRY_DELAY_MS} (24 hours)`);

/** `retry_config`: every field optional (null = the default). */
export const RetryConfigInputSchema = z
  .strictObject({
    max_attempts: integer()
      .min(1, "must be at least 1 (the first attempt counts)")
      .max(MAX_ATTEMPTS_LIMIT, `must be at most ${MAX_ATTEMPTS_LIMIT}`)
      .nullish()
      .openapi({ default: DEFAULT_RETRY_CONFIG.max_attempts }),
    backoff_strategy: z
      .enum(BACKOFF_STRATEGIES, `must be one of ${BACKOFF_STRATEGIES.join(", ")}`)
      .nullish()
      .openapi({ default: DEFAULT_RETRY_CONFIG.backoff_strategy }),
    initial_delay_ms: delay.nullish().openapi({ default: DEFAULT_RETRY_CONFIG.initial_delay_ms }),
    max_delay_ms: delay.nullish().openapi({ default: DEFAULT_RETRY_CONFIG.max_delay_ms }),
  })
  .superRefine((config, context) => {
    const initial = config.initial_delay_ms ?? DEFAULT_RETRY_CONFIG.initial_delay_ms;
    // Left out, the cap rises to the initial delay; only a given cap can be too small.
    if (config.max_delay_ms != null && config.max_delay_ms < initial) {
      context.addIssue({
        code: "custom",
        message: "must be at least initial_delay_ms",
        path: ["max_delay_ms"],
      });
    }
  })
  .nullable()
  .openapi("RetryConfigInput");

const fields = {
  name,
  description: z.string().nullable(),
  entity_type: entityType,
  event_type: eventType,
  condition_expression: condition,
  actions: z
    .array(ActionInputSchema)
    .min(1, "must list at least one action")
    .max(32, "must list at most 32 actions"),
  retry_config: RetryConfigInputSchema,
  enabled: z.boolean().openapi({ default: true }),
  priority: integer()
    .min(MIN_PRIORITY, `must be at least ${MIN_PRIORITY}`)
    .max(MAX_PRIORITY, `must be at most ${MAX_PRIORITY}`)
    .openapi({ default: DEFAULT_PRIORITY, description: "Lower runs first" }),
  timeout_ms: integer()
    .min(1, "must be at least 1")
    .max(MAX_TIMEOUT_MS, `must be at most ${MAX_TIMEOUT_MS} (15 minutes)`)
    .openapi({ default: DEFAULT_TIMEOUT_MS, description: "Per-action timeout" }),
};

/** `POST /api/observers`. */
export const ObserverCreateSchema = z
  .strictObject({
    ...fields,
    description: fields.description.optional(),
    entity_type: fields.entity_type.optional(),
    event_type: fields.event_type.optional(),
    condition_expression: fields.condition_expression.optional(),
    retry_config: fields.retry_config.optional(),
    enabled: fields.enabled.optional(),
    priority: fields.priority.optional(),
    timeout_ms: fields.timeout_ms.optional(),
  })
  .openapi("ObserverCreate");

/**
 * `PATCH /api/observers/{id}`: any subset of the fields. `actions`, when sent, replace the stored
 * ones (secrets included); left out, the stored ones stay.
 */
export const ObserverPatchSchema = z
  .strictObject({
    name: fields.name.optional(),
    description: fields.description.optional(),
    entity_type: fields.entity_type.optional(),
    event_type: fields.event_type.optional(),
    condition_expression: fields.condition_expression.optional(),
    actions: fields.actions.optional(),
    retry_config: fields.retry_config.optional(),
    enabled: fields.enabled.optional(),
    priority: fields.priority.optional(),
    timeout_ms: fields.timeout_ms.optional(),
  })
  .openapi("ObserverPatch");

/** An action as responses show it: secrets read `[REDACTED]`. */
const ActionViewSchema = z
  .object({ type: z.string() })
  .catchall(z.unknown())
  .openapi("ActionView", {
    description:
      "An action, with every secret value `[REDACTED]`, and in URLs the user info, query, fragment and token-like path segments",
  });

/** An observer as every response shows it (FraiseQL's columns, secrets redacted). */
export const ObserverSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    name: z.string(),
    description: z.string().nullable(),
    entity_type: z.string().nullable(),
    event_type: z.enum(EVENT_TYPES as [string, ...string[]]).nullable(),
    condition_expression: z.string().nullable(),
    actions: z.array(ActionViewSchema),
    retry_config: z.object({
      max_attempts: z.number().int(),
      backoff_strategy: z.enum(BACKOFF_STRATEGIES),
      initial_delay_ms: z.number().int(),
      max_delay_ms: z.number().int(),
    }),
    enabled: z.boolean(),
    priority: z.number().int(),
    timeout_ms: z.number().int(),
    fk_customer_org: TenantId,
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: z.string().nullable(),
    updated_by: z.string().nullable(),
    deleted_at: Timestamp.nullable(),
  })
  .openapi("Observer");
