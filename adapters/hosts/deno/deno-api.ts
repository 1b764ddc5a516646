/**
 * The part of Deno's API this adapter uses, typed here: the repository type-checks with tsc and
 * Node's types, not Deno's (`deno types` would redefine globals for the whole program). See
 * https://docs.deno.com/api/deno/.
 */

/** `Deno.serve`'s second argument to the handler (https://docs.deno.com/api/deno/~/Deno.ServeHandlerInfo). */
export interface DenoServeHandlerInfo {
  remoteAddr: { transport: "tcp" | "udp"; hostname: string; port: number };
}

/** `Deno.serve`'s options, as far as the adapter sets them. */
export interface DenoServeOptions {
  hostname: string;
  port: number;
  /** Called once listening; Deno prints "Listening on ..." when it is absent. */
  onListen?(addr: { hostname: string; port: number }): void;
  /** Aborting it shuts the server down like `shutdown()`. */
  signal?: AbortSignal;
  handler(request: Request, info: DenoServeHandlerInfo): Response | Promise<Response>;
}

/** A running `Deno.serve` (https://docs.deno.com/api/deno/~/Deno.HttpServer). */
export interface DenoHttpServer {
  readonly addr: { hostname: string; port: number };
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting connections and waits for running requests to finish. */
  shutdown(): Promise<void>;
}

/** A WebSocket `Deno.upgradeWebSocket` accepted: the Web-standard `WebSocket`. */
export type DenoWebSocket = WebSocket;

export interface DenoGlobal {
  serve(options: DenoServeOptions): DenoHttpServer;
  /** https://docs.deno.com/api/deno/~/Deno.upgradeWebSocket */
  upgradeWebSocket(
    request: Request,
    options?: {
      /** Seconds between pings; a peer that does not answer one within it is closed (default 120). */
      idleTimeout?: number;
    },
  ): { socket: DenoWebSocket; response: Response };
  env: { toObject(): Record<string, string> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code?: number): never;
  readonly version: { deno: string };
}

/** The `Deno` global, or a clear error when this code runs elsewhere. */
export function denoGlobal(): DenoGlobal {
  const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
  if (!deno) {
    throw new Error(
      "adapters/hosts/deno needs Deno: run it with `deno run -A adapters/hosts/deno/main.ts`",
    );
  }
  return deno;
}
