import { isArrayTypeFetchFailure } from "../../drivers/postgres/driver-defects.ts";
import {
  createServerObservers,
  type Observers,
  type ObserversOptions,
} from "../server/server-observers.ts";
import { type DenoServeHandlerInfo, denoGlobal } from "./deno-api.ts";
import { createDenoLiveHub } from "./live-hub.ts";

/** The observers of a Deno host: mount `api`, or serve `fetch`. */
export interface DenoObservers extends Observers {
  /** Serves the API alone: `Deno.serve(observers.fetch)`. */
  fetch(request: Request, info?: DenoServeHandlerInfo): Promise<Response>;
}

/**
 * The observers for a Deno host (`fraiseql-observers/deno`): see `ObserversOptions` and
 * adapters/hosts/server/server-observers.ts. Synchronous, so `api` can be mounted at once; call
 * `start()` to run and `stop()` to drain. Live notifications (`Deno.upgradeWebSocket`) work
 * wherever the API is mounted: Deno needs no handler object. Throws `ConfigError` naming the
 * variables on invalid settings.
 *
 * ```ts
 * const observers = createObservers({ sql });
 * app.route("/", observers.api);
 * Deno.serve(app.fetch);
 * await observers.start();
 * ```
 */
export function createObservers(options: ObserversOptions = {}): DenoObservers {
  const observers = createServerObservers(options, {
    env: () => denoGlobal().env.toObject(),
    live: (deps) => createDenoLiveHub(deps),
    // Hono's env is Deno's handler info when Deno.serve calls the (host's) fetch.
    clientAddress: (c) =>
      (c.env as Partial<DenoServeHandlerInfo> | undefined)?.remoteAddr?.hostname,
    guardDriverDefects,
  });
  return {
    ...observers,
    fetch: async (request, info) => observers.api.fetch(request, info),
  };
}

/** Deno ends the process on an unhandled rejection unless a listener prevents it: only the defect. */
function guardDriverDefects(onDefect: (reason: unknown) => void): () => void {
  const listener = (event: Event) => {
    const { reason } = event as Event & { reason: unknown };
    if (!isArrayTypeFetchFailure(reason)) return;
    event.preventDefault();
    onDefect(reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  return () => globalThis.removeEventListener("unhandledrejection", listener);
}
