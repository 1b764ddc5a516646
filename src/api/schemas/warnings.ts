import { z } from "@hono/zod-openapi";
import { ObserverSchema } from "./observers.ts";

/** One thing a saved observer will run into (src/api/observer-warnings.ts). */
export const ObserverWarningSchema = z
  .object({
    code: z
      .enum([
        "TARGET_FORBIDDEN",
        "INVALID_URL",
        "MISSING_SECRET",
        "ENTITY_TYPE_UNTRACKED",
        "GRAPHILE_WORKER_MISSING",
      ])
      .openapi({
        description: "The failure it predicts",
      }),
    path: z.string().openapi({ example: "actions.0.url" }),
    message: z.string(),
  })
  .openapi("ObserverWarning");

/** What creating or updating an observer answers: the observer and what it will run into. */
export const ObserverSavedSchema = ObserverSchema.extend({
  warnings: z.array(ObserverWarningSchema).openapi({
    description:
      "What this observer will run into as the server stands: a target the server refuses (private, loopback or metadata address while OBSERVERS_ALLOW_PRIVATE_TARGETS is off), a `*_env` variable that is not set, a URL variable whose value is no http(s) URL or embeds credentials, an entity type no tracked table or recent change carries, a `graphile-worker` job action while graphile-worker's schema is missing. The observer is saved anyway; empty when nothing was found. Host names are not resolved here, so a public name pointing at a private address is caught only when sending.",
  }),
}).openapi("ObserverSaved");
