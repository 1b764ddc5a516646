import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common.ts";

/** A NATS message no worker could decode (core.tb_nats_dead_letter). */
export const NatsDeadLetterSchema = z
  .object({
    id: z.string().openapi({ description: "The row's id" }),
    stream: z.string(),
    stream_sequence: z.number().int().nullable(),
    subject: z.string(),
    headers: z.record(z.string(), z.array(z.string())),
    payload_base64: z.string().openapi({ description: "The raw payload, base64" }),
    payload_bytes: z.number().int(),
    error: z.string().openapi({ description: "Why it could not be decoded" }),
    created_at: Timestamp,
  })
  .openapi("NatsDeadLetter");
