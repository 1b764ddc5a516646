import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { type ActionPolicy, DEFAULT_ACTION_POLICY } from "../actions/policy.ts";
import type { ActionEnvironment, ActionRegistry } from "../actions/types.ts";
import { destinationSource } from "../metrics/destinations.ts";
import { databaseSource, processSource } from "../metrics/scrape.ts";
import type { TrustedProxies } from "../net/client-address.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import type { ObserverRuntime } from "../runtime/types.ts";
import { type ApiEnv, type ClientAddress, createAuth } from "./auth.ts";
import type { AuthThrottle } from "./auth-throttle.ts";
import { bodyGuard } from "./body-guard.ts";
import { CONSOLE_PATH, consoleAsset, consolePageHandler, ROOT_CONSOLE_PATH } from "./console.ts";
import { router } from "./context.ts";
import {
  DOCS_PATH,
  DOCUMENT_PATH,
  docsAsset,
  docsPageHandler,
  ROOT_DOCS_PATH,
  ROOT_DOCUMENT_PATH,
  servedDocument,
} from "./docs.ts";
import { type ApiLimits, DEFAULT_API_LIMITS, MAX_BODY_BYTES } from "./limits.ts";
import { openApiDocument } from "./openapi.ts";
import { OWN_PATHS } from "./own-paths.ts";
import { errorResponse, HttpProblem, problemResponse } from "./problem.ts";
import { activityRoutes } from "./routes/activity.ts";
import { changeRoutes } from "./routes/changes.ts";
import { deadLetterRoutes } from "./routes/dead-letters.ts";
import { deliveryControlRoutes } from "./routes/delivery-control.ts";
import { destinationRoutes } from "./routes/destinations.ts";
import { inspectRoutes } from "./routes/inspect.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { type KeyRevoked, keyRoutes } from "./routes/keys.ts";
import { type LiveUpgrade, liveRoutes } from "./routes/live.ts";
import {
  type MetricsApiOptions,
  metricsRoutes,
  ROOT_METRICS_PATH,
  scrape,
} from "./routes/metrics.ts";
import { natsRoutes } from "./routes/nats.ts";
import { observerRoutes } from "./routes/observers.ts";
import { healthRoutes, runtimeRoutes } from "./routes/runtime.ts";
import { type SourcesApiOptions, sourceRoutes } from "./routes/sources.ts";

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
   * Also serve the OpenAPI document at `/openapi.json`, the docs at `/docs`, the console at
   * `/console` and the metrics at `/metrics` (default false): for a server that owns its root (the
   * ready servers). A plugin mounted in a host app leaves those paths to the host; its docs are at
   * `/api/observers/docs`, its console at `/api/observers/console` and its metrics at
   * `/api/observers/metrics` either way.
   */
  rootDocs?: boolean;
  /** `GET /api/observers/metrics` (and with `rootDocs`, `/metrics`): docs/metrics.md. */
  metrics?: MetricsApiOptions;
  /**
   * The host runs sources (Bun and Deno servers): `/api/sources` manages them and the health
   * shows this process's. Absent (the Worker), `/api/sources` answers 501.
   */
  sources?: SourcesApiOptions;
}

/**
 * The management API as a Hono app, runtime-agnostic: serve its `fetch` (Bun.serve, Deno.serve,
 * a Worker) or mount it in a host app with `host.route("/", api)` or `host.route("/prefix", api)`.
 * Its OpenAPI 3.1 document is at `/api/observers/openapi.json`, interactive docs at
 * `/api/observers/docs` (with `rootDocs`, also `/openapi.json` and `/docs`); see docs.ts.
 *
 * A good guest: Hono's `route()` copies a sub-app's handlers and middleware into the host under
 * the prefix, wraps each of them in the sub-app's error handler, and drops its not-found handler.
 * So every middleware here is registered on the API's own paths only (`OWN_PATHS`), errors thrown
 * by its handlers become problem documents through `onError` (mounted or not), and a catch-all at
 * the end answers the 404 problem document for unknown paths of its own, while the host's routes,
 * not-found and error handlers stay the host's.
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
  const notFound = (c: Context) =>
    problemResponse(404, "NOT_FOUND", `no route for ${c.req.method} ${quoted(c.req.path)}`);

  app.onError((error, c) => errorResponse(error, logger, c.req.raw));
  // Standalone only: a host's route() keeps the host's not-found (own paths: the catch-all below).
  app.notFound(notFound);
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new HttpProblem(
        413,
        "PAYLOAD_TOO_LARGE",
        `request bodies are limited to ${MAX_BODY_BYTES} bytes`,
      );
    },
  });
  for (const path of OWN_PATHS) app.use(path, limit);

  // Before the auth middleware, so probes and readers of the docs need no token: Hono runs
  // matching handlers in registration order, and these answer without calling next().
  const open = app.route("/api/observers", healthRoutes(runtime, logger, options.sources?.status));
  open.get(DOCUMENT_PATH, (c) => c.json(servedDocument(openApiDocument(app), DOCUMENT_PATH)));
  open.get(DOCS_PATH, docsPageHandler(DOCS_PATH));
  open.get(`${DOCS_PATH}/`, docsPageHandler(DOCS_PATH));
  open.get(`${DOCS_PATH}/:file`, docsAsset);
  open.get(CONSOLE_PATH, consolePageHandler(CONSOLE_PATH));
  open.get(`${CONSOLE_PATH}/`, consolePageHandler(CONSOLE_PATH));
  open.get(`${CONSOLE_PATH}/:file`, consoleAsset);
  if (options.rootDocs) {
    open.get(ROOT_DOCUMENT_PATH, (c) =>
      c.json(servedDocument(openApiDocument(app), ROOT_DOCUMENT_PATH)),
    );
    open.get(ROOT_DOCS_PATH, docsPageHandler(ROOT_DOCS_PATH));
    open.get(`${ROOT_DOCS_PATH}/`, docsPageHandler(ROOT_DOCS_PATH));
    open.get(ROOT_CONSOLE_PATH, consolePageHandler(ROOT_CONSOLE_PATH));
    open.get(`${ROOT_CONSOLE_PATH}/`, consolePageHandler(ROOT_CONSOLE_PATH));
  }

  // Metrics: the database's gauges (on the API's connections, bounded), then the host's.
  const metricsOptions = options.metrics ?? {};
  const metricsPublic = metricsOptions.public ?? false;
  const scrapeSources = [
    processSource,
    databaseSource(
      sql,
      metricsOptions.listenerId ?? "default",
      metricsOptions.gaugeTimeoutMs,
      (error) =>
        logger.log("warn", "metrics: the database gauges could not be read", {
          error: error instanceof Error ? error.message : String(error),
        }),
    ),
    destinationSource(sql),
    ...(metricsOptions.sources ?? []),
  ];
  const scrapeRoot = (c: Context<ApiEnv>) => scrape(c, scrapeSources, metricsPublic);
  if (metricsPublic) {
    open.route("/api/observers", metricsRoutes(scrapeSources, true));
    if (options.rootDocs) open.get(ROOT_METRICS_PATH, scrapeRoot);
  }

  const auth = createAuth({
    sql,
    adminToken: options.adminToken ?? null,
    clientAddress: options.clientAddress,
    trustedProxies: options.trustedProxies ?? undefined,
    ...(options.authThrottle ? { throttle: options.authThrottle } : {}),
  });
  if (options.rootDocs && !metricsPublic) {
    app.use(ROOT_METRICS_PATH, auth);
    app.get(ROOT_METRICS_PATH, scrapeRoot);
  }
  for (const path of OWN_PATHS) {
    app.use(path, auth);
    // Input every schema accepts but PostgreSQL or a response could not hold: a 400, not a 500.
    app.use(path, bodyGuard);
  }

  // Literal paths (runtime/..., dlq/..., stats, logs, events/...) are registered before /{id}:
  // the first match answers, so dlq/stats must come before {id}/stats.
  const api = open
    .route("/api/observers", runtimeRoutes(deps))
    // Public metrics were registered before the auth middleware, on `open`.
    .route(
      "/api/observers",
      metricsPublic
        ? (router() as ReturnType<typeof metricsRoutes>)
        : metricsRoutes(scrapeSources, false),
    )
    .route("/api/observers", liveRoutes(deps, options.live))
    .route("/api/observers/dlq", deadLetterRoutes(deps))
    .route("/api/observers", activityRoutes(deps))
    .route("/api/observers", inspectRoutes(deps))
    .route("/api/observers", deliveryControlRoutes(deps))
    .route("/api/observers", changeRoutes(deps))
    .route("/api/observers", natsRoutes(deps))
    .route("/api/observers", destinationRoutes(deps))
    .route("/api/observers", observerRoutes(deps))
    .route("/api/keys", keyRoutes(deps, options.onKeyRevoked))
    .route("/api/jobs", jobRoutes(deps))
    .route("/api/sources", sourceRoutes(deps, options.sources));
  // Last, so it answers only what no route above did: unknown paths of the API's own, also when
  // mounted (after authentication, as before: an unauthenticated caller learns no route names).
  for (const path of OWN_PATHS) app.all(path, notFound);
  return api;
}

/** The API's type, for Hono's RPC client: `hc<ObserversApi>(baseUrl, { headers })`. */
export type ObserversApi = ReturnType<typeof createObserversApi>;

/** Any OpenAPIHono app of this API (for the document builder). */
export type ApiApp = OpenAPIHono<ApiEnv>;
