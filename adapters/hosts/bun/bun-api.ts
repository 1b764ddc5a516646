/**
 * The part of Bun's API this adapter uses, typed here rather than through @types/bun: its globals
 * redefine `fetch` for the whole program (adding `preconnect`), which breaks every test that
 * stubs fetch. See https://bun.sh/docs/api/http.
 */

/** `Bun.serve`'s options, as far as the adapter sets them. */
export interface BunServeOptions {
  hostname: string;
  port: number;
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
  /** Bun refuses larger bodies itself (with a 413). */
  maxRequestBodySize?: number;
  /** Seconds a connection may be idle (Bun's default 10; at most 255). */
  idleTimeout?: number;
  /** WebSocket handlers, for requests the fetch handler upgraded. */
  websocket?: BunWebSocketHandler<never>;
}

/** A WebSocket Bun accepted (https://bun.sh/docs/api/websockets). */
export interface BunServerWebSocket<T> {
  readonly data: T;
  readonly readyState: number;
  /** Bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string): number;
  close(code?: number, reason?: string): void;
  subscribe(topic: string): void;
  getBufferedAmount(): number;
}

/** `Bun.serve`'s `websocket` option. */
export interface BunWebSocketHandler<T> {
  open?(ws: BunServerWebSocket<T>): void;
  message(ws: BunServerWebSocket<T>, message: string | Uint8Array): void;
  close?(ws: BunServerWebSocket<T>, code: number, reason: string): void;
  /** The socket can take more data again after backpressure. */
  drain?(ws: BunServerWebSocket<T>): void;
  /** Seconds without traffic before Bun closes the socket (pings count, when sent). */
  idleTimeout?: number;
  /** Ping idle sockets, so dead peers are noticed (Bun's default true). */
  sendPings?: boolean;
  /** Bytes queued for one socket at most. */
  backpressureLimit?: number;
  closeOnBackpressureLimit?: boolean;
}

/** A running `Bun.serve` (https://bun.sh/docs/api/http#bun-serve). */
export interface BunServer {
  readonly port: number;
  readonly hostname: string;
  /** Stops accepting connections; with `true`, also closes open ones at once. */
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  /** The peer's address of a request this server is handling. */
  requestIP(request: Request): { address: string } | null;
  /** Upgrades a request to a WebSocket carrying `data`; false when it cannot. */
  upgrade<T>(request: Request, options: { data: T }): boolean;
  /** Sends `data` to every socket subscribed to `topic`. */
  publish(topic: string, data: string): number;
  subscriberCount(topic: string): number;
}

interface BunGlobal {
  serve(options: BunServeOptions): BunServer;
  env: Record<string, string | undefined>;
}

/** The `Bun` global, or a clear error when this code runs elsewhere. */
export function bunGlobal(): BunGlobal {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (!bun) {
    throw new Error("adapters/hosts/bun needs Bun: run it with `bun adapters/hosts/bun/main.ts`");
  }
  return bun;
}
