import process from "node:process";
import { isArrayTypeFetchFailure } from "../../drivers/postgres/driver-defects.ts";
import {
  createServerObservers,
  type Observers,
  type ObserversOptions,
} from "../server/server-observers.ts";
import type { BunServer, BunWebSocketHandler } from "./bun-api.ts";
import { bunGlobal } from "./bun-api.ts";
import { type BunLiveHub, bunServerOf, createBunLiveHub } from "./live-hub.ts";

/** The observers of a Bun host: mount `api`, or serve `fetch`; hand `websocket` to Bun.serve. */
export interface BunObservers extends Observers {
  /** Serves the API alone: `Bun.serve({ fetch: observers.fetch, websocket: observers.websocket })`. */
  fetch(request: Request, server?: BunServer): Promise<Response>;
  /**
   * Bun's WebSocket handlers for `GET /api/observers/ws`: give them to the host's own
   * `Bun.serve({ fetch, websocket })`, so live notifications work on the host's port.
   */
  websocket: BunWebSocketHandler<never>;
}

/**
 * The observers for a Bun host (`fraiseql-observers/bun`): see `ObserversOptions` and
 * adapters/hosts/server/server-observers.ts. Synchronous, so `api` can be mounted at once; call
 * `start()` to run and `stop()` to drain. Throws `ConfigError` naming the variables on invalid
 * settings.
 *
 * ```ts
 * const observers = createObservers({ sql });
 * app.route("/", observers.api);
 * Bun.serve({ fetch: app.fetch, websocket: observers.websocket });
 * await observers.start();
 * ```
 */
export function createObservers(options: ObserversOptions = {}): BunObservers {
  let hub: BunLiveHub | undefined;
  const observers = createServerObservers(options, {
    env: () => bunGlobal().env,
    live(deps) {
      hub = createBunLiveHub(deps);
      return hub;
    },
    // Hono's env is the Bun server when Bun.serve calls the (host's) fetch.
    clientAddress: (c) => bunServerOf(c.env)?.requestIP(c.req.raw)?.address,
    guardDriverDefects,
  });
  const live = hub as unknown as BunLiveHub;
  return {
    ...observers,
    fetch: async (request, server) => observers.api.fetch(request, server),
    websocket: live.websocket as BunWebSocketHandler<never>,
  };
}

/**
 * Bun follows Node: any `unhandledRejection` listener replaces the default (the process ends).
 * This one handles the driver's defect only; alone, it rethrows the rest so the default holds,
 * and beside the host's own listeners it leaves the rest to them.
 */
function guardDriverDefects(onDefect: (reason: unknown) => void): () => void {
  const listener = (reason: unknown) => {
    if (isArrayTypeFetchFailure(reason)) {
      onDefect(reason);
      return;
    }
    if (process.listenerCount("unhandledRejection") <= 1) throw reason;
  };
  process.on("unhandledRejection", listener);
  return () => {
    process.off("unhandledRejection", listener);
  };
}
