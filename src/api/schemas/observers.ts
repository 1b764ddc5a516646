import { z } from "@hono/zod-openapi";
import * as v from "valibot";
import { actionConfigSchemaFor } from "../../actions/config.ts";
import { defaultActionRegistry } from "../../actions/registry.ts";
import type { ActionRegistry } from "../../actions/types.ts";
import { BACKOFF_STRATEGIES, retryConfigSchema } from "../../executor/retry-policy.ts";
import { isJsonObject } from "../../json.ts";
import {
  OBSERVER_EVENT_TYPES,
  type ObserverInput,
  type ObserverPatch,
  ORDERINGS,
  observerDefinitionSchemaFor,
  observerPatchSchemaFor,
} from "../../observers/schema.ts";
import { redactedPlaceholders } from "../../store/redact.ts";
import { issueMessage } from "../../validation.ts";
import { actionComponentSchemas, componentSchema } from "./action-docs.ts";
import { TenantId, Timestamp } from "./common.ts";

/*
 * The observer request bodies. They are defined once, in the core's valibot schemas
 * (src/observers/schema.ts: observerDefinitionSchemaFor, observerPatchSchemaFor), for the
 * registry's action types; here they only meet the routes: a zod schema that validates with the
 * valibot one (its issues become zod issues with the same paths, so a 400 names each field) and
 * whose OpenAPI description is the JSON Schema generated from it (action-docs.ts).
 */

type JsonSchemaObject = Record<string, unknown>;

/** Validates `value` with `schema` at the door, adding each issue to `context` at its path. */
function checkWith(schema: v.GenericSchema, value: unknown, context: z.RefinementCtx): void {
  // A secret read back as `[REDACTED]` and sent again would be stored as the secret.
  const actions = isJsonObject(value) ? value.actions : undefined;
  const onDeadLetter = isJsonObject(value) ? value.on_dead_letter : undefined;
  for (const issue of [
    ...redactedPlaceholders(actions),
    ...redactedPlaceholders(onDeadLetter, "on_dead_letter"),
  ]) {
    context.addIssue({ code: "custom", message: issue.message, path: issue.path.split(".") });
  }
  const result = v.safeParse(schema, value);
  if (result.success) return;
  for (const issue of result.issues) {
    const path = (issue.path ?? []).map((item) => item.key as PropertyKey);
    context.addIssue({ code: "custom", message: issueMessage(issue), path });
  }
}

/** The request bodies and components of one registry's observers. */
export interface ObserverBodies {
  /** `POST /api/observers`. */
  create: z.ZodType<ObserverInput, ObserverInput>;
  /**
   * `PATCH /api/observers/{id}`: any subset of the fields. `actions`, when sent, replace the stored
   * ones (secrets included); left out, the stored ones stay.
   */
  patch: z.ZodType<ObserverPatch, ObserverPatch>;
  /** The components the bodies refer to: `RetryConfigInput`, `ActionConfig`, one per action. */
  components: Readonly<Record<string, JsonSchemaObject>>;
}

function buildBodies(registry: ActionRegistry): ObserverBodies {
  const definition = observerDefinitionSchemaFor(registry) as v.GenericSchema;
  const patch = observerPatchSchemaFor(registry) as v.GenericSchema;
  const refs = {
    ActionConfig: actionConfigSchemaFor(registry) as v.GenericSchema,
    RetryConfigInput: retryConfigSchema as v.GenericSchema,
  };
  return {
    create: z
      .custom<ObserverInput>()
      .superRefine((value, context) => checkWith(definition, value, context))
      .openapi("ObserverCreate", componentSchema(definition, refs)),
    patch: z
      .custom<ObserverPatch>()
      .superRefine((value, context) => checkWith(patch, value, context))
      .openapi("ObserverPatch", componentSchema(patch, refs)),
    components: {
      RetryConfigInput: {
        ...componentSchema(retryConfigSchema as v.GenericSchema),
        description: "Every field optional: null or left out, the default",
      },
      ...actionComponentSchemas(registry),
    },
  };
}

const bodies = new WeakMap<ActionRegistry, ObserverBodies>();

/** The observer request bodies for `registry`'s action types (cached per registry). */
export function observerBodies(registry: ActionRegistry = defaultActionRegistry): ObserverBodies {
  let found = bodies.get(registry);
  if (!found) {
    found = buildBodies(registry);
    bodies.set(registry, found);
  }
  return found;
}

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
    event_type: z.enum(OBSERVER_EVENT_TYPES as unknown as [string, ...string[]]).nullable(),
    condition_expression: z.string().nullable(),
    schedule: z.string().nullable().openapi({
      description: "For event_type SCHEDULE: its cron schedule (docs/time.md)",
    }),
    timezone: z.string().nullable().openapi({
      description: "For event_type SCHEDULE: the IANA time zone of the schedule; null for UTC",
    }),
    actions: z.array(ActionViewSchema),
    on_dead_letter: z.array(ActionViewSchema).openapi({
      description:
        "Actions run when one of its deliveries is dead-lettered, with the failure in the event (docs/delivery.md)",
    }),
    retry_config: z.object({
      max_attempts: z.number().int(),
      backoff_strategy: z.enum(BACKOFF_STRATEGIES),
      initial_delay_ms: z.number().int(),
      max_delay_ms: z.number().int(),
    }),
    enabled: z.boolean(),
    priority: z.number().int(),
    timeout_ms: z.number().int(),
    ordering: z.enum(ORDERINGS).openapi({
      description: "`unordered` (default) or `per_entity` (docs/delivery.md)",
    }),
    paused: z.boolean().openapi({
      description:
        "Paused (POST .../pause): changes are matched and their deliveries held until resume",
    }),
    paused_at: Timestamp.nullable(),
    fk_customer_org: TenantId,
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: z.string().nullable(),
    updated_by: z.string().nullable(),
    deleted_at: Timestamp.nullable(),
  })
  .openapi("Observer");

/** `GET /api/observers/{id}`: the observer, and what its deliveries wait for. */
export const ObserverDetailSchema = ObserverSchema.extend({
  held: z
    .array(
      z.object({
        id: z.string().openapi({
          description: "The destination's id (POST /api/observers/destinations/{id}/reset)",
        }),
        destination: z.string(),
        state: z.enum(["closed", "open"]),
        disabled: z.boolean(),
        disabled_reason: z.string().nullable(),
        next_probe_at: Timestamp.nullable(),
        deliveries: z.number().int(),
      }),
    )
    .openapi({
      description:
        "Its deliveries held for a destination whose circuit is open or that is disabled (docs/delivery.md), with why; empty when none wait",
    }),
}).openapi("ObserverDetail");
