import { MAX_BODY_BYTES } from "../../../src/api/limits.ts";
import type { ServerConfig } from "../../../src/config/server-config.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import { type ReadyServer, serveReady } from "../server/serve-ready.ts";
import { bunGlobal } from "./bun-api.ts";
import { createObservers } from "./observers.ts";

/** Options of `serveBun`, as `runServerMain` gives them. */
export interface ServeBunOptions {
  config: ServerConfig;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

/**
 * The ready server on Bun (`npm run server`): `createObservers` served by `Bun.serve` on `HOST`
 * and `PORT`, with the docs at the root. Stops serving first, then drains.
 */
export function serveBun(options: ServeBunOptions): Promise<ReadyServer> {
  const { config } = options;
  const observers = createObservers({ env: options.env, logger: options.logger, rootDocs: true });
  return serveReady(observers, config, (fetch) => {
    // https://bun.sh/docs/api/http#bun-serve
    const server = bunGlobal().serve({
      hostname: config.host,
      port: config.port,
      fetch,
      // Bun cuts off bodies well past the API's own limit, which answers with a problem document.
      maxRequestBodySize: 2 * MAX_BODY_BYTES,
      websocket: observers.websocket,
    });
    return {
      port: server.port,
      shutdown: async () => server.stop(),
      forceClose: async () => server.stop(true),
    };
  });
}
