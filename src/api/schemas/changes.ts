import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "../../events/types.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";
import { TenantId, TimeRange, Timestamp } from "./common.ts";

/** The query of `GET /api/observers/changes`. */
export const ChangeQuerySchema = z.object({
  entity_type: z.string().min(1).max(255).optional().openapi({ example: "Order" }),
  event_type: z.enum(EVENT_TYPES as [string, ...string[]]).optional(),
  entity_id: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .openapi({ description: "The changed row's id (`object_id`), exactly" }),
  ...TimeRange,
  cursor: z
    .string()
    .optional()
    .openapi({ description: "The `next_cursor` of the previous page: changes older than it" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .optional()
    .openapi({
      default: DEFAULT_PAGE_SIZE,
      description: `Changes per page, 1 to ${MAX_PAGE_SIZE}`,
    }),
});

/** One captured change, with where its explanation is. */
export const ChangeSummarySchema = z
  .object({
    event_id: z.string().openapi({ format: "uuid" }),
    entity_type: z.string(),
    entity_id: z.string().nullable(),
    event_type: z.string().openapi({ description: "INSERT, UPDATE, DELETE or CUSTOM" }),
    fk_customer_org: TenantId,
    trace_id: z.string().nullable(),
    created_at: Timestamp,
    links: z
      .object({
        explain: z.string().openapi({
          description:
            "The explanation (`GET /api/observers/events/{event_id}/explain`), relative to this list's URL",
          example: "events/3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42/explain",
        }),
        console: z.string().openapi({
          description: "The change in the console, relative to this list's URL",
          example: "console/#/changes/3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42",
        }),
      })
      .openapi({ description: "Relative URLs, so they hold under any mount prefix" }),
  })
  .openapi("ChangeSummary");

export const ChangePageSchema = z
  .object({
    data: z.array(ChangeSummarySchema),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "Pass as `cursor` for the next (older) page; null at the end" }),
  })
  .openapi("ChangePage");

/** `POST /api/observers/validate`: a condition to check without saving anything. */
export const ValidateRequestSchema = z
  .strictObject({
    condition_expression: z.string().max(65_536),
  })
  .openapi("ValidateRequest");

export const ValidateResultSchema = z
  .object({
    valid: z.boolean(),
    issues: z
      .array(
        z.object({
          message: z.string(),
          position: z.number().int(),
          length: z.number().int(),
          text: z.string().optional(),
        }),
      )
      .openapi({ description: "Empty when valid; each with its position in the condition" }),
  })
  .openapi("ValidateResult");
