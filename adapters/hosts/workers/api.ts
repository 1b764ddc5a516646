/**
 * The HTTP API on a Worker: the same Hono app as every host (`createObserversApi`), built once per
 * isolate (so its routes, OpenAPI document and failed-auth throttle persist across requests),
 * with a SQL client per request: each request's Hyperdrive client is opened on its first query
 * and closed after the response (`ctx.waitUntil`). The app reaches it through a SQL port that
 * looks up the current request's client (AsyncLocalStorage, from `nodejs_compat`), so concurrent
 * requests in one isolate never share a client.
 *
 * The runtime the API sees is a view: there is no long-running runtime on a Worker, only ticks.
 * `health` reads the backlog from the database and the last tick from the ticker; `wake` and
 * `reload` ask the ticker for a tick now.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ActionRegistry } from "../../../src/actions/types.ts";
import { createObserversApi } from "../../../src/api/app.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../../../src/ports/sql.ts";
import type { ObserverRuntime, RuntimeHealth } from "../../../src/runtime/types.ts";
import { readBacklog } from "../../../src/store/change-log.ts";
import { countUnhealthy } from "../../../src/store/destination-views.ts";
import type { WorkersConfig } from "./config.ts";
import { hyperdriveClient } from "./database.ts";
import { hubRevoke, hubUpgrade } from "./live-upgrade.ts";
import type { SchemaStatus } from "./schema.ts";
import { countingFetch, workersEnvironment } from "./services.ts";
import { lastTick, scheduleTick } from "./ticker.ts";
import type { DurableObjectNamespace, ExecutionContext, Hyperdrive } from "./types.ts";

/** The bindings the API uses. */
export interface ApiBindings {
  HYPERDRIVE: Hyperdrive;
  /** The Worker's env: `cloudflare-queues` jobs find their queue binding there by name. */
  QUEUES?: Readonly<Record<string, unknown>>;
  /** Optional: without it `WS /api/observers/ws` is a 404. */
  LIVE_HUB?: DurableObjectNamespace;
  /** Optional: without it `wake`/`reload` leave the work to the next cron tick. */
  TICKER?: DurableObjectNamespace;
}

interface RequestScope {
  client: SqlClient | null;
  ctx: ExecutionContext;
}

export interface WorkersApiOptions {
  config: WorkersConfig;
  vars: Readonly<Record<string, string>>;
  logger: Logger;
  checkSchema: (sql: SqlExecutor) => Promise<SchemaStatus>;
  /** The built-in actions plus the host's own (`actionRegistry(options.actions)`). */
  registry?: ActionRegistry;
  /** The host's own action types, named to the ticker when asking for a tick (ticker.ts). */
  customActionTypes?: readonly string[];
  /** Also serve the OpenAPI document, docs and console at the root (the project's own Worker). */
  rootDocs?: boolean;
}

/** The API's handler: `fetch(request, ctx)`. */
export interface WorkersApi {
  fetch(request: Request, ctx: ExecutionContext): Promise<Response>;
}

/** Builds the API once for an isolate's bindings. */
export function createWorkersApi(bindings: ApiBindings, options: WorkersApiOptions): WorkersApi {
  const { config, logger } = options;
  const scopes = new AsyncLocalStorage<RequestScope>();

  function current(): RequestScope {
    const scope = scopes.getStore();
    if (!scope) throw new Error("SQL used outside a request");
    return scope;
  }
  function client(): SqlClient {
    const scope = current();
    scope.client ??= hyperdriveClient(bindings.HYPERDRIVE);
    return scope.client;
  }
  /** The request's client, opened on first use. */
  const sql: SqlClient = {
    query: (text, params) => client().query(text, params),
    transaction: (fn) => client().transaction(fn),
    close: async () => {},
  };

  function requestTick(): void {
    if (!bindings.TICKER) return;
    const ticker = bindings.TICKER;
    current().ctx.waitUntil(
      scheduleTick(ticker, options.customActionTypes).catch((error: unknown) =>
        logger.log("warn", "could not schedule a tick", {
          error: error instanceof Error ? error.message : String(error),
        }),
      ),
    );
  }

  const runtime: ObserverRuntime = {
    start: async () => {},
    stop: async () => {},
    wake: requestTick,
    async reload() {
      const rows = await sql.query<{ count: string }>(
        "SELECT count(*)::text AS count FROM core.tb_observer WHERE deleted_at IS NULL AND enabled",
      );
      requestTick();
      return Number(rows[0]?.count ?? 0);
    },
    async health(): Promise<RuntimeHealth> {
      const [schema, backlog, destinations, observers, last] = await Promise.all([
        options.checkSchema(sql),
        readBacklog(sql, config.server.listenerId),
        countUnhealthy(sql),
        sql.query<{ count: string }>(
          "SELECT count(*)::text AS count FROM core.tb_observer WHERE deleted_at IS NULL AND enabled",
        ),
        bindings.TICKER ? lastTick(bindings.TICKER).catch(() => null) : Promise.resolve(null),
      ]);
      if (!schema.current) logger.log("error", "schema check failed", { problem: schema.problem });
      return {
        // Ticks run (cron every minute) when the schema is this release's.
        running: schema.current,
        observer_count: Number(observers[0]?.count ?? 0),
        last_checkpoint: backlog.lastChangeLogId === null ? null : Number(backlog.lastChangeLogId),
        // A Worker has no long-lived process: these are the last tick's.
        events_processed: last?.eventsProcessed ?? 0,
        errors: last?.errors ?? 0,
        lag: {
          pending_changes: backlog.pending,
          due_deliveries: backlog.due,
          oldest_pending_ms: backlog.oldestMs,
        },
        // A Worker always reads the change log itself (NATS mode is refused, config.ts).
        transport: { transport: "postgres", role: "all", healthy: true, reason: null },
        destinations,
      };
    },
  };

  const outbound = countingFetch();
  const app = createObserversApi({
    sql,
    runtime,
    adminToken: config.server.adminToken,
    logger,
    // `POST /api/observers/{id}/test` with `send: true`.
    environment: workersEnvironment({
      config,
      vars: options.vars,
      logger,
      fetch: outbound.fetch,
      sql,
      ...(bindings.QUEUES ? { queues: bindings.QUEUES } : {}),
    }),
    clientAddress: (c) => c.req.header("cf-connecting-ip"),
    limits: config.server.apiLimits,
    ...(options.registry ? { registry: options.registry } : {}),
    // `/openapi.json` and `/docs` at the root: the project's own Worker only (mounted: off).
    rootDocs: options.rootDocs === true,
    // Counters are this isolate's (partial); the database's gauges are exact (docs/metrics.md).
    metrics: { public: config.server.metricsPublic, listenerId: config.server.listenerId },
    ...(bindings.LIVE_HUB
      ? { live: hubUpgrade(bindings.LIVE_HUB), onKeyRevoked: hubRevoke(bindings.LIVE_HUB) }
      : {}),
  });

  return {
    fetch(request, ctx) {
      const scope: RequestScope = { client: null, ctx };
      return scopes.run(scope, async () => {
        try {
          return await app.fetch(request);
        } finally {
          const opened = scope.client;
          if (opened) ctx.waitUntil(opened.close().catch(() => {}));
        }
      });
    },
  };
}
