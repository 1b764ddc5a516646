import { Hono } from "hono";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ObserverRuntime } from "../runtime/types.ts";
import { type ApiEnv, createAuth } from "./auth.ts";
import { checkDeclaredLength } from "./body.ts";
import { errorResponse, problemResponse } from "./problem.ts";
import { deadLetterRoutes } from "./routes/dead-letters.ts";
import { observerRoutes } from "./routes/observers.ts";
import { healthHandler, runtimeRoutes } from "./routes/runtime.ts";

/** Options of `createObserversApi`. */
export interface ObserversApiOptions {
  sql: SqlClient;
  runtime: ObserverRuntime;
  /** `OBSERVERS_ADMIN_TOKEN`; null or absent when only stored API keys authenticate. */
  adminToken?: string | null;
  logger: Logger;
}

/**
 * The management API as a Hono app, runtime-agnostic: serve its `fetch` (Bun.serve, Deno.serve,
 * a Worker) or mount it in a host app with `app.route("/", createObserversApi(...))`.
 */
export function createObserversApi(options: ObserversApiOptions): Hono<ApiEnv> {
  const { sql, runtime, logger } = options;
  const deps = { sql, runtime, logger };
  const app = new Hono<ApiEnv>();

  app.onError((error, c) => errorResponse(error, logger, c.req.raw));
  app.notFound((c) =>
    problemResponse(404, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`),
  );
  app.use("*", async (c, next) => {
    checkDeclaredLength(c.req.raw);
    await next();
  });

  // Registered before the auth middleware, so probes need no token: Hono runs matching handlers
  // in registration order, and this one answers without calling next().
  app.get("/api/observers/runtime/health", healthHandler(runtime, logger));
  app.use("/api/*", createAuth({ sql, adminToken: options.adminToken ?? null }));

  // The literal paths (runtime/..., dlq/...) are registered before /:id so that they win.
  app.route("/api/observers", runtimeRoutes(deps));
  app.route("/api/observers/dlq", deadLetterRoutes(deps));
  app.route("/api/observers", observerRoutes(deps));
  return app;
}
