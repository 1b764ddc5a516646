import type { ServerConfig } from "../../../src/config/server-config.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import { type ReadyServer, serveReady } from "../server/serve-ready.ts";
import { denoGlobal } from "./deno-api.ts";
import { createObservers } from "./observers.ts";

/** Options of `serveDeno`, as `runServerMain` gives them. */
export interface ServeDenoOptions {
  config: ServerConfig;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

/**
 * The ready server on Deno (`npm run server:deno`): `createObservers` served by `Deno.serve` on
 * `HOST` and `PORT`, with the docs at the root. Stops serving first, then drains; Deno has no way
 * to cut requests off past the bound, so the process's exit ends them.
 */
export function serveDeno(options: ServeDenoOptions): Promise<ReadyServer> {
  const { config } = options;
  const observers = createObservers({ env: options.env, logger: options.logger, rootDocs: true });
  return serveReady(observers, config, (fetch) => {
    // https://docs.deno.com/api/deno/~/Deno.serve
    const server = denoGlobal().serve({
      hostname: config.host,
      port: config.port,
      // Without it Deno prints its own "Listening on" line.
      onListen: () => {},
      handler: fetch,
    });
    return { port: server.addr.port, shutdown: () => server.shutdown() };
  });
}
