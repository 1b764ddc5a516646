/**
 * `fraiseql-observers/workers`: the observers in a host's own Cloudflare Worker.
 *
 * ```ts
 * import { createObservers, isObserversPath } from "fraiseql-observers/workers";
 * export { LiveHubObject, TickerObject } from "fraiseql-observers/workers";
 *
 * export default {
 *   fetch(request, env, ctx) {
 *     // Only the API's paths (/api/observers, /api/observers/*, /api/keys, /api/keys/*).
 *     if (isObserversPath(new URL(request.url).pathname)) {
 *       return createObservers(env).fetch(request, ctx);
 *     }
 *     return hostApp.fetch(request, env, ctx);
 *   },
 *   scheduled(controller, env, ctx) {
 *     return createObservers(env).scheduled(controller, ctx);
 *   },
 * };
 * ```
 *
 * With the host's own action types, bind them once and export the Durable Objects bound to them
 * (the ticker's alarm runs ticks, which execute actions):
 *
 * ```ts
 * import { createObserversWorker } from "fraiseql-observers/workers";
 * const observers = createObserversWorker({ actions: [discordAction] });
 * export const { LiveHubObject, TickerObject } = observers;
 * // fetch: observers.fetch(request, env, ctx) on the API's paths; scheduled: observers.scheduled
 * ```
 *
 * The host's wrangler.toml needs (binding names may differ: `options.bindings`):
 *
 * ```toml
 * compatibility_flags = ["nodejs_compat"]   # postgres.js over Hyperdrive, AsyncLocalStorage
 * [triggers]
 * crons = ["* * * * *"]                      # one tick a minute (the ticker adds ticks between)
 * [[hyperdrive]]
 * binding = "HYPERDRIVE"
 * id = "<npx wrangler hyperdrive create ... --caching-disabled>"
 * [[durable_objects.bindings]]
 * name = "LIVE_HUB"                          # optional: without it, no live WebSocket feed
 * class_name = "LiveHubObject"
 * [[durable_objects.bindings]]
 * name = "TICKER"                            # optional: without it, cron ticks only
 * class_name = "TickerObject"
 * [[migrations]]
 * tag = "observers-v1"                       # any tag not yet used in the host's migrations
 * new_sqlite_classes = ["LiveHubObject", "TickerObject"]
 * ```
 *
 * Settings are the Worker's `[vars]` and secrets, by the servers' names (`OBSERVERS_ADMIN_TOKEN`,
 * ...; docs/runtimes.md). The rest of this entry is the adapter's parts, for Workers built by hand.
 */

export {
  type ApiBindings,
  createWorkersApi,
  type WorkersApi,
  type WorkersApiOptions,
} from "./api.ts";
export {
  stringVars,
  WORKERS_DEFAULT_CONCURRENCY,
  WORKERS_ENV_VARS,
  type WorkersConfig,
  workersConfig,
} from "./config.ts";
export {
  createObservers,
  createObserversWorker,
  type DurableObjectClass,
  isObserversPath,
  type LiveHubDurableObject,
  LiveHubObject,
  type ObserversWorker,
  type TickerDurableObject,
  TickerObject,
  type WorkersBindingNames,
  type WorkersObservers,
  type WorkersObserversOptions,
} from "./create-observers.ts";
export { hyperdriveClient } from "./database.ts";
export { LiveHub, type LiveHubOptions, PING, PONG } from "./live-hub.ts";
export {
  feedPosition,
  type LiveHubBindings,
  type PublishLiveOptions,
  type PublishLiveResult,
  publishLive,
} from "./live-publisher.ts";
export { hubRevoke, hubUpgrade } from "./live-upgrade.ts";
export {
  HUB_ORIGIN,
  hubName,
  hubStub,
  type PublishedBatch,
  type PublishedItem,
  type PublishedRendering,
  SUBSCRIPTION_HEADER,
  toPublishedItems,
  topicTag,
} from "./live-wire.ts";
export { MIGRATIONS } from "./migrations.generated.ts";
export { cachedSchemaCheck, checkSchema, type SchemaStatus } from "./schema.ts";
export { type CountingFetch, countingFetch, workersEnvironment } from "./services.ts";
export {
  runTick,
  type TickBindings,
  type TickOptions,
  type TickResult,
  type TickStop,
} from "./tick.ts";
export { lastTick, reportTick, scheduleTick, Ticker, tickerStub } from "./ticker.ts";
export type {
  DurableObjectNamespace,
  DurableObjectState,
  DurableObjectStub,
  ExecutionContext,
  Hyperdrive,
  ScheduledController,
  WorkersWebSocket,
} from "./types.ts";
