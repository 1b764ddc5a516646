/**
 * What `npm run server` and `npm run server:deno` share around their host's HTTP server: bind the
 * port, register the job handlers of `OBSERVERS_JOB_HANDLERS` (job-handlers.ts), start the
 * observers (requests in between wait: held-until-started.ts), and on stop stop serving first,
 * then drain. A failed start closes what was opened.
 */
import type { ServerConfig } from "../../../src/config/server-config.ts";
import { heldUntilStarted } from "./held-until-started.ts";
import { loadJobHandlers } from "./job-handlers.ts";
import { localUrl } from "./notices.ts";
import type { Observers } from "./server-observers.ts";

/** The host's bound HTTP server. */
export interface BoundServer {
  port: number;
  /** Stops accepting requests (running ones may finish). */
  shutdown(): Promise<void>;
  /** Ends the requests still running after the shutdown bound, where the host can. */
  forceClose?(): Promise<void>;
}

/** A running ready server. */
export interface ReadyServer {
  url: string;
  stop(): Promise<void>;
}

export async function serveReady<Rest extends unknown[]>(
  observers: Observers & { fetch(request: Request, ...rest: Rest): Promise<Response> },
  config: ServerConfig,
  bind: (fetch: (request: Request, ...rest: Rest) => Promise<Response>) => BoundServer,
): Promise<ReadyServer> {
  const held = heldUntilStarted(observers.fetch);
  let server: BoundServer;
  try {
    server = bind(held.fetch);
  } catch (error) {
    await observers.stop();
    throw error;
  }
  const url = localUrl(config.host, server.port);
  const stopServing = () => stopWithin(server, config.shutdownTimeoutMs);
  try {
    // Handlers first: the tasks they register are known from the start (docs/jobs.md).
    if (config.jobHandlers !== null) await loadJobHandlers(config.jobHandlers, observers.jobs);
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
async function stopWithin(server: BoundServer, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([server.shutdown(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  await server.forceClose?.();
}
