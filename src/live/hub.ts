/**
 * The live hub of a long-running server: subscribers' sockets, the feed's fan-out by topic, resume
 * with `since`, backpressure and shutdown, independent of the host. The host (Bun, Deno, any
 * server with Web-standard WebSockets) accepts the sockets, forwards their events to the
 * connection `open` returns, and provides a `LiveTransport`: Bun's native pub/sub, or the
 * in-memory topics of `createTopicTransport` (topic-transport.ts).
 *
 * Each subscriber's filters become two topics when it joins, and each batch of the feed is
 * published once per topic, rendered only for topics someone listens to, so per message the cost
 * does not grow with the number of subscribers. A subscriber resuming with `since` is sent what it
 * missed from the tables first, while live messages wait for it, and joins its topics once nothing
 * can come twice.
 */
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { encodeCursor, isAfter, type LiveCursor } from "./cursor.ts";
import { type LiveBatch, type LiveFeed, type LiveItem, laterCursor, reached } from "./feed.ts";
import { createKeyWatch, REVOKED_CLOSE, REVOKED_REASON } from "./key-watch.ts";
import type { PayloadMode } from "./messages.ts";
import { replay } from "./replay.ts";
import type { LiveSubscription } from "./subscription.ts";

/** Close code for a subscriber that fell too far behind (RFC 6455: "try again later"). */
export const SLOW_CONSUMER_CLOSE = 1013;
/** Close code on shutdown. */
export const GOING_AWAY_CLOSE = 1001;
/** Live items a subscriber may have waiting while it catches up, before it counts as too slow. */
export const MAX_PENDING = 10_000;
/** How long a replay waits for a socket to drain before it counts as too slow. */
const DRAIN_WAIT_MS = 10_000;
const PAYLOAD_MODES: readonly PayloadMode[] = ["meta", "full"];

/** How the hub reaches sockets of type `S`: the host's part. */
export interface LiveTransport<S> {
  /** From now on, what is published to `topic` reaches `socket` too. */
  subscribe(socket: S, topic: string): void;
  /** Forgets a closed socket (hosts whose pub/sub drops closed sockets itself do nothing). */
  unsubscribeAll(socket: S): void;
  /** Sends `text` to every socket subscribed to `topic`. */
  publish(topic: string, text: string): void;
  /** Whether any socket is subscribed to `topic` (messages are rendered only for those). */
  hasSubscribers(topic: string): boolean;
  /** Sends `text` to one open socket. */
  send(socket: S, text: string): void;
  /** Bytes sent to `socket` but not yet handed to the network. */
  bufferedAmount(socket: S): number;
  close(socket: S, code: number, reason: string): void;
  /**
   * Set for hosts with no drain signal whose `bufferedAmount` counts every byte sent until the
   * host has written it out (Web-standard sockets, e.g. Deno's): right after a batch it is high
   * even for a subscriber that reads everything. The hub then checks it this often: a replay
   * waiting for a socket to drain resumes once it falls, and a socket over the limit counts as too
   * slow only when, at the next check, it has not fallen.
   */
  drainPollMs?: number;
}

/** Options of `createLiveHub`. */
export interface LiveHubOptions<S> {
  sql: SqlExecutor;
  feed: LiveFeed;
  logger: Logger;
  transport: LiveTransport<S>;
  /** Unsent bytes a subscriber may have queued before it is closed with 1013 (default 4 MiB). */
  maxBufferedBytes?: number;
  /**
   * How often the keys of open sockets are re-checked; a revoked one's sockets are closed with
   * 1008 (default 5 000 ms, `OBSERVERS_LIVE_KEY_CHECK_MS`; see key-watch.ts).
   */
  keyCheckMs?: number;
}

/** One subscriber's socket, as the host reports its events. */
export interface LiveConnection {
  /** A text message arrived (`{"type":"ping"}` is answered with a pong). */
  message(text: string): void;
  /** The socket can take more data again after backpressure. */
  drain(): void;
  /** The socket closed, from either side. */
  closed(): void;
}

/** The hub: open sockets, fed by the feed's batches from creation until `close`. */
export interface LiveHub<S> {
  /**
   * Serves a socket the host accepted (and that is open) for `subscription`, authenticated by the
   * API key `keyId` (null: the admin token, which cannot be revoked).
   */
  open(socket: S, subscription: LiveSubscription, keyId?: string | null): LiveConnection;
  /** Closes the sockets of a key just revoked (1008), at once. */
  revoke(keyId: string): void;
  /** Closes every socket (1001) and stops publishing. */
  close(): void;
  /** Sockets open now. */
  readonly size: number;
}

/** A subscriber still receiving what it missed: live items wait in `pending`. */
interface CatchUp {
  from: LiveCursor;
  pending: LiveItem[];
  /** The replay is done; pending items are sent as they come until the feed passes `from`. */
  replayed: LiveCursor | null;
}

interface Subscriber<S> {
  socket: S;
  subscription: LiveSubscription;
  keyId: string | null;
  catchUp: CatchUp | null;
  closed: boolean;
  /** Resolves a replay waiting for the socket to drain. */
  drained: (() => void) | null;
  /** A deferred backpressure check is scheduled (hosts with `drainPollMs`). */
  checking: boolean;
}

/** The live hub over `transport`; see the file comment. */
export function createLiveHub<S>(options: LiveHubOptions<S>): LiveHub<S> {
  const { sql, feed, logger, transport } = options;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const subscribers = new Set<Subscriber<S>>();
  const catchingUp = new Set<Subscriber<S>>();
  const keys = createKeyWatch({
    sql,
    logger,
    ...(options.keyCheckMs === undefined ? {} : { intervalMs: options.keyCheckMs }),
    onRevoked: (revoked) => closeRevoked(revoked),
  });

  /** Closes (1008) every open socket authenticated by one of `revoked`. */
  function closeRevoked(revoked: ReadonlySet<string>): void {
    for (const sub of subscribers) {
      if (sub.closed || sub.keyId === null || !revoked.has(sub.keyId)) continue;
      sub.closed = true;
      sub.drained?.();
      transport.close(sub.socket, REVOKED_CLOSE, REVOKED_REASON);
    }
  }

  function closeSlow(sub: Subscriber<S>, why: string): void {
    sub.closed = true;
    sub.drained?.();
    transport.close(
      sub.socket,
      SLOW_CONSUMER_CLOSE,
      `too slow: ${why}; reconnect with since=<last cursor>`,
    );
  }

  /** Whether `sub` is closed, or is now closed for being too far behind. */
  function tooSlow(sub: Subscriber<S>): boolean {
    if (sub.closed) return true;
    if (transport.drainPollMs !== undefined) {
      checkLater(sub, Number.POSITIVE_INFINITY);
      return false;
    }
    if (transport.bufferedAmount(sub.socket) <= maxBuffered) return false;
    closeSlow(sub, `over ${maxBuffered} bytes unsent`);
    return true;
  }

  /** Hosts with `drainPollMs`: over the limit at two checks in a row without falling is too slow. */
  function checkLater(sub: Subscriber<S>, previous: number): void {
    if (sub.checking) return;
    sub.checking = true;
    setTimeout(() => {
      sub.checking = false;
      const amount = transport.bufferedAmount(sub.socket);
      if (sub.closed || amount <= maxBuffered) return;
      if (amount >= previous) closeSlow(sub, `over ${maxBuffered} bytes unsent`);
      else checkLater(sub, amount);
    }, transport.drainPollMs);
  }

  /**
   * Resolves when the host signals drain, after DRAIN_WAIT_MS, or (hosts with `drainPollMs`) when
   * `bufferedAmount` falls below `before`: checked after 1 ms, then less often up to
   * `drainPollMs`, so a subscriber that reads promptly is paced by its reading, not by the poll.
   */
  function drainedOrTimeout(sub: Subscriber<S>, before: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let poll: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        clearTimeout(poll);
        resolve();
      };
      const timer = setTimeout(done, DRAIN_WAIT_MS);
      sub.drained = done;
      const every = transport.drainPollMs;
      if (every === undefined) return;
      const check = (delay: number) => {
        poll = setTimeout(() => {
          if (sub.closed || transport.bufferedAmount(sub.socket) < before) done();
          else check(Math.min(delay * 2, every));
        }, delay);
      };
      check(1);
    });
  }

  /**
   * Sends a replayed message, waiting for the socket to drain below half the limit first: a
   * backlog goes out as fast as the subscriber reads it. One that stops reading is closed.
   */
  async function sendPaced(sub: Subscriber<S>, text: string): Promise<boolean> {
    while (!sub.closed && transport.bufferedAmount(sub.socket) > maxBuffered / 2) {
      const before = transport.bufferedAmount(sub.socket);
      await drainedOrTimeout(sub, before);
      sub.drained = null;
      if (!sub.closed && transport.bufferedAmount(sub.socket) >= before) {
        closeSlow(sub, `nothing read for ${DRAIN_WAIT_MS / 1000} s while catching up`);
      }
    }
    return send(sub, text);
  }

  /** Sends one message to one socket; false once the socket is closed or closing. */
  function send(sub: Subscriber<S>, text: string): boolean {
    if (sub.closed) return false;
    transport.send(sub.socket, text);
    return !tooSlow(sub);
  }

  function join(sub: Subscriber<S>, cursor: LiveCursor): void {
    const { subscription } = sub;
    sub.catchUp = null;
    catchingUp.delete(sub);
    transport.subscribe(sub.socket, subscription.changeTopic);
    transport.subscribe(sub.socket, subscription.executionTopic);
    send(sub, JSON.stringify({ type: "ready", cursor: encodeCursor(cursor) }));
  }

  /** Sends a caught-up subscriber the live items that came meanwhile, never one twice. */
  function flushPending(sub: Subscriber<S>): void {
    const catchUp = sub.catchUp;
    if (!catchUp?.replayed) return;
    const { subscription } = sub;
    let cursor = catchUp.replayed;
    for (const item of catchUp.pending.splice(0)) {
      if (!isAfter(item.position, cursor[item.stream])) continue;
      // The feed's cursor, but never behind where the subscriber resumed from.
      cursor = laterCursor(item.cursor, cursor);
      if (!send(sub, item.text(subscription.payload, cursor))) return;
    }
    catchUp.replayed = cursor;
    // From here the feed's own cursors never go behind the subscriber's: publish to it by topic.
    if (reached(feed.position, cursor)) join(sub, laterCursor(feed.position, cursor));
  }

  async function start(sub: Subscriber<S>): Promise<void> {
    const { subscription } = sub;
    const position = feed.position;
    const from = subscription.since ?? position;
    if (subscription.since === null) {
      join(sub, position);
      return;
    }
    // Collect live items from now; read what was missed up to the feed's position now.
    const catchUp: CatchUp = { from, pending: [], replayed: null };
    sub.catchUp = catchUp;
    catchingUp.add(sub);
    try {
      const replayed = await replay(sql, subscription, from, position, (text) =>
        sendPaced(sub, text),
      );
      if (!replayed || sub.closed) return;
      catchUp.replayed = laterCursor(replayed, from);
      flushPending(sub);
    } catch (error) {
      logger.log("error", "live replay failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      sub.closed = true;
      transport.close(
        sub.socket,
        1011,
        "could not read what was missed; reconnect with the same cursor",
      );
    }
  }

  function publish(batch: LiveBatch): void {
    for (const item of batch.items) {
      for (const mode of item.stream === "changes" ? PAYLOAD_MODES : PAYLOAD_MODES.slice(0, 1)) {
        for (const topic of item.topics(mode)) {
          // Rendered only for topics someone listens to (full payloads are the costly ones).
          if (transport.hasSubscribers(topic)) transport.publish(topic, item.text(mode));
        }
      }
    }
    for (const sub of catchingUp) {
      const catchUp = sub.catchUp;
      if (!catchUp) continue;
      const { subscription } = sub;
      for (const item of batch.items) {
        const topic =
          item.stream === "changes" ? subscription.changeTopic : subscription.executionTopic;
        if (item.topics(subscription.payload).includes(topic)) catchUp.pending.push(item);
      }
      // Memory stays bounded while a subscriber catches up, however long that takes.
      if (catchUp.pending.length > MAX_PENDING) {
        closeSlow(sub, `over ${MAX_PENDING} live messages waiting while catching up`);
        catchingUp.delete(sub);
        continue;
      }
      flushPending(sub);
    }
    for (const sub of subscribers) tooSlow(sub);
  }

  const unsubscribe = feed.onBatch(publish);

  return {
    open(socket, subscription, keyId = null) {
      const sub: Subscriber<S> = {
        socket,
        subscription,
        keyId,
        catchUp: null,
        closed: false,
        drained: null,
        checking: false,
      };
      subscribers.add(sub);
      if (keyId !== null) keys.add(keyId);
      void start(sub);
      return {
        message(text) {
          let type: unknown;
          try {
            type = (JSON.parse(text) as { type?: unknown }).type;
          } catch {
            type = undefined;
          }
          if (type === "ping") send(sub, JSON.stringify({ type: "pong" }));
          else
            send(
              sub,
              JSON.stringify({ type: "error", message: 'the server only answers {"type":"ping"}' }),
            );
        },
        drain() {
          sub.drained?.();
        },
        closed() {
          sub.closed = true;
          sub.drained?.();
          if (subscribers.delete(sub) && keyId !== null) keys.remove(keyId);
          catchingUp.delete(sub);
          transport.unsubscribeAll(socket);
        },
      };
    },
    revoke(keyId) {
      closeRevoked(new Set([keyId]));
    },
    close() {
      unsubscribe();
      keys.stop();
      for (const sub of subscribers) {
        sub.closed = true;
        sub.drained?.();
        transport.close(
          sub.socket,
          GOING_AWAY_CLOSE,
          "the server is shutting down; reconnect with since=<last cursor>",
        );
      }
      subscribers.clear();
      catchingUp.clear();
    },
    get size() {
      return subscribers.size;
    },
  };
}
