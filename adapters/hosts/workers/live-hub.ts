/**
 * The live hub on Cloudflare Workers: a Durable Object per tenant (and one, "global", for unscoped
 * admin subscribers) that holds the WebSockets of `WS /api/observers/ws` with the hibernation API
 * and fans out what `publishLive` (live-publisher.ts) posts to it. The Durable Object class in the
 * Worker's entry only delegates to `LiveHub`'s handlers.
 *
 * Routing: a socket is accepted with its subscription's two topics as tags (topics.ts), and each
 * published item names, per payload mode, the tags of every topic selecting it; publishing is
 * `ctx.getWebSockets(tag)` per tag, nothing evaluated per socket.
 *
 * Positions (all in the feed's cursor space, see src/live/cursor.ts):
 * - the hub stores, in `ctx.storage`, the cursor up to which it has been handed every item meant
 *   for it (`position`). Items at or before it in their stream are duplicates (two publishers ran
 *   from the same feed position) and are dropped; every message carries a cursor no earlier than
 *   it, so a client's cursor never moves back.
 * - the "global" hub receives every item, so its position is the feed's: `publishLive` starts
 *   there (see live-publisher.ts).
 *
 * The seam between replay and live (`since`): the socket is accepted (tagged) first and marked
 * catching-up; live items reaching it meanwhile are held in memory, in order. Then the hub reads
 * the tables' current end `to` (`readLivePositions`, below the xmin horizon), which is no earlier
 * than any item already handed to a hub, replays `(since, to]` from the tables, records `to` in
 * the socket's attachment and sends what it held. From then on, an item at or before `to` in its
 * stream went out with the replay and is skipped (it may still be published later: the feed may
 * lag the tables), and a later one goes out with a cursor no earlier than `to`. No gap, because
 * everything after `to` is published after the socket was tagged; no duplicate, because of the
 * skip. Then `{"type":"ready","cursor":...}` (as the Bun hub sends): live from here. A socket
 * without `since` is live at once from the hub's position, or, on a hub never published to (no
 * position yet), goes through the same path with an empty replay. If the object restarts
 * mid-catch-up (the held items are lost with its memory), the attachment still says catching-up
 * and the socket is closed (1012) when the next item reaches it: the client resumes from the last
 * cursor it received.
 *
 * Backpressure: workerd gives a server-side WebSocket no `bufferedAmount` (workerd issue #988):
 * `send` queues without bound in the object's memory (128 MB per isolate). What bounds it here:
 * a replay sends at most `maxReplayMessages` (then closes with 1013: resume with `since`), a
 * catching-up socket holds at most `maxPendingMessages` live items (likewise), messages are small
 * (meta) or one change's row images (full), and a publish carries at most the publisher's batch.
 * Should the runtime start reporting `bufferedAmount`, a socket above `maxBufferedBytes` is closed
 * (1013) the same way.
 *
 * Revoked keys: each socket's attachment names the API key that opened it. `DELETE /api/keys/{id}`
 * posts `/revoke` to the hub of the key's tenant, which closes that key's sockets (1008) at once;
 * and while key-bound sockets are open the hub keeps an alarm every `keyCheckMs` (default 5 s)
 * that re-checks all their keys in one query, so a key revoked any other way (by hand, or a
 * `/revoke` that failed) is closed within that bound. The alarm wakes a hibernating hub; a hub
 * holding only admin-token sockets sets none.
 */
import {
  decodeCursor,
  encodeCursor,
  isAfter,
  type LiveCursor,
  type StreamPosition,
} from "../../../src/live/cursor.ts";
import { laterCursor, reached } from "../../../src/live/feed.ts";
import {
  DEFAULT_KEY_CHECK_MS,
  REVOKED_CLOSE,
  REVOKED_REASON,
} from "../../../src/live/key-watch.ts";
import { replay } from "../../../src/live/replay.ts";
import type { LiveSubscription } from "../../../src/live/subscription.ts";
import { type Logger, silentLogger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import { liveApiKeyIds } from "../../../src/store/api-keys.ts";
import { readLivePositions } from "../../../src/store/live.ts";
import {
  KEY_HEADER,
  type PublishedBatch,
  type PublishedItem,
  SUBSCRIPTION_HEADER,
  topicTag,
} from "./live-wire.ts";
import {
  type DurableObjectState,
  type WorkersWebSocket,
  webSocketResponse,
  workersGlobals,
} from "./types.ts";

/** `{"type":"ready","cursor":...}`: the subscriber is live (after its replay, if any). */
function readyText(cursor: LiveCursor): string {
  return JSON.stringify({ type: "ready", cursor: encodeCursor(cursor) });
}

/** A message's text with another cursor (messages are `{"type":..,"cursor":..,...}` objects). */
function withCursor(text: string, cursor: LiveCursor): string {
  const message = JSON.parse(text) as { cursor: string };
  message.cursor = encodeCursor(cursor);
  return JSON.stringify(message);
}

/** Options of `LiveHub`. */
export interface LiveHubOptions {
  /** A SQL client for one catch-up (over Hyperdrive: `hyperdriveClient`); closed after it. */
  connect(): SqlClient;
  logger?: Logger;
  /** Most messages one catch-up replays before closing with 1013 (default 10 000). */
  maxReplayMessages?: number;
  /** Most live items held for a socket while it catches up (default 10 000). */
  maxPendingMessages?: number;
  /** Where the runtime reports `bufferedAmount`: close a socket above this (default 8 MiB). */
  maxBufferedBytes?: number;
  /** How often the keys of open sockets are re-checked (default 5 000 ms). */
  keyCheckMs?: number;
}

/** `{"type":"ping"}`, answered `{"type":"pong"}` (by the runtime, without waking the object). */
export const PING = '{"type":"ping"}';
export const PONG = '{"type":"pong"}';
const NOT_PING = JSON.stringify({
  type: "error",
  message: 'the server only answers {"type":"ping"}',
});

const POSITION_KEY = "position";
const OPEN = 1;
const RESUME = "reconnect with since=<the last cursor received>";

/** What the hub keeps with each socket (serialised with it, so it survives hibernation). */
interface Attachment {
  /** Replayed up to here (encoded); null without a replay. */
  after: string | null;
  catchingUp: boolean;
  /** The API key that opened the socket; null or absent: the admin token. */
  keyId?: string | null;
}

interface SocketState {
  after: LiveCursor | null;
  catchingUp: boolean;
  keyId: string | null;
}

/** A live message for one socket, before its own filter. */
interface Outgoing {
  stream: "changes" | "executions";
  position: StreamPosition;
  cursor: LiveCursor;
  text: string;
}

/** The hub's handlers: the Durable Object's `fetch`, `webSocketMessage`, `webSocketClose`, `webSocketError`. */
export class LiveHub {
  private readonly ctx: DurableObjectState;
  private readonly options: LiveHubOptions;
  private readonly logger: Logger;
  /** Everything meant for this hub up to here has been handed to it. */
  private position: LiveCursor | null = null;
  /** Sockets catching up, with the live items held for them. */
  private readonly pending = new Map<WebSocket, Outgoing[]>();
  private readonly states = new WeakMap<WebSocket, SocketState>();

  constructor(ctx: DurableObjectState, options: LiveHubOptions) {
    this.ctx = ctx;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    const { WebSocketRequestResponsePair } = workersGlobals();
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<string>(POSITION_KEY);
      this.position = stored === undefined ? null : decodeCursor(stored);
    });
  }

  /** `GET /connect` (a WebSocket upgrade), `POST /publish`, `POST /revoke`, `GET /position`. */
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/connect" && request.method === "GET") return this.connect(request);
    if (path === "/publish" && request.method === "POST") {
      return this.publish((await request.json()) as PublishedBatch);
    }
    if (path === "/revoke" && request.method === "POST") {
      const { key_id: keyId } = (await request.json()) as { key_id: string };
      return Response.json({ closed: this.closeRevoked(new Set([keyId])) });
    }
    if (path === "/position" && request.method === "GET") {
      return Response.json({ position: this.position && encodeCursor(this.position) });
    }
    return new Response("not found", { status: 404 });
  }

  private async connect(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const header = request.headers.get(SUBSCRIPTION_HEADER);
    if (!header) return new Response(`missing ${SUBSCRIPTION_HEADER}`, { status: 400 });
    // Trusted: only the Worker reaches a Durable Object, after checking the subscription.
    const subscription = JSON.parse(header) as LiveSubscription;
    const tags = await Promise.all([
      topicTag(subscription.changeTopic),
      topicTag(subscription.executionTopic),
    ]);
    const keyId = request.headers.get(KEY_HEADER);
    const { WebSocketPair } = workersGlobals();
    const pair = new WebSocketPair();
    const server = pair[1] as WorkersWebSocket;
    this.ctx.acceptWebSocket(server, tags);
    if (keyId !== null) await this.scheduleKeyCheck();
    if (subscription.since === null && this.position !== null) {
      // Live from here: everything published from now on has a cursor no earlier than this.
      this.setState(server, { after: null, catchingUp: false, keyId });
      this.send(server, readyText(this.position));
    } else {
      this.setState(server, { after: null, catchingUp: true, keyId });
      this.pending.set(server, []);
      this.ctx.waitUntil(this.catchUp(server, subscription));
    }
    return webSocketResponse(pair[0]);
  }

  /**
   * Replays `(since, to]` to a socket, then sends what arrived live meanwhile and `ready` (see
   * above). Without `since` (a hub that has never been published to, so it has no position to
   * start a socket from), only finds `to`: what was committed before it is not sent live.
   */
  private async catchUp(ws: WorkersWebSocket, subscription: LiveSubscription): Promise<void> {
    const limit = this.options.maxReplayMessages ?? 10_000;
    const since = subscription.since;
    let sql: SqlClient | undefined;
    try {
      sql = this.options.connect();
      const end = await readLivePositions(sql);
      // `end` is never behind `position` (both below the horizon, `end` read later); a cursor
      // from the future (forged) replays nothing and skips up to itself.
      const base = this.position === null ? end : laterCursor(this.position, end);
      const to = since === null ? base : laterCursor(base, since);
      if (since !== null) {
        let sent = 0;
        let full = false;
        const done = await replay(sql, subscription, since, to, (text) => {
          if (!this.pending.has(ws) || ws.readyState !== OPEN) return false;
          if (sent >= limit) {
            full = true;
            return false;
          }
          sent++;
          return this.send(ws, text);
        });
        if (!this.pending.has(ws)) return;
        if (done === null) {
          this.drop(ws, full ? 1013 : 1011, full ? `replay limit: ${RESUME}` : RESUME);
          return;
        }
      }
      if (!this.pending.has(ws)) return;
      // Synchronously from here: nothing is published between the switch and the flush.
      const held = this.pending.get(ws) ?? [];
      this.pending.delete(ws);
      this.setState(ws, { after: to, catchingUp: false, keyId: this.stateOf(ws).keyId });
      for (const outgoing of held) this.sendLive(ws, outgoing);
      // Everything the hub has been handed is now out to this socket, or before `to`.
      this.send(ws, readyText(this.position === null ? to : laterCursor(to, this.position)));
    } catch (error) {
      this.logger.log("error", "live catch-up failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      this.drop(ws, 1011, `catch-up failed: ${RESUME}`);
    } finally {
      await sql?.close();
    }
  }

  private async publish(batch: PublishedBatch): Promise<Response> {
    // No await until the position is stored: publishes are handled one at a time.
    let position = this.position;
    let sent = 0;
    for (const item of batch.items) {
      const feedCursor = decodeCursor(item.cursor);
      const at = feedCursor[item.stream];
      if (position !== null && !isAfter(at, position[item.stream])) continue;
      const cursor = position === null ? feedCursor : laterCursor(position, feedCursor);
      position = cursor;
      sent += this.deliver(item, at, cursor, encodeCursor(cursor) === item.cursor);
    }
    const to = decodeCursor(batch.to);
    position = position === null ? to : laterCursor(position, to);
    this.position = position;
    await this.ctx.storage.put(POSITION_KEY, encodeCursor(position));
    return Response.json({ position: encodeCursor(position), sent });
  }

  /** Sends an item to every socket one of its tags selects; returns how many it reached. */
  private deliver(item: PublishedItem, at: StreamPosition, cursor: LiveCursor, same: boolean) {
    let count = 0;
    for (const rendering of item.full ? [item.meta, item.full] : [item.meta]) {
      let text: string | undefined;
      for (const tag of rendering.tags) {
        for (const ws of this.ctx.getWebSockets(tag)) {
          text ??= same ? rendering.text : withCursor(rendering.text, cursor);
          this.sendLive(ws, { stream: item.stream, position: at, cursor, text });
          count++;
        }
      }
    }
    return count;
  }

  private sendLive(ws: WebSocket, outgoing: Outgoing): void {
    const held = this.pending.get(ws);
    if (held) {
      if (held.length >= (this.options.maxPendingMessages ?? 10_000)) {
        this.drop(ws, 1013, `fell behind while catching up: ${RESUME}`);
      } else {
        held.push(outgoing);
      }
      return;
    }
    const state = this.stateOf(ws);
    if (state.catchingUp) {
      // Accepted by an earlier incarnation of this object, whose catch-up died with it.
      this.drop(ws, 1012, `the hub restarted: ${RESUME}`);
      return;
    }
    let text = outgoing.text;
    if (state.after !== null) {
      if (!isAfter(outgoing.position, state.after[outgoing.stream])) return; // replayed
      if (!reached(outgoing.cursor, state.after)) {
        text = withCursor(text, laterCursor(outgoing.cursor, state.after));
      }
    }
    this.send(ws, text);
  }

  /** Sends one message; false when the socket is gone. */
  private send(ws: WebSocket, text: string): boolean {
    try {
      ws.send(text);
    } catch {
      return false;
    }
    const buffered = (ws as { bufferedAmount?: unknown }).bufferedAmount;
    if (typeof buffered === "number" && buffered > (this.options.maxBufferedBytes ?? 8 << 20)) {
      this.drop(ws, 1013, `too slow: ${RESUME}`);
      return false;
    }
    return true;
  }

  private drop(ws: WebSocket, code: number, reason: string): void {
    this.pending.delete(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }

  private stateOf(ws: WebSocket): SocketState {
    let state = this.states.get(ws);
    if (!state) {
      const attachment = (ws as WorkersWebSocket).deserializeAttachment() as Attachment | null;
      state = {
        after: attachment?.after ? decodeCursor(attachment.after) : null,
        catchingUp: attachment?.catchingUp ?? false,
        keyId: attachment?.keyId ?? null,
      };
      this.states.set(ws, state);
    }
    return state;
  }

  private setState(ws: WorkersWebSocket, state: SocketState): void {
    const attachment: Attachment = {
      after: state.after && encodeCursor(state.after),
      catchingUp: state.catchingUp,
      keyId: state.keyId,
    };
    ws.serializeAttachment(attachment);
    this.states.set(ws, state);
  }

  /** Closes (1008) the open sockets of the keys in `revoked`; returns how many. */
  private closeRevoked(revoked: ReadonlySet<string>): number {
    let closed = 0;
    for (const ws of this.ctx.getWebSockets()) {
      const { keyId } = this.stateOf(ws);
      if (keyId === null || !revoked.has(keyId)) continue;
      this.drop(ws, REVOKED_CLOSE, REVOKED_REASON);
      closed++;
    }
    return closed;
  }

  /** Open sockets' keys, each once. */
  private openKeys(): string[] {
    const keys = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== OPEN) continue;
      const { keyId } = this.stateOf(ws);
      if (keyId !== null) keys.add(keyId);
    }
    return [...keys];
  }

  /** Sets the key-check alarm unless one is set. */
  private async scheduleKeyCheck(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    await this.ctx.storage.setAlarm(Date.now() + (this.options.keyCheckMs ?? DEFAULT_KEY_CHECK_MS));
  }

  /**
   * The Durable Object's alarm: re-checks the keys of the open sockets in one query and closes the
   * revoked ones' (1008); set again while key-bound sockets remain.
   */
  async alarm(): Promise<void> {
    const keys = this.openKeys();
    if (keys.length === 0) return;
    let sql: SqlClient | undefined;
    try {
      sql = this.options.connect();
      const live = await liveApiKeyIds(sql, keys);
      this.closeRevoked(new Set(keys.filter((id) => !live.has(id))));
    } catch (error) {
      this.logger.log("warn", "live key check failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    } finally {
      await sql?.close();
    }
    if (this.openKeys().length > 0) await this.scheduleKeyCheck();
  }

  /** A client message: `{"type":"ping"}` (in any spacing) is answered; anything else is an error. */
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const text = typeof message === "string" ? message : new TextDecoder().decode(message);
    let type: unknown;
    try {
      type = (JSON.parse(text) as { type?: unknown } | null)?.type;
    } catch {
      type = undefined;
    }
    this.send(ws, type === "ping" ? PONG : NOT_PING);
  }

  webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.pending.delete(ws);
    try {
      // Completes the closing handshake (1005/1006 cannot be sent back).
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed (runtimes that reply to a close themselves).
    }
  }

  webSocketError(ws: WebSocket, error: unknown): void {
    this.pending.delete(ws);
    this.logger.log("debug", "live socket error", {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
