import { z } from "@hono/zod-openapi";
import { Instant, Timestamp } from "./common.ts";

/** `POST /api/observers/{id}/replay`. */
export const ReplayBodySchema = z
  .strictObject({
    since: Instant.openapi({
      description: "Start of the range of retained changes (inclusive), ISO 8601 with a time zone",
    }),
    until: Instant.openapi({
      description: "End of the range (exclusive), ISO 8601 with a time zone",
    }),
    dry_run: z.boolean().optional().openapi({
      description: "Count what a replay would deliver; create nothing",
    }),
  })
  .openapi("ReplayRequest");

/** A replay and its progress. */
export const ReplaySchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    observer_id: z.string().openapi({ format: "uuid" }),
    since: Timestamp,
    until: Timestamp,
    status: z.enum(["running", "done", "cancelled", "failed"]),
    matched: z.number().int().openapi({ description: "Changes matched so far" }),
    created: z.number().int().openapi({ description: "Deliveries created so far" }),
    scanned: z.number().int().openapi({
      description:
        "Changes of its entity and event types (and tenant) read so far: runs up to `total`",
    }),
    total: z
      .number()
      .int()
      .openapi({ description: "Changes of its entity and event types in the range at the start" }),
    error: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .openapi("Replay");

/** A dry run's answer. */
export const ReplayDryRunSchema = z
  .object({
    dry_run: z.literal(true),
    since: Timestamp,
    until: Timestamp,
    considered: z.number().int(),
    matched: z.number().int().openapi({ description: "Changes a replay would deliver" }),
    deliveries: z.number().int().openapi({ description: "Deliveries it would create" }),
  })
  .openapi("ReplayDryRun");

/** `POST /api/observers/deliveries/cancel`: which pending deliveries (at least one filter). */
export const CancelBodySchema = z
  .strictObject({
    observer_id: z.guid("must be a UUID").optional().openapi({ format: "uuid" }),
    action_index: z.number().int().min(0).max(1000).optional(),
    entity_type: z.string().min(1).max(255).optional(),
    entity_id: z.string().min(1).max(1000).optional(),
    created_before: Instant.optional().openapi({
      description: "Only deliveries created before this instant",
    }),
    dry_run: z.boolean().optional().openapi({ description: "Count only; cancel nothing" }),
  })
  .openapi("DeliveryCancelFilter");

export const CancelResultSchema = z
  .object({
    dry_run: z.boolean(),
    cancelled: z.number().int().openapi({ description: "Pending deliveries cancelled" }),
    in_flight: z.number().int().openapi({
      description: "Matching deliveries running now: never cancelled, they finish as usual",
    }),
    more: z.boolean().openapi({ description: "More matched than one call cancels: call again" }),
  })
  .openapi("DeliveryCancelResult");
