import type { Principal } from "../../src/api/auth.ts";
import { HttpProblem } from "../../src/api/problem.ts";
import type { LiveUpgrade } from "../../src/api/routes/live.ts";
import { encodeCursor, isAfter, type LiveCursor } from "../../src/live/cursor.ts";
import {
  type LiveBatch,
  type LiveFeed,
  type LiveItem,
  laterCursor,
  reached,
} from "../../src/live/feed.ts";
import type { PayloadMode } from "../../src/live/messages.ts";
import { replay } from "../../src/live/replay.ts";
import type { LiveSubscription } from "../../src/live/subscription.ts";
import type { Logger } from "../../src/ports/logger.ts";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import type { BunServer, BunServerWebSocket, BunWebSocketHandler } from "./bun-api.ts";

/** Close code for a subscriber that fell too far behind (RFC 6455: "try again later"). */
export const SLOW_CONSUMER_CLOSE = 1013;
const GOING_AWAY = 1001;
/** Live items a subscriber may have waiting while it catches up, before it counts as too slow. */
const MAX_PENDING = 10_000;
/** How long a replay waits for a socket to drain before it counts as too slow. */
const DRAIN_WAIT_MS = 10_000;
const PAYLOAD_MODES: readonly PayloadMode[] = ["meta", "full"];

/** A subscriber still receiving what it missed: live items wait in `pending`. */
interface CatchUp {
  from: LiveCursor;
  pending: LiveItem[];
  /** The replay is done; pending items are sent as they come until the feed passes `from`. */
  replayed: LiveCursor | null;
}

interface Subscriber {
  subscription: LiveSubscription;
  actor: string;
  catchUp: CatchUp | null;
  closed: boolean;
  /** Resolves a replay waiting for the socket to drain. */
  drained: (() => void) | null;
}

type Socket = BunServerWebSocket<Subscriber>;

/** Options of `createBunLiveHub`. */
export interface BunLiveHubOptions {
  sql: SqlExecutor;
  feed: LiveFeed;
  logger: Logger;
  /** Unsent bytes a subscriber may have queued before it is closed with 1013 (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Seconds of silence (Bun pings idle sockets) before a peer counts as dead (default 60). */
  idleTimeoutSeconds?: number;
}

/** The WebSocket side of a Bun server: the API's upgrade, Bun's handlers, and the feed's fan-out. */
export interface BunLiveHub {
  upgrade: LiveUpgrade;
  websocket: BunWebSocketHandler<Subscriber>;
  /** Publishes the feed's batches on `server`. */
  bind(server: BunServer): void;
  /** Closes every socket (1001) and stops publishing. */
  close(): void;
  /** Sockets open now. */
  readonly size: number;
}

/**
 * Live notifications on Bun: each subscriber's filters become two topics when it subscribes, and
 * each batch of the feed is published once per topic with Bun's native pub/sub (`server.publish`),
 * so per message the cost does not grow with the number of subscribers. A subscriber resuming
 * with `since` is sent what it missed from the tables first, while live messages wait for it, and
 * joins its topics once nothing can come twice.
 */
export function createBunLiveHub(options: BunLiveHubOptions): BunLiveHub {
  const { sql, feed, logger } = options;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const sockets = new Set<Socket>();
  const catchingUp = new Set<Socket>();
  let unbind: (() => void) | null = null;

  function closeSlow(ws: Socket, why: string): void {
    ws.data.closed = true;
    ws.data.drained?.();
    ws.close(SLOW_CONSUMER_CLOSE, `too slow: ${why}; reconnect with since=<last cursor>`);
  }

  function tooSlow(ws: Socket): boolean {
    if (ws.data.closed || ws.getBufferedAmount() <= maxBuffered) return ws.data.closed;
    closeSlow(ws, `over ${maxBuffered} bytes unsent`);
    return true;
  }

  /**
   * Sends a replayed message, waiting for the socket to drain below half the limit first: a
   * backlog goes out as fast as the subscriber reads it. One that stops reading is closed.
   */
  async function sendPaced(ws: Socket, text: string): Promise<boolean> {
    while (!ws.data.closed && ws.getBufferedAmount() > maxBuffered / 2) {
      const before = ws.getBufferedAmount();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_WAIT_MS);
        ws.data.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      ws.data.drained = null;
      if (!ws.data.closed && ws.getBufferedAmount() >= before) {
        closeSlow(ws, `nothing read for ${DRAIN_WAIT_MS / 1000} s while catching up`);
      }
    }
    return send(ws, text);
  }

  /** Sends one message to one socket; false once the socket is closed or closing. */
  function send(ws: Socket, text: string): boolean {
    if (ws.data.closed) return false;
    ws.send(text);
    return !tooSlow(ws);
  }

  function join(ws: Socket, cursor: LiveCursor): void {
    const { subscription } = ws.data;
    ws.data.catchUp = null;
    catchingUp.delete(ws);
    ws.subscribe(subscription.changeTopic);
    ws.subscribe(subscription.executionTopic);
    send(ws, JSON.stringify({ type: "ready", cursor: encodeCursor(cursor) }));
  }

  /** Sends a caught-up subscriber the live items that came meanwhile, never one twice. */
  function flushPending(ws: Socket): void {
    const catchUp = ws.data.catchUp;
    if (!catchUp?.replayed) return;
    const { subscription } = ws.data;
    let cursor = catchUp.replayed;
    for (const item of catchUp.pending.splice(0)) {
      if (!isAfter(item.position, cursor[item.stream])) continue;
      // The feed's cursor, but never behind where the subscriber resumed from.
      cursor = laterCursor(item.cursor, cursor);
      if (!send(ws, item.text(subscription.payload, cursor))) return;
    }
    catchUp.replayed = cursor;
    // From here the feed's own cursors never go behind the subscriber's: publish to it by topic.
    if (reached(feed.position, cursor)) join(ws, laterCursor(feed.position, cursor));
  }

  async function open(ws: Socket): Promise<void> {
    sockets.add(ws);
    const { subscription } = ws.data;
    const position = feed.position;
    const from = subscription.since ?? position;
    if (subscription.since === null) {
      join(ws, position);
      return;
    }
    // Collect live items from now; read what was missed up to the feed's position now.
    ws.data.catchUp = { from, pending: [], replayed: null };
    catchingUp.add(ws);
    try {
      const replayed = await replay(sql, subscription, from, position, (text) =>
        sendPaced(ws, text),
      );
      if (!replayed || ws.data.closed) return;
      ws.data.catchUp.replayed = laterCursor(replayed, from);
      flushPending(ws);
    } catch (error) {
      logger.log("error", "live replay failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      ws.data.closed = true;
      ws.close(1011, "could not read what was missed; reconnect with the same cursor");
    }
  }

  function publish(server: BunServer, batch: LiveBatch): void {
    for (const item of batch.items) {
      for (const mode of item.stream === "changes" ? PAYLOAD_MODES : PAYLOAD_MODES.slice(0, 1)) {
        for (const topic of item.topics(mode)) {
          // Rendered only for topics someone listens to (full payloads are the costly ones).
          if (server.subscriberCount(topic) > 0) server.publish(topic, item.text(mode));
        }
      }
    }
    for (const ws of catchingUp) {
      const catchUp = ws.data.catchUp;
      if (!catchUp) continue;
      const { subscription } = ws.data;
      for (const item of batch.items) {
        const topic =
          item.stream === "changes" ? subscription.changeTopic : subscription.executionTopic;
        if (item.topics(subscription.payload).includes(topic)) catchUp.pending.push(item);
      }
      // Memory stays bounded while a subscriber catches up, however long that takes.
      if (catchUp.pending.length > MAX_PENDING) {
        closeSlow(ws, `over ${MAX_PENDING} live messages waiting while catching up`);
        catchingUp.delete(ws);
        continue;
      }
      flushPending(ws);
    }
    for (const ws of sockets) tooSlow(ws);
  }

  const websocket: BunWebSocketHandler<Subscriber> = {
    open(ws) {
      void open(ws);
    },
    message(ws, message) {
      const text = typeof message === "string" ? message : new TextDecoder().decode(message);
      let type: unknown;
      try {
        type = (JSON.parse(text) as { type?: unknown }).type;
      } catch {
        type = undefined;
      }
      if (type === "ping") send(ws, JSON.stringify({ type: "pong" }));
      else
        send(
          ws,
          JSON.stringify({ type: "error", message: 'the server only answers {"type":"ping"}' }),
        );
    },
    drain(ws) {
      ws.data.drained?.();
    },
    close(ws) {
      ws.data.closed = true;
      ws.data.drained?.();
      sockets.delete(ws);
      catchingUp.delete(ws);
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
      const server = c.env as BunServer;
      const data: Subscriber = {
        subscription,
        actor: principal.actor,
        catchUp: null,
        closed: false,
        drained: null,
      };
      if (!server.upgrade(c.req.raw, { data })) {
        throw new HttpProblem(400, "BAD_REQUEST", "the WebSocket upgrade failed");
      }
      // Bun answers the upgrade itself; this response is not sent.
      return new Response(null);
    },
    websocket,
    bind(server) {
      unbind?.();
      unbind = feed.onBatch((batch) => publish(server, batch));
    },
    close() {
      unbind?.();
      for (const ws of sockets) {
        ws.data.closed = true;
        ws.close(GOING_AWAY, "the server is shutting down; reconnect with since=<last cursor>");
      }
      sockets.clear();
      catchingUp.clear();
    },
    get size() {
      return sockets.size;
    },
  };
}
