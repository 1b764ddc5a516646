/**
 * The plugin for a host's own Worker: `createObserversWorker(options)` binds the options (custom
 * actions, binding names) once, at module scope, and gives the Worker handlers and the two
 * Durable Object classes that share them; `createObservers(env, options?)` is its per-request
 * face (see index.ts for the host's side, and the wrangler.toml lines it needs).
 *
 * What an isolate builds from its `env` (configuration, logger, the API app with its routes,
 * OpenAPI document and failed-auth throttle, the cached schema check) is built once and kept in a
 * WeakMap keyed by the `env` object: workerd hands every invocation of an isolate the same `env`,
 * so this is once per isolate, and a different `env` (tests, several Workers in one process) gets
 * its own. A bad configuration is remembered too: it is logged once, answered 503 on the API's own
 * paths only (a host's routes are none of its business), and ticks are skipped.
 */

import { actionRegistry } from "../../../src/actions/registry.ts";
import type { ActionDefinition, ActionRegistry } from "../../../src/actions/types.ts";
import { isOwnPath } from "../../../src/api/own-paths.ts";
import { problemResponse } from "../../../src/api/problem.ts";
import { ConfigError, type ConfigIssue } from "../../../src/errors.ts";
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

/** The names of the bindings in the host's wrangler.toml, when not the default ones. */
export interface WorkersBindingNames {
  /** The `[[hyperdrive]]` binding (default `HYPERDRIVE`). Required. */
  hyperdrive?: string;
  /** The live hub Durable Object namespace (default `LIVE_HUB`); without it no live feed. */
  liveHub?: string;
  /** The ticker Durable Object namespace (default `TICKER`); without it, cron ticks only. */
  ticker?: string;
}

/** Options of `createObserversWorker` and `createObservers`. */
export interface WorkersObserversOptions {
  /**
   * The host's own action types, beside the built-in ones: validated by the API, executed by the
   * ticks (the cron's and the ticker's: export the Durable Objects of the same
   * `createObserversWorker(options)`).
   */
  actions?: readonly ActionDefinition[];
  /** Binding names, when the host's wrangler.toml does not use HYPERDRIVE, LIVE_HUB, TICKER. */
  bindings?: WorkersBindingNames;
  /**
   * Also serve `/openapi.json`, `/docs` and `/console` at the root (the standalone Worker). Default
   * false.
   */
  rootDocs?: boolean;
}

/** The observers of one Worker `env`: its API and its cron handler. */
export interface WorkersObservers {
  /**
   * The API (`/api/observers`, `/api/observers/*`, `/api/keys`, `/api/keys/*`, and with
   * `rootDocs` `/openapi.json`, `/docs` and `/console`; `isObserversPath`). Any other path is a 404 problem
   * that never reaches the API's middleware: route only those.
   */
  fetch(request: Request, ctx: ExecutionContext): Promise<Response>;
  /** One tick of the runtime (call it from the Worker's `scheduled`, on a cron every minute). */
  scheduled(controller: ScheduledController, ctx: ExecutionContext): Promise<void>;
}

/** The live hub Durable Object (one per tenant) as a Worker exports it. */
export interface LiveHubDurableObject {
  fetch(request: Request): Promise<Response>;
  alarm(): Promise<void>;
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void;
  webSocketClose(ws: WebSocket, code: number, reason: string): void;
  webSocketError(ws: WebSocket, error: unknown): void;
}

/** The ticker Durable Object (ticks between cron ticks while work is left). */
export interface TickerDurableObject {
  fetch(request: Request): Promise<Response>;
  alarm(): Promise<void>;
}

/** A Durable Object class, as workerd constructs it. */
export type DurableObjectClass<T> = new (ctx: DurableObjectState, env: object) => T;

/** A Worker's observers, bound to one set of options. */
export interface ObserversWorker {
  createObservers(env: object): WorkersObservers;
  /** `createObservers(env).fetch(request, ctx)`: a Worker's `fetch` signature. */
  fetch(request: Request, env: object, ctx: ExecutionContext): Promise<Response>;
  /** `createObservers(env).scheduled(controller, ctx)`: a Worker's `scheduled` signature. */
  scheduled(controller: ScheduledController, env: object, ctx: ExecutionContext): Promise<void>;
  LiveHubObject: DurableObjectClass<LiveHubDurableObject>;
  TickerObject: DurableObjectClass<TickerDurableObject>;
}

/** The bindings, found by their names. */
interface Bindings {
  HYPERDRIVE: Hyperdrive;
  /** The Worker's env: `cloudflare-queues` jobs find their queue binding there by name. */
  QUEUES?: Readonly<Record<string, unknown>>;
  LIVE_HUB?: DurableObjectNamespace;
  TICKER?: DurableObjectNamespace;
}

/** What an isolate builds once from its env. */
interface Isolate {
  config: WorkersConfig;
  vars: Record<string, string>;
  logger: Logger;
  bindings: Bindings;
  api: WorkersApi;
  checkSchema: ReturnType<typeof cachedSchemaCheck>;
}

/**
 * Whether the API answers `pathname` (the only paths a bad configuration answers 503 on): the
 * API's own definition of its paths (src/api/own-paths.ts).
 */
export const isObserversPath: (pathname: string, rootDocs?: boolean) => boolean = isOwnPath;

function isHyperdrive(value: unknown): value is Hyperdrive {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { connectionString?: unknown }).connectionString === "string"
  );
}

function isNamespace(value: unknown): value is DurableObjectNamespace {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { idFromName?: unknown }).idFromName === "function"
  );
}

/** The bindings by their (possibly renamed) names; a wrong or missing required one is an issue. */
function findBindings(
  env: Record<string, unknown>,
  names: WorkersBindingNames,
  issues: ConfigIssue[],
): Bindings | null {
  const hyperdriveName = names.hyperdrive ?? "HYPERDRIVE";
  const hyperdrive = env[hyperdriveName];
  if (!isHyperdrive(hyperdrive)) {
    issues.push({
      path: hyperdriveName,
      message: `must be a Hyperdrive binding ([[hyperdrive]] binding = "${hyperdriveName}" in wrangler.toml)`,
    });
  }
  const namespace = (name: string | undefined, fallback: string) => {
    const value = env[name ?? fallback];
    if (isNamespace(value)) return value;
    // A renamed binding was asked for by name: its absence is a mistake, not a choice.
    if (name !== undefined || value !== undefined) {
      issues.push({
        path: name ?? fallback,
        message: "must be a Durable Object namespace binding ([[durable_objects.bindings]])",
      });
    }
    return undefined;
  };
  const liveHub = namespace(names.liveHub, "LIVE_HUB");
  const ticker = namespace(names.ticker, "TICKER");
  if (!isHyperdrive(hyperdrive)) return null;
  return {
    HYPERDRIVE: hyperdrive,
    QUEUES: env,
    ...(liveHub ? { LIVE_HUB: liveHub } : {}),
    ...(ticker ? { TICKER: ticker } : {}),
  };
}

/**
 * The Worker's observers for these options. Call it once, at module scope, and export its
 * `TickerObject` and `LiveHubObject`: they run with the same actions as the Worker's handlers.
 */
export function createObserversWorker(options: WorkersObserversOptions = {}): ObserversWorker {
  // Built once: a duplicate or clashing action type throws here, when the Worker's module loads.
  const registry: ActionRegistry = actionRegistry(options.actions);
  const customActionTypes = (options.actions ?? []).map((action) => action.type);
  const rootDocs = options.rootDocs ?? false;
  const isolates = new WeakMap<object, Isolate | ConfigError>();

  function build(env: object): Isolate | ConfigError {
    const vars = stringVars(env);
    try {
      const issues: ConfigIssue[] = [];
      const bindings = findBindings(env as Record<string, unknown>, options.bindings ?? {}, issues);
      let config: WorkersConfig | null = null;
      try {
        config = workersConfig(env);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        issues.push(...error.issues);
      }
      if (issues.length > 0 || !config || !bindings) throw new ConfigError(issues);
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
      const api = createWorkersApi(bindings, {
        config,
        vars,
        logger,
        checkSchema,
        registry,
        customActionTypes,
        rootDocs,
      });
      return { config, vars, logger, bindings, api, checkSchema };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      createConsoleLogger("error").log("error", "invalid configuration", {
        issues: error.issues.map((issue) => `${issue.path}: ${issue.message}`),
      });
      return error;
    }
  }

  function setUp(env: object): Isolate | ConfigError {
    let isolate = isolates.get(env);
    if (!isolate) {
      isolate = build(env);
      isolates.set(env, isolate);
    }
    return isolate;
  }

  function tick(isolate: Isolate, retention: boolean): Promise<TickResult> {
    return runTick(isolate.bindings, {
      config: isolate.config,
      vars: isolate.vars,
      logger: isolate.logger,
      retention,
      checkSchema: isolate.checkSchema,
      registry,
    });
  }

  function createObservers(env: object): WorkersObservers {
    const isolate = setUp(env);
    return {
      async fetch(request, ctx) {
        // Decided here, not by the app's routes: a path outside the API never reaches its
        // middleware, whatever the configuration.
        const path = new URL(request.url).pathname;
        if (!isObserversPath(path, rootDocs)) {
          return problemResponse(404, "NOT_FOUND", `no route for ${request.method} ${path}`);
        }
        if (!(isolate instanceof ConfigError)) return isolate.api.fetch(request, ctx);
        return problemResponse(
          503,
          "UNHEALTHY",
          "the observers' configuration is invalid: see the Worker's log",
        );
      },

      async scheduled(controller) {
        if (isolate instanceof ConfigError) return;
        // Retention once an hour, at the top of it.
        const retention = new Date(controller.scheduledTime).getUTCMinutes() === 0;
        const result = await tick(isolate, retention);
        if (!isolate.bindings.TICKER) return;
        try {
          await reportTick(isolate.bindings.TICKER, result, customActionTypes);
        } catch (error) {
          isolate.logger.log("warn", "could not report the tick to the ticker", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      },
    };
  }

  /** The live hub Durable Object: delegates to the adapter's handlers (live-hub.ts). */
  class LiveHubObject implements LiveHubDurableObject {
    private readonly hub: LiveHub;
    constructor(ctx: DurableObjectState, env: object) {
      const isolate = setUp(env);
      if (isolate instanceof ConfigError) {
        // No database to catch up from: the hub still fans out, and its catch-ups fail loudly.
        this.hub = new LiveHub(ctx, {
          connect: () => {
            throw isolate;
          },
        });
        return;
      }
      this.hub = new LiveHub(ctx, {
        connect: () => hyperdriveClient(isolate.bindings.HYPERDRIVE),
        logger: isolate.logger,
        keyCheckMs: isolate.config.server.liveKeyCheckMs,
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
  class TickerObject implements TickerDurableObject {
    private readonly ticker: Ticker;
    constructor(ctx: DurableObjectState, env: object) {
      const isolate = setUp(env);
      const logger = isolate instanceof ConfigError ? createConsoleLogger("error") : isolate.logger;
      this.ticker = new Ticker(
        ctx,
        () => (isolate instanceof ConfigError ? Promise.reject(isolate) : tick(isolate, false)),
        logger,
        customActionTypes,
      );
    }
    fetch(request: Request): Promise<Response> {
      return this.ticker.fetch(request);
    }
    alarm(): Promise<void> {
      return this.ticker.alarm();
    }
  }

  return {
    createObservers,
    fetch: (request, env, ctx) => createObservers(env).fetch(request, ctx),
    scheduled: (controller, env, ctx) => createObservers(env).scheduled(controller, ctx),
    LiveHubObject,
    TickerObject,
  };
}

/** The plain exports' worker: built-in actions, default binding names. */
const defaultWorker = /* @__PURE__ */ createObserversWorker();
/** `createObserversWorker(options)` by options object, so repeated calls share one isolate. */
const workers = new WeakMap<WorkersObserversOptions, ObserversWorker>();

/**
 * The observers of this Worker `env`, built once per isolate. With `options`, pass the same
 * object on every call (a module-level constant), and export the Durable Objects of
 * `createObserversWorker(options)` with it when it has `actions`: the plain `TickerObject` runs
 * only the built-in ones.
 */
export function createObservers(env: object, options?: WorkersObserversOptions): WorkersObservers {
  if (!options) return defaultWorker.createObservers(env);
  let worker = workers.get(options);
  if (!worker) {
    worker = createObserversWorker(options);
    workers.set(options, worker);
  }
  return worker.createObservers(env);
}

/** The live hub Durable Object of the plain exports (`export { LiveHubObject } from ...`). */
export const LiveHubObject = defaultWorker.LiveHubObject;
/** The ticker Durable Object of the plain exports: built-in actions only. */
export const TickerObject = defaultWorker.TickerObject;
