import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { LiveSubscription } from "../../live/subscription.ts";
import { parseSubscription } from "../../live/subscription.ts";
import { type ApiEnv, type Principal, tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import { problems } from "../schemas/common.ts";

/**
 * Upgrades an authenticated, checked subscription to a WebSocket: the host's part (Bun's
 * `server.upgrade`, a Worker's Durable Object). Returns the upgrade response.
 */
export type LiveUpgrade = (
  c: Context<ApiEnv>,
  subscription: LiveSubscription,
  principal: Principal,
) => Response | Promise<Response>;

const ws = createRoute({
  method: "get",
  path: "/ws",
  tags: ["Live notifications"],
  summary: "Live notifications (WebSocket)",
  description: `Upgrade to a WebSocket that receives JSON messages: \`change\` (a captured change: event_id, entity_type, entity_id, event_type, fk_customer_org, created_at, and with \`payload=full\` before/after) and \`execution\` (an attempt of an action: observer, delivery, status, attempt, duration), each with an opaque, increasing \`cursor\`, and \`ready\` (with the cursor) once the socket is live. Reconnect with \`since=<cursor>\` to receive what was missed first, then live messages, without a gap or a duplicate. A tenant-bound key only ever receives its tenant's changes and its tenant's observers' executions (not global observers'). A socket whose key is revoked is closed with code 1008. A client that falls too far behind is closed with code 1013. Send \`{"type":"ping"}\` to get \`{"type":"pong"}\`. Browsers may pass the token as \`?token=\`.`,
  request: {
    query: z.object({
      entity_type: z.string().optional(),
      event_type: z
        .string()
        .optional()
        .openapi({ enum: ["INSERT", "UPDATE", "DELETE", "CUSTOM"] }),
      observer_id: z.string().optional().openapi({
        format: "uuid",
        description: "Its executions, and changes of its entity and event type",
      }),
      payload: z
        .string()
        .optional()
        .openapi({ enum: ["meta", "full"], default: "meta" }),
      since: z.string().optional().openapi({ description: "A cursor from an earlier message" }),
      token: z.string().optional().openapi({ description: "The bearer token, for browsers" }),
    }),
  },
  responses: {
    101: { description: "Switching protocols: the WebSocket is open" },
    ...problems({ extra: [426] }),
  },
});

/** `GET /api/observers/ws`, when the host can hold WebSockets (`live`). */
export function liveRoutes(deps: ApiDependencies, live: LiveUpgrade | undefined) {
  return router().openapi(ws, async (c) => {
    if (!live)
      throw new HttpProblem(404, "NOT_FOUND", "this server does not offer live notifications");
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpProblem(426, "UPGRADE_REQUIRED", "connect with a WebSocket client", {
        upgrade: "websocket",
      });
    }
    const principal = c.var.principal;
    const subscription = await parseSubscription(deps.sql, c.req.query(), tenantOf(principal));
    return (await live(c, subscription, principal)) as never;
  });
}
