import { z } from "@hono/zod-openapi";
import { TimeRange, Timestamp } from "./common.ts";

/** A dead letter: one action of one change that failed every attempt. */
export const DeadLetterSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    observer_id: z.string().nullable().openapi({ description: "Null once the observer is gone" }),
    observer_name: z.string(),
    delivery_id: z.string().openapi({ description: "The webhook-id a replay sends again" }),
    event_id: z.string(),
    entity_type: z.string(),
    entity_id: z.string().nullable(),
    event_type: z.string(),
    action_index: z.number().int(),
    action_type: z.string(),
    on_dead_letter: z.boolean().openapi({
      description:
        "The dead letter of an on_dead_letter action: action_index indexes the observer's on_dead_letter; a replay runs that action again (docs/delivery.md)",
    }),
    reports: z.string().nullable().openapi({
      format: "uuid",
      description: "For an on_dead_letter action's dead letter: the dead letter it reported",
    }),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    response_status_code: z.number().int().nullable(),
    status: z.enum(["pending", "retrying"]).openapi({
      description: "`pending`: waiting for a person; `retrying`: a replay is queued or running",
    }),
    retry_count: z.number().int(),
    created_at: Timestamp,
    last_attempt_at: Timestamp,
    last_retry_at: Timestamp.nullable(),
  })
  .openapi("DeadLetter");

/** Which dead letters `retry-all` re-queues (all when empty). */
export const DeadLetterFilterSchema = z
  .strictObject({
    observer_id: z.string().optional().openapi({ format: "uuid" }),
    error_code: z.string().min(1).optional().openapi({ example: "HTTP_STATUS" }),
    ...TimeRange,
  })
  .openapi("DeadLetterFilter");

export const RetryAllResultSchema = z
  .object({
    items_retried: z.number().int().openapi({ description: "Re-queued now" }),
    items_failed: z
      .number()
      .int()
      .openapi({ description: "Matching, but their observer is gone: cannot be replayed" }),
    items_already_retrying: z.number().int().openapi({ description: "Matching, already queued" }),
    message: z.string(),
  })
  .openapi("RetryAllResult");

export const DeadLetterStatsSchema = z
  .object({
    total_items: z.number().int(),
    total_retries: z.number().int(),
    dropped: z.number().int().openapi({ description: "Always 0: the queue is durable" }),
    pending: z.number().int(),
    retrying: z.number().int(),
    oldest_created_at: Timestamp.nullable(),
    by_action: z.record(z.string(), z.number().int()),
    by_error_code: z.record(z.string(), z.number().int()),
    by_observer: z.array(
      z.object({
        observer_id: z.string().nullable(),
        observer_name: z.string(),
        count: z.number().int(),
      }),
    ),
  })
  .openapi("DeadLetterStats");

export const RetryQueuedSchema = z
  .object({ message: z.string(), id: z.string() })
  .openapi("RetryQueued");
