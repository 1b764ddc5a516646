import { MAX_BODY_BYTES } from "../../../src/api/limits.ts";
import {
  type ServerRuntime,
  type ServerRuntimeOptions,
  startServerRuntime,
} from "../server/server-runtime.ts";
import { type BunServer, type BunWebSocketHandler, bunGlobal } from "./bun-api.ts";
import { type BunLiveHub, createBunLiveHub } from "./live-hub.ts";

/** Options of `createBunRuntime` (`config` is `parseServerConfig(Bun.env)`). */
export type BunRuntimeOptions = ServerRuntimeOptions;

/** A running Bun server: the observer runtime and its HTTP API. */
export type BunRuntime = ServerRuntime;

/**
 * Starts the server on Bun: opens the database (PostgreSQL, or embedded PGlite with a local
 * socket), applies migrations, starts the runtime and serves the API with `Bun.serve`, live
 * notifications on Bun's native WebSocket pub/sub. Whatever was opened is closed again if a later
 * step fails.
 */
export async function createBunRuntime(options: BunRuntimeOptions): Promise<BunRuntime> {
  let hub: BunLiveHub | null = null;
  return startServerRuntime(options, {
    live(deps) {
      hub = createBunLiveHub(deps);
      return hub;
    },
    // Hono's env is the Bun server (passed to fetch below).
    clientAddress: (c) => (c.env as BunServer).requestIP(c.req.raw)?.address,
    serve(api, config) {
      const live = hub as BunLiveHub;
      // https://bun.sh/docs/api/http#bun-serve
      const server = bunGlobal().serve({
        hostname: config.host,
        port: config.port,
        fetch: (request, bun) => api.fetch(request, bun),
        // Bun cuts off bodies well past the API's own limit, which answers with a problem document.
        maxRequestBodySize: 2 * MAX_BODY_BYTES,
        websocket: live.websocket as BunWebSocketHandler<never>,
      });
      live.bind(server);
      return { port: server.port, stop: (timeoutMs) => stopServer(server, timeoutMs) };
    },
  });
}

/** Stops accepting requests, lets running ones finish within `timeoutMs`, then closes the rest. */
async function stopServer(server: BunServer, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([server.stop(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  await server.stop(true);
}
