import { type Handler, Hono } from "hono";
import type { Logger } from "../../ports/logger.ts";
import type { ObserverRuntime } from "../../runtime/types.ts";
import type { ApiEnv } from "../auth.ts";
import { type ApiDependencies, json } from "../context.ts";
import { problemResponse } from "../problem.ts";

/**
 * `GET /api/observers/runtime/health`: the runtime's health, 200 when running and 503 otherwise,
 * so load balancers can use it as is. A health check that cannot be answered is a 503 too.
 */
export function healthHandler(runtime: ObserverRuntime, logger: Logger): Handler<ApiEnv> {
  return async () => {
    try {
      const health = await runtime.health();
      return json(health, health.running ? 200 : 503);
    } catch (error) {
      logger.log("warn", "health check failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      return problemResponse(503, "UNHEALTHY", "the runtime's health could not be read");
    }
  };
}

/** `POST /runtime/reload` (under `/api/observers`). */
export function runtimeRoutes(deps: ApiDependencies): Hono<ApiEnv> {
  return new Hono<ApiEnv>().post("/runtime/reload", async () => {
    const count = await deps.runtime.reload();
    return json({ message: `Reloaded: ${count} enabled observer(s)`, count });
  });
}
