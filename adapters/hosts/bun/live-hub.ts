import type { Principal } from "../../../src/api/auth.ts";
import { HttpProblem } from "../../../src/api/problem.ts";
import type { LiveUpgrade } from "../../../src/api/routes/live.ts";
import type { LiveFeed } from "../../../src/live/feed.ts";
import { createLiveHub, type LiveConnection, type LiveTransport } from "../../../src/live/hub.ts";
import type { LiveSubscription } from "../../../src/live/subscription.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlExecutor } from "../../../src/ports/sql.ts";
import type { BunServer, BunServerWebSocket, BunWebSocketHandler } from "./bun-api.ts";

export { SLOW_CONSUMER_CLOSE } from "../../../src/live/hub.ts";

/** What a socket carries from the upgrade to its handlers. */
interface SocketData {
  subscription: LiveSubscription;
  actor: string;
  /** The API key that opened it (null: the admin token), re-checked while it is open. */
  keyId: string | null;
  /** The hub's side of the socket, once open. */
  connection: LiveConnection | null;
}

type Socket = BunServerWebSocket<SocketData>;

/**
 * The Bun server behind a request: Bun.serve passes it as fetch's second argument, which Hono
 * (also through a host app that mounted the API) exposes as `c.env`. Undefined elsewhere.
 */
export function bunServerOf(env: unknown): BunServer | undefined {
  const candidate = env as Partial<BunServer> | undefined;
  return typeof candidate?.upgrade === "function" && typeof candidate.publish === "function"
    ? (candidate as BunServer)
    : undefined;
}

/** Options of `createBunLiveHub`. */
export interface BunLiveHubOptions {
  sql: SqlExecutor;
  feed: LiveFeed;
  logger: Logger;
  /** Unsent bytes a subscriber may have queued before it is closed with 1013 (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Seconds of silence (Bun pings idle sockets) before a peer counts as dead (default 60). */
  idleTimeoutSeconds?: number;
  /** How often open sockets' keys are re-checked (default 5 000 ms). */
  keyCheckMs?: number;
}

/** The WebSocket side of a Bun server: the API's upgrade, Bun's handlers, and the feed's fan-out. */
export interface BunLiveHub {
  upgrade: LiveUpgrade;
  websocket: BunWebSocketHandler<SocketData>;
  /** Closes the sockets of a key just revoked (1008). */
  revoke(keyId: string): void;
  /** Publishes the feed's batches on `server` (else on the server of the first upgrade). */
  bind(server: BunServer): void;
  /** Closes every socket (1001) and stops publishing. */
  close(): void;
  /** Sockets open now. */
  readonly size: number;
}

/**
 * Live notifications on Bun: the core's hub (src/live/hub.ts) over Bun's native pub/sub. A
 * subscriber's topics are `ws.subscribe`d and each batch is published once per topic with
 * `server.publish`, so fan-out happens inside Bun; Bun's `drain` paces replays.
 */
export function createBunLiveHub(options: BunLiveHubOptions): BunLiveHub {
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  let server: BunServer | null = null;
  const transport: LiveTransport<Socket> = {
    subscribe: (ws, topic) => ws.subscribe(topic),
    // Bun drops a closed socket from its topics itself.
    unsubscribeAll: () => {},
    publish: (topic, text) => {
      server?.publish(topic, text);
    },
    hasSubscribers: (topic) => (server?.subscriberCount(topic) ?? 0) > 0,
    send: (ws, text) => {
      ws.send(text);
    },
    bufferedAmount: (ws) => ws.getBufferedAmount(),
    close: (ws, code, reason) => ws.close(code, reason),
  };
  const hub = createLiveHub({
    sql: options.sql,
    feed: options.feed,
    logger: options.logger,
    transport,
    maxBufferedBytes: maxBuffered,
    ...(options.keyCheckMs === undefined ? {} : { keyCheckMs: options.keyCheckMs }),
  });

  const websocket: BunWebSocketHandler<SocketData> = {
    open(ws) {
      ws.data.connection = hub.open(ws, ws.data.subscription, ws.data.keyId);
    },
    message(ws, message) {
      const text = typeof message === "string" ? message : new TextDecoder().decode(message);
      ws.data.connection?.message(text);
    },
    drain(ws) {
      ws.data.connection?.drain();
    },
    close(ws) {
      ws.data.connection?.closed();
    },
    idleTimeout: options.idleTimeoutSeconds ?? 60,
    sendPings: true,
    // Bun's own limit sits well above ours, so ours (a clear 1013) acts first; Bun's closes
    // rather than drops, so a subscriber never silently misses a message.
    backpressureLimit: Math.max(16 * 1024 * 1024, 4 * maxBuffered),
    closeOnBackpressureLimit: true,
  };

  return {
    upgrade(c, subscription: LiveSubscription, principal: Principal) {
      const bun = bunServerOf(c.env);
      if (!bun) {
        throw new HttpProblem(
          503,
          "LIVE_UNAVAILABLE",
          "live notifications need Bun's server: serve with Bun.serve({ fetch, websocket }), " +
            "which passes it to fetch",
        );
      }
      // The host's Bun.serve: publishing needs it, and a mounted plugin only meets it here.
      server ??= bun;
      const data: SocketData = {
        subscription,
        actor: principal.actor,
        keyId: principal.keyId,
        connection: null,
      };
      if (!bun.upgrade(c.req.raw, { data })) {
        throw new HttpProblem(400, "BAD_REQUEST", "the WebSocket upgrade failed");
      }
      // Bun answers the upgrade itself; this response is not sent.
      return new Response(null);
    },
    websocket,
    revoke(keyId) {
      hub.revoke(keyId);
    },
    bind(bound) {
      server = bound;
    },
    close() {
      hub.close();
    },
    get size() {
      return hub.size;
    },
  };
}
