import type { ServerConfig } from "../../../src/config/server-config.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import { heldUntilStarted } from "../server/held-until-started.ts";
import { localUrl } from "../server/notices.ts";
import { type DenoHttpServer, denoGlobal } from "./deno-api.ts";
import { createObservers } from "./observers.ts";

/** Options of `serveDeno`, as `runServerMain` gives them. */
export interface ServeDenoOptions {
  config: ServerConfig;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

/**
 * The ready server on Deno (`npm run server:deno`): `createObservers` served by `Deno.serve` on
 * `HOST` and `PORT`, with the docs at the root. Stops serving first, then drains.
 */
export async function serveDeno(
  options: ServeDenoOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  const { config } = options;
  const observers = createObservers({ env: options.env, logger: options.logger, rootDocs: true });
  const held = heldUntilStarted(observers.fetch);
  let server: DenoHttpServer;
  try {
    // https://docs.deno.com/api/deno/~/Deno.serve
    server = denoGlobal().serve({
      hostname: config.host,
      port: config.port,
      // Without it Deno prints its own "Listening on" line.
      onListen: () => {},
      handler: held.fetch,
    });
  } catch (error) {
    await observers.stop();
    throw error;
  }
  const url = localUrl(config.host, server.addr.port);
  const stopServing = () => stopServer(server, config.shutdownTimeoutMs);
  try {
    await observers.start({ url });
  } catch (error) {
    // Held requests get the 503 of observers that did not start, and the server can close.
    held.release();
    await observers.stop({ stopServing });
    throw error;
  }
  held.release();
  return { url, stop: () => observers.stop({ stopServing }) };
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
