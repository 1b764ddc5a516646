import {
  type ServerRuntime,
  type ServerRuntimeOptions,
  startServerRuntime,
} from "../server/server-runtime.ts";
import { type DenoHttpServer, type DenoServeHandlerInfo, denoGlobal } from "./deno-api.ts";
import { createDenoLiveHub } from "./live-hub.ts";

/** Options of `createDenoRuntime` (`config` is `parseServerConfig(Deno.env.toObject())`). */
export type DenoRuntimeOptions = ServerRuntimeOptions;

/** A running Deno server: the observer runtime and its HTTP API. */
export type DenoRuntime = ServerRuntime;

/**
 * Starts the server on Deno: opens the database (PostgreSQL through postgres.js with LISTEN/NOTIFY
 * wake-ups, or embedded PGlite with a local socket), applies migrations, starts the runtime and
 * serves the API with `Deno.serve`, live notifications on `Deno.upgradeWebSocket`. Whatever was
 * opened is closed again if a later step fails.
 */
export function createDenoRuntime(options: DenoRuntimeOptions): Promise<DenoRuntime> {
  return startServerRuntime(options, {
    live: (deps) => createDenoLiveHub(deps),
    // Hono's env is Deno's handler info (passed to fetch below).
    clientAddress: (c) => (c.env as DenoServeHandlerInfo | undefined)?.remoteAddr.hostname,
    serve(api, config) {
      // https://docs.deno.com/api/deno/~/Deno.serve
      const server = denoGlobal().serve({
        hostname: config.host,
        port: config.port,
        // Without it Deno prints its own "Listening on" line.
        onListen: () => {},
        handler: (request, info) => api.fetch(request, info),
      });
      return { port: server.addr.port, stop: (timeoutMs) => stopServer(server, timeoutMs) };
    },
  });
}

/**
 * Stops accepting requests and lets running ones finish within `timeoutMs`. Deno has no way to cut
 * the rest off: past the bound this returns and the process's exit ends them.
 */
async function stopServer(server: DenoHttpServer, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([server.shutdown(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
