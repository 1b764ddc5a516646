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
 * ...; docs/runtimes.md). The adapter's parts (the tick, the hubs, the publisher) are internal.
 */

export { WORKERS_ENV_VARS } from "./config.ts";
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
export type {
  DurableObjectNamespace,
  DurableObjectState,
  DurableObjectStub,
  ExecutionContext,
  Hyperdrive,
  ScheduledController,
} from "./types.ts";
