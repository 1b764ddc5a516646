import { z } from "@hono/zod-openapi";
import { parseInstant } from "../../actions/timing.ts";

/** How far ahead a one-off event may be scheduled: 366 days. */
export const MAX_ONE_OFF_AHEAD_MS = 366 * 24 * 60 * 60_000;
/** How far in the past `run_at` may be (it then runs at once): 1 day. */
export const MAX_ONE_OFF_BEHIND_MS = 24 * 60 * 60_000;
/** Largest `payload`, as JSON text: 64 KiB. */
export const MAX_ONE_OFF_PAYLOAD_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/** The body of `POST /api/observers/{id}/schedule` (Hasura's one-off scheduled triggers). */
export const OneOffBodySchema = z
  .object({
    run_at: z
      .string()
      .superRefine((text, context) => {
        const at = parseInstant(text);
        if (at === undefined) {
          context.addIssue({
            code: "custom",
            message: "must be an instant (RFC 3339, such as 2030-01-01T09:00:00Z)",
          });
        } else if (at > Date.now() + MAX_ONE_OFF_AHEAD_MS) {
          context.addIssue({ code: "custom", message: "must be at most 366 days ahead" });
        } else if (at < Date.now() - MAX_ONE_OFF_BEHIND_MS) {
          context.addIssue({ code: "custom", message: "must be at most 1 day in the past" });
        }
      })
      .openapi({
        description:
          "When the observer's actions run (RFC 3339; without an offset, UTC). At most 366 days ahead; a past instant (up to a day) runs at once.",
        example: "2030-01-01T09:00:00Z",
      }),
    payload: z
      .unknown()
      .optional()
      .superRefine((value, context) => {
        const text = JSON.stringify(value ?? null);
        if (encoder.encode(text).length > MAX_ONE_OFF_PAYLOAD_BYTES) {
          context.addIssue({
            code: "custom",
            message: `must be at most ${MAX_ONE_OFF_PAYLOAD_BYTES} bytes as JSON`,
          });
        }
      })
      .openapi({
        description:
          "Any JSON (at most 64 KiB), handed to the actions as `after.payload` of a SCHEDULE event",
        example: { reminder: "renew the certificate" },
      }),
  })
  .strict()
  .openapi("OneOffEventInput");

/** A scheduled one-off event. */
export const OneOffEventSchema = z
  .object({
    id: z.string().openapi({ format: "uuid", description: "The event's id (its event_id)" }),
    observer_id: z.string().openapi({ format: "uuid" }),
    run_at: z.string().openapi({ format: "date-time" }),
    payload: z.unknown(),
    deliveries: z.number().int().openapi({ description: "One per action of the observer" }),
    created_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("OneOffEvent");
