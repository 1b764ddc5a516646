import { z } from "@hono/zod-openapi";
import { LOG_STATUSES } from "../../store/logs.ts";
import { TenantId, Timestamp } from "./common.ts";

/** One attempt of one action (FraiseQL's columns, plus ours). Payloads are never returned. */
export const ObserverLogSchema = z
  .object({
    pk_observer_log: z.number().int(),
    id: z.string().openapi({ format: "uuid" }),
    fk_observer: z.number().int().nullable(),
    observer_id: z.string().nullable().openapi({ description: "Null once the observer is gone" }),
    delivery_id: z.string().nullable().openapi({ description: "The webhook-id" }),
    event_id: z.string(),
    entity_type: z.string().nullable(),
    entity_id: z.string().nullable(),
    event_type: z.string().nullable(),
    status: z.enum(LOG_STATUSES),
    action_index: z.number().int().nullable(),
    action_type: z.string().nullable(),
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    duration_ms: z.number().int().nullable(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    attempt_number: z.number().int(),
    max_attempts: z.number().int(),
    next_retry_at: Timestamp.nullable(),
    response_status_code: z.number().int().nullable(),
    trace_id: z.string().nullable(),
    batch_id: z.string().nullable().openapi({
      format: "uuid",
      description: "The batch (its webhook-id) this attempt went out in; null when not batched",
    }),
    on_dead_letter: z.boolean().openapi({
      description:
        "An attempt of an on_dead_letter action: action_index indexes the observer's on_dead_letter",
    }),
    fk_customer_org: TenantId,
    created_at: Timestamp,
  })
  .openapi("ObserverLog");

export const LogQuerySchema = z.object({
  status: z.enum(LOG_STATUSES).optional(),
  event_id: z.string().optional().openapi({ format: "uuid" }),
  trace_id: z.string().optional(),
});

const rate = z
  .number()
  .nullable()
  .openapi({ description: "Percent, 2 decimals; null without executions" });
const duration = z.number().nullable();

/** FraiseQL's `vw_observer_stats` row, over the attempts in the time range. */
export const ObserverStatsSchema = z
  .object({
    observer_id: z.string().openapi({ format: "uuid" }),
    observer_name: z.string(),
    entity_type: z.string().nullable(),
    event_type: z.string().nullable(),
    enabled: z.boolean(),
    total_executions: z.number().int(),
    successful_executions: z.number().int(),
    failed_executions: z.number().int(),
    timeout_executions: z.number().int(),
    skipped_executions: z.number().int(),
    cancelled_executions: z.number().int(),
    condition_errors: z.number().int(),
    success_rate_pct: rate,
    avg_duration_ms: duration,
    max_duration_ms: duration,
    min_duration_ms: duration,
    last_execution_at: Timestamp.nullable(),
  })
  .openapi("ObserverStats");

/** Totals over every observer the caller may see. */
export const StatsSummarySchema = z
  .object({
    observers: z.object({ total: z.number().int(), enabled: z.number().int() }),
    executions: z.object({
      total: z.number().int(),
      successful: z.number().int(),
      failed: z.number().int(),
      timeout: z.number().int(),
      skipped: z.number().int(),
      cancelled: z.number().int(),
    }),
    success_rate_pct: rate,
    avg_duration_ms: duration,
    p95_duration_ms: duration,
    condition_errors: z.number().int(),
    dead_letters: z.object({ pending: z.number().int(), retrying: z.number().int() }),
    last_execution_at: Timestamp.nullable(),
    since: Timestamp.nullable(),
    until: Timestamp.nullable(),
  })
  .openapi("StatsSummary");
