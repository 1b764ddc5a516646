import { swaggerUI } from "@hono/swagger-ui";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { type ActionPolicy, DEFAULT_ACTION_POLICY } from "../actions/policy.ts";
import type { ActionEnvironment, ActionRegistry } from "../actions/types.ts";
import type { TrustedProxies } from "../net/client-address.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ObserverRuntime } from "../runtime/types.ts";
import { type ApiEnv, type ClientAddress, createAuth } from "./auth.ts";
import type { AuthThrottle } from "./auth-throttle.ts";
import { bodyGuard } from "./body-guard.ts";
import { router } from "./context.ts";
import { type ApiLimits, DEFAULT_API_LIMITS, MAX_BODY_BYTES } from "./limits.ts";
import { openApiDocument } from "./openapi.ts";
import { errorResponse, HttpProblem, problemResponse } from "./problem.ts";
import { activityRoutes } from "./routes/activity.ts";
import { deadLetterRoutes } from "./routes/dead-letters.ts";
import { inspectRoutes } from "./routes/inspect.ts";
import { type KeyRevoked, keyRoutes } from "./routes/keys.ts";
import { type LiveUpgrade, liveRoutes } from "./routes/live.ts";
import { observerRoutes } from "./routes/observers.ts";
import { healthRoutes, runtimeRoutes } from "./routes/runtime.ts";

/** Options of `createObserversApi`. */
export interface ObserversApiOptions {
  sql: SqlClient;
  runtime: ObserverRuntime;
  /** `OBSERVERS_ADMIN_TOKEN`; null or absent when only stored API keys authenticate. */
  adminToken?: string | null;
  logger: Logger;
  /** What actions get when `POST /api/observers/{id}/test` is asked to send. */
  environment?: ActionEnvironment;
  registry?: ActionRegistry;
  /**
   * What observers written through the API may reference and configure. Default: the
   * environment's (the same rules the runtime enforces), else `DEFAULT_ACTION_POLICY`.
   */
  policy?: ActionPolicy;
  /**
   * The client's address, so repeated authentication failures are counted per client. Adapters
   * pass their host's (Bun's `requestIP`, Workers' `cf-connecting-ip`); without it, all clients
   * count as one.
   */
  clientAddress?: ClientAddress;
  /**
   * Proxies whose forwarding header names the client (`OBSERVERS_TRUSTED_PROXIES`): only then is a
   * header read for the client's address. Absent: the host's peer address, headers ignored.
   */
  trustedProxies?: TrustedProxies | null;
  /** Replaces the default failure throttle (10 free failures, then 1 s doubling to 15 min). */
  authThrottle?: AuthThrottle;
  /** The host's WebSocket upgrade for `GET /api/observers/ws`; without it, that route is a 404. */
  live?: LiveUpgrade;
  /** What the API refuses beyond (default `DEFAULT_API_LIMITS`; docs/security.md). */
  limits?: Partial<ApiLimits>;
  /** Hears of each key `DELETE /api/keys/{id}` revokes: the host's live hub closes its sockets. */
  onKeyRevoked?: KeyRevoked;
  /**
   * Also serve `/openapi.json` and `/docs` at the root (default false): the ready servers set it,
   * a mounted plugin does not. Declared here for the host factories; the mount work (scoped docs
   * under /api/observers) gives it its effect, until then the root docs are always served.
   */
  rootDocs?: boolean;
}

/**
 * The management API as a Hono app, runtime-agnostic: serve its `fetch` (Bun.serve, Deno.serve,
 * a Worker) or mount it in a host app with `app.route("/", createObserversApi(...))`. Its OpenAPI
 * 3.1 document is at `/openapi.json`, interactive docs at `/docs`.
 */
export function createObserversApi(options: ObserversApiOptions) {
  const { sql, runtime, logger } = options;
  const deps = {
    sql,
    runtime,
    logger,
    environment: options.environment,
    registry: options.registry,
    policy: options.policy ?? options.environment?.policy ?? DEFAULT_ACTION_POLICY,
    limits: { ...DEFAULT_API_LIMITS, ...options.limits },
  };
  const app = router();

  app.onError((error, c) => errorResponse(error, logger, c.req.raw));
  app.notFound((c) =>
    problemResponse(404, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`),
  );
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new HttpProblem(
          413,
          "PAYLOAD_TOO_LARGE",
          `request bodies are limited to ${MAX_BODY_BYTES} bytes`,
        );
      },
    }),
  );

  // Before the auth middleware, so probes and readers of the docs need no token: Hono runs
  // matching handlers in registration order, and these answer without calling next().
  const open = app.route("/api/observers", healthRoutes(runtime, logger));
  open.get("/openapi.json", (c) => c.json(openApiDocument(app)));
  open.get("/docs", swaggerUI({ url: "/openapi.json", title: "fraiseql-observers API" }));

  app.use(
    "/api/*",
    createAuth({
      sql,
      adminToken: options.adminToken ?? null,
      clientAddress: options.clientAddress,
      trustedProxies: options.trustedProxies ?? undefined,
      ...(options.authThrottle ? { throttle: options.authThrottle } : {}),
    }),
  );
  // Input every schema accepts but PostgreSQL or a response could not hold: a 400, not a 500.
  app.use("/api/*", bodyGuard);

  // Literal paths (runtime/..., dlq/..., stats, logs, events/...) are registered before /{id}:
  // the first match answers, so dlq/stats must come before {id}/stats.
  return open
    .route("/api/observers", runtimeRoutes(deps))
    .route("/api/observers", liveRoutes(deps, options.live))
    .route("/api/observers/dlq", deadLetterRoutes(deps))
    .route("/api/observers", activityRoutes(deps))
    .route("/api/observers", inspectRoutes(deps))
    .route("/api/observers", observerRoutes(deps))
    .route("/api/keys", keyRoutes(deps, options.onKeyRevoked));
}

/** The API's type, for Hono's RPC client: `hc<ObserversApi>(baseUrl, { headers })`. */
export type ObserversApi = ReturnType<typeof createObserversApi>;

/** Any OpenAPIHono app of this API (for the document builder). */
export type ApiApp = OpenAPIHono<ApiEnv>;
