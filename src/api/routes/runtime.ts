import { createRoute, z } from "@hono/zod-openapi";
import type { Logger } from "../../ports/logger.ts";
import type { ObserverRuntime } from "../../runtime/types.ts";
import type { LocalSourceStatus } from "../../sources/supervisor.ts";
import { type ApiDependencies, router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import { jsonResponse, ProblemSchema, problems } from "../schemas/common.ts";

const tags = ["Runtime"];

const HealthSchema = z
  .object({
    running: z.boolean(),
    observer_count: z.number().int().openapi({
      description: "Enabled observers loaded: those matching changes and the SCHEDULE ones",
    }),
    last_checkpoint: z.number().int().nullable(),
    events_processed: z.number().int(),
    errors: z.number().int(),
    lag: z.object({
      pending_changes: z.number().int(),
      due_deliveries: z.number().int(),
      oldest_pending_ms: z.number().int(),
    }),
    transport: z
      .object({
        transport: z.enum(["postgres", "nats"]),
        role: z.enum(["all", "bridge", "worker"]),
        healthy: z.boolean(),
        reason: z.string().nullable(),
        connection: z.enum(["connected", "reconnecting", "disconnected", "closed"]).optional(),
        stream: z
          .object({
            name: z.string(),
            messages: z.number().int(),
            first_sequence: z.number().int(),
            last_sequence: z.number().int(),
          })
          .optional(),
        consumer: z
          .object({
            name: z.string(),
            num_pending: z.number().int(),
            num_ack_pending: z.number().int(),
            num_redelivered: z.number().int(),
          })
          .optional(),
        bridge: z
          .object({
            leader: z.boolean(),
            published: z.number().int(),
            cursor: z.string().nullable(),
          })
          .optional(),
        dead_letters: z.number().int().optional().openapi({
          description:
            "NATS mode: undecodable messages kept with their raw payload (core.tb_nats_dead_letter)",
        }),
      })
      .optional()
      .openapi({ description: "NATS mode only: the broker, the stream's and the consumer's lag" }),
    destinations: z
      .object({ open: z.number().int(), disabled: z.number().int() })
      .optional()
      .openapi({
        description:
          "Destinations whose circuit is open, and those disabled (deliveries held until reset): GET /api/observers/destinations names them",
      }),
    sources: z
      .array(
        z.object({
          id: z.string(),
          name: z.string(),
          kind: z.string(),
          connected: z.boolean(),
          lag_ms: z.number().int().nullable(),
          last_error_code: z.string().nullable().openapi({
            description: "The message is in GET /api/sources/{id} (this route needs no token)",
          }),
          changes: z.number().int(),
        }),
      )
      .optional()
      .openapi({
        description:
          "Servers running sources: those this process reads now (its lease), with their state; a failing source does not make the health 503 (GET /api/sources shows every source)",
      }),
  })
  .openapi("RuntimeHealth");

const health = createRoute({
  method: "get",
  path: "/runtime/health",
  tags,
  summary: "Runtime health (no token needed)",
  description: "200 when running, 503 otherwise, so load balancers can use it as is.",
  security: [],
  responses: {
    200: jsonResponse(HealthSchema, "Running"),
    503: {
      description: "Not running, or the health could not be read",
      content: {
        "application/json": { schema: HealthSchema },
        "application/problem+json": { schema: ProblemSchema },
      },
    },
  },
});

const reload = createRoute({
  method: "post",
  path: "/runtime/reload",
  tags,
  summary: "Reload observers now",
  responses: {
    200: jsonResponse(
      z.object({ message: z.string(), count: z.number().int() }).openapi("ReloadResult"),
      "Reloaded",
    ),
    ...problems({ write: true }),
  },
});

/** A source in the health: no message (it may name hosts; the route needs no token). */
function sourceHealth(status: LocalSourceStatus) {
  return {
    id: status.id,
    name: status.name,
    kind: status.kind,
    connected: status.connected,
    lag_ms: status.lag_ms === null ? null : Math.round(status.lag_ms),
    last_error_code: status.last_error?.code ?? null,
    changes: status.changes,
  };
}

/**
 * `GET /runtime/health` (under `/api/observers`): registered before the auth middleware, so
 * probes need no token. A health check that cannot be answered is a 503 too.
 */
export function healthRoutes(
  runtime: ObserverRuntime,
  logger: Logger,
  sources?: () => readonly LocalSourceStatus[],
) {
  return router().openapi(health, async (c) => {
    try {
      const state = {
        ...(await runtime.health()),
        ...(sources ? { sources: sources().map(sourceHealth) } : {}),
      };
      // NATS mode: a broker that cannot be reached is a 503 with the reason (state.transport).
      const healthy = state.running && state.transport?.healthy !== false;
      return healthy ? c.json(state, 200) : c.json(state, 503);
    } catch (error) {
      logger.log("warn", "health check failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      throw new HttpProblem(503, "UNHEALTHY", "the runtime's health could not be read");
    }
  });
}

/** `POST /runtime/reload` (under `/api/observers`). */
export function runtimeRoutes(deps: ApiDependencies) {
  return router().openapi(reload, async (c) => {
    const count = await deps.runtime.reload();
    return c.json({ message: `Reloaded: ${count} enabled observer(s)`, count }, 200);
  });
}
