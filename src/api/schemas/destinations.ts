import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common.ts";

/** A destination's shared health (docs/delivery.md): its circuit, failures and disablement. */
export const DestinationSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    destination: z.string().openapi({
      description:
        "`<action type>:<origin>`, as the per-destination limit keys it; never credentials",
      example: "webhook:https://hooks.example.com",
    }),
    state: z.enum(["closed", "open"]).openapi({
      description:
        "closed: deliveries run; open: they wait (no attempt spent) while one probe at a time tests the destination",
    }),
    consecutive_failures: z.number().int(),
    opened_at: Timestamp.nullable(),
    next_probe_at: Timestamp.nullable(),
    probing: z.boolean().openapi({ description: "A probe is running now (on some server)" }),
    failing_since: Timestamp.nullable(),
    last_error_code: z.string().nullable(),
    last_http_status: z.number().int().nullable(),
    disabled: z.boolean().openapi({
      description:
        "Failing for longer than OBSERVERS_DESTINATION_DISABLE_AFTER_MS: its deliveries are held (not dead-lettered) until reset",
    }),
    disabled_at: Timestamp.nullable(),
    disabled_reason: z.string().nullable(),
  })
  .openapi("Destination");
