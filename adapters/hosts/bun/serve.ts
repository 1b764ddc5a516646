import { MAX_BODY_BYTES } from "../../../src/api/limits.ts";
import type { ServerConfig } from "../../../src/config/server-config.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import { heldUntilStarted } from "../server/held-until-started.ts";
import { localUrl } from "../server/notices.ts";
import { type BunServer, bunGlobal } from "./bun-api.ts";
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
export async function serveBun(
  options: ServeBunOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  const { config } = options;
  const observers = createObservers({ env: options.env, logger: options.logger, rootDocs: true });
  const held = heldUntilStarted(observers.fetch);
  let server: BunServer;
  try {
    // https://bun.sh/docs/api/http#bun-serve
    server = bunGlobal().serve({
      hostname: config.host,
      port: config.port,
      fetch: held.fetch,
      // Bun cuts off bodies well past the API's own limit, which answers with a problem document.
      maxRequestBodySize: 2 * MAX_BODY_BYTES,
      websocket: observers.websocket,
    });
  } catch (error) {
    await observers.stop();
    throw error;
  }
  const url = localUrl(config.host, server.port);
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
