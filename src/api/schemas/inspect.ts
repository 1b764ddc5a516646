import { z } from "@hono/zod-openapi";
import { TenantId, TimeRange, Timestamp } from "./common.ts";

const REASONS = [
  "fired",
  "disabled",
  "tenant",
  "event_type",
  "entity_type",
  "condition_false",
  "condition_error",
  "scheduled",
  "one_off",
  "paused",
] as const;

/** One sub-expression of a condition and what it came to (children nest the same shape). */
const ExplainStepSchema = z
  .object({
    kind: z.string(),
    text: z.string().openapi({ description: "The sub-expression as written" }),
    position: z.number().int(),
    length: z.number().int(),
    outcome: z.enum(["true", "false", "error", "skipped"]),
    error: z.string().optional(),
    values: z
      .array(
        z.object({
          text: z.string(),
          value: z.unknown().optional(),
          missing: z.literal(true).optional(),
        }),
      )
      .optional(),
    hint: z.string().optional(),
    children: z
      .array(z.record(z.string(), z.unknown()))
      .optional()
      .openapi({ description: "ExplainStep, recursively" }),
  })
  .openapi("ExplainStep");

/** The condition's evaluation: its parse issues, or its result and every step. */
export const ConditionExplanationSchema = z
  .union([
    z.object({
      success: z.literal(true),
      result: z.boolean().nullable(),
      error: z
        .object({ message: z.string(), position: z.number().int(), length: z.number().int() })
        .optional(),
      root: ExplainStepSchema,
    }),
    z.object({ success: z.literal(false), issues: z.array(z.record(z.string(), z.unknown())) }),
  ])
  .openapi("ConditionExplanation");

const MatchFields = {
  fired: z.boolean(),
  reason: z.enum(REASONS).openapi({
    description:
      "The first criterion that decided; for a scheduled event (explain only), `scheduled` (a tick of the observer's schedule) or `one_off` (an event posted to its /schedule); `paused` (explain only): it fires, but the observer is paused, so its deliveries are held until resume",
  }),
  detail: z.string(),
  condition: ConditionExplanationSchema.optional(),
};

/** A change as a producer writes it to `core.tb_entity_change_log`, to test an observer with. */
export const TestEventSchema = z
  .strictObject({
    object_type: z.string().min(1).openapi({ example: "Order" }),
    modification_type: z.string().openapi({ example: "UPDATE" }),
    object_id: z.union([z.string(), z.number().int()]).nullable().optional(),
    object_data: z
      .unknown()
      .optional()
      .openapi({ description: "The row after the change (or a Debezium envelope)" }),
    object_data_before: z
      .unknown()
      .optional()
      .openapi({ description: "The row before the change" }),
    fk_customer_org: z.union([z.string(), z.number().int()]).nullable().optional(),
    id: z.guid("must be a UUID").optional().openapi({ description: "Default: a new UUID" }),
    created_at: z.iso.datetime({ offset: true }).optional(),
  })
  .openapi("TestEvent");

export const TestRequestSchema = z
  .strictObject({
    event: TestEventSchema.optional(),
    event_id: z
      .string()
      .optional()
      .openapi({ format: "uuid", description: "A stored change's event id" }),
    condition_expression: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: "Try this condition instead of the stored one" }),
    send: z.boolean().optional().openapi({
      default: false,
      description: "Run the actions once (no retries, nothing logged)",
    }),
  })
  .openapi("ObserverTestRequest");

const SentSchema = z.object({
  action_index: z.number().int(),
  action_type: z.string(),
  status: z.enum(["success", "failed", "timeout", "cancelled"]),
  duration_ms: z.number().int(),
  http_status: z.number().int().nullable(),
  error_code: z.string().nullable(),
  error_message: z.string().nullable(),
  message: z.string().nullable(),
});

export const TestResultSchema = z
  .object({
    ...MatchFields,
    event: z.object({
      event_id: z.string(),
      entity_type: z.string(),
      entity_id: z.string().nullable(),
      event_type: z.string(),
    }),
    sent: z
      .array(SentSchema)
      .nullable()
      .openapi({ description: "Null unless `send` was asked and it fired" }),
  })
  .openapi("ObserverTestResult");

export const BacktestRequestSchema = z
  .strictObject({
    since: TimeRange.since.unwrap(),
    until: TimeRange.until.optional().openapi({ description: "Default: now" }),
    condition_expression: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: "Backtest this condition instead of the stored one" }),
    samples: z.number().int().min(0).max(100).optional().openapi({ default: 10 }),
  })
  .openapi("BacktestRequest");

export const BacktestResultSchema = z
  .object({
    method: z.enum(["sql", "evaluated"]).openapi({
      description:
        "`sql`: the condition ran in PostgreSQL; `evaluated`: changes were read and evaluated here",
    }),
    sql_unavailable_reason: z.string().optional(),
    since: Timestamp,
    until: Timestamp,
    considered: z
      .number()
      .int()
      .openapi({ description: "Changes of the observer's entity, event type and tenant" }),
    fired: z.number().int(),
    errors: z
      .number()
      .int()
      .openapi({ description: "Changes the condition could not be evaluated for" }),
    truncated: z.boolean().openapi({ description: "The evaluated scan stopped at its limit" }),
    samples: z.array(
      z.object({
        event_id: z.string(),
        entity_type: z.string(),
        entity_id: z.string().nullable(),
        event_type: z.string(),
        created_at: Timestamp,
      }),
    ),
  })
  .openapi("BacktestResult");

export const EventExplanationSchema = z
  .object({
    event: z.object({
      event_id: z.string(),
      entity_type: z.string(),
      entity_id: z.string().nullable(),
      event_type: z.string(),
      fk_customer_org: TenantId,
      created_at: Timestamp,
      transaction_id: z.string().optional(),
    }),
    observers: z.array(
      z.object({
        observer_id: z.string(),
        name: z.string(),
        enabled: z.boolean(),
        ...MatchFields,
        outcomes: z.array(
          z.object({
            action_index: z.number().int().nullable(),
            action_type: z.string().nullable(),
            status: z.string(),
            attempt_number: z.number().int(),
            error_code: z.string().nullable(),
            error_message: z.string().nullable(),
            batch_id: z.string().nullable(),
            on_dead_letter: z.boolean(),
            created_at: Timestamp,
          }),
        ),
      }),
    ),
  })
  .openapi("EventExplanation");
