/**
 * The Cloudflare Worker (`main` of wrangler.toml):
 * - `fetch`: the management API (api.ts), with `WS /api/observers/ws` handed to the live hubs;
 * - `scheduled` (cron, every minute): one tick of the observer runtime over Hyperdrive (tick.ts),
 *   plus the retention sweep at the top of each hour; it reports to the ticker, which chains
 *   sooner ticks while work is left;
 * - `LiveHubObject`: the live WebSocket hub, a Durable Object per tenant (live-hub.ts);
 * - `TickerObject`: the ticker, a Durable Object whose alarm runs those extra ticks (ticker.ts).
 *
 * Configuration: `[vars]` and `wrangler secret put` (config.ts); the database is the `HYPERDRIVE`
 * binding. A bad configuration answers 503 on every request and skips ticks, naming the variables
 * in the log.
 */
import { problemResponse } from "../../../src/api/problem.ts";
import { ConfigError } from "../../../src/errors.ts";
import { createConsoleLogger, type Logger } from "../../../src/ports/logger.ts";
import { createWorkersApi, type WorkersApi } from "./api.ts";
import { stringVars, type WorkersConfig, workersConfig } from "./config.ts";
import { hyperdriveClient } from "./database.ts";
import { LiveHub } from "./live-hub.ts";
import { cachedSchemaCheck } from "./schema.ts";
import { runTick, type TickResult } from "./tick.ts";
import { reportTick, Ticker } from "./ticker.ts";
import type {
  DurableObjectNamespace,
  DurableObjectState,
  ExecutionContext,
  Hyperdrive,
  ScheduledController,
} from "./types.ts";

/** The Worker's bindings (wrangler.toml) and its vars and secrets. */
export interface WorkerEnv {
  HYPERDRIVE: Hyperdrive;
  LIVE_HUB: DurableObjectNamespace;
  TICKER: DurableObjectNamespace;
  [name: string]: unknown;
}

/** What an isolate builds once from its env. */
interface Isolate {
  config: WorkersConfig;
  vars: Record<string, string>;
  logger: Logger;
  api: WorkersApi;
  checkSchema: ReturnType<typeof cachedSchemaCheck>;
}

let isolate: Isolate | ConfigError | undefined;

function setUp(env: WorkerEnv): Isolate | ConfigError {
  if (isolate) return isolate;
  const vars = stringVars(env);
  try {
    const config = workersConfig(env);
    const logger = createConsoleLogger(config.server.logLevel);
    if (config.ignored.length > 0) {
      logger.log("warn", "ignored on Workers", { variables: config.ignored });
    }
    if (config.server.adminToken === null) {
      logger.log(
        "warn",
        "OBSERVERS_ADMIN_TOKEN is not set: only stored API keys authenticate (wrangler secret put OBSERVERS_ADMIN_TOKEN)",
      );
    }
    const checkSchema = cachedSchemaCheck();
    const api = createWorkersApi(env, { config, vars, logger, checkSchema });
    isolate = { config, vars, logger, api, checkSchema };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createConsoleLogger("error").log("error", "invalid configuration", {
      issues: error.issues.map((issue) => `${issue.path}: ${issue.message}`),
    });
    isolate = error;
  }
  return isolate;
}

function tick(env: WorkerEnv, setup: Isolate, retention: boolean): Promise<TickResult> {
  return runTick(env, {
    config: setup.config,
    vars: setup.vars,
    logger: setup.logger,
    retention,
    checkSchema: setup.checkSchema,
  });
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    const setup = setUp(env);
    if (setup instanceof ConfigError) {
      return problemResponse(
        503,
        "UNHEALTHY",
        "the Worker's configuration is invalid: see its log",
      );
    }
    return setup.api.fetch(request, ctx);
  },

  async scheduled(
    controller: ScheduledController,
    env: WorkerEnv,
    _ctx: ExecutionContext,
  ): Promise<void> {
    const setup = setUp(env);
    if (setup instanceof ConfigError) return;
    // Retention once an hour, at the top of it.
    const retention = new Date(controller.scheduledTime).getUTCMinutes() === 0;
    const result = await tick(env, setup, retention);
    try {
      await reportTick(env.TICKER, result);
    } catch (error) {
      setup.logger.log("warn", "could not report the tick to the ticker", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  },
};

/** The live hub Durable Object: delegates to the adapter's handlers. */
export class LiveHubObject {
  private readonly hub: LiveHub;
  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    const setup = setUp(env);
    this.hub = new LiveHub(ctx, {
      connect: () => hyperdriveClient(env.HYPERDRIVE),
      ...(setup instanceof ConfigError
        ? {}
        : { logger: setup.logger, keyCheckMs: setup.config.server.liveKeyCheckMs }),
    });
  }
  fetch(request: Request): Promise<Response> {
    return this.hub.fetch(request);
  }
  /** Re-checks the open sockets' keys (revoked: closed with 1008). */
  alarm(): Promise<void> {
    return this.hub.alarm();
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.hub.webSocketMessage(ws, message);
  }
  webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.hub.webSocketClose(ws, code, reason);
  }
  webSocketError(ws: WebSocket, error: unknown): void {
    this.hub.webSocketError(ws, error);
  }
}

/** The ticker Durable Object: its alarm runs ticks while work is left (ticker.ts). */
export class TickerObject {
  private readonly ticker: Ticker;
  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    const setup = setUp(env);
    const logger = setup instanceof ConfigError ? createConsoleLogger("error") : setup.logger;
    this.ticker = new Ticker(
      ctx,
      () => {
        if (setup instanceof ConfigError) return Promise.reject(setup);
        return tick(env, setup, false);
      },
      logger,
    );
  }
  fetch(request: Request): Promise<Response> {
    return this.ticker.fetch(request);
  }
  alarm(): Promise<void> {
    return this.ticker.alarm();
  }
}
