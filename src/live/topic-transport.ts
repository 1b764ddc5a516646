/**
 * A `LiveTransport` for hosts whose WebSockets are the Web-standard kind (Deno's
 * `Deno.upgradeWebSocket`, Node's `ws`-like servers wrapping the same surface): topics are a map
 * of sets in memory, and publishing sends to each socket of the topic. The hub still renders each
 * message once per topic; only the send is per socket.
 */
import type { LiveTransport } from "./hub.ts";

/** The part of a server-side WebSocket the transport uses. */
export interface WebSocketLike {
  /** 1 when open (`WebSocket.OPEN`). */
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

/** Options of `createTopicTransport`. */
export interface TopicTransportOptions {
  /**
   * How often a replay waiting for a socket to drain checks its `bufferedAmount` (Web-standard
   * sockets have no drain event). Default 50 ms.
   */
  drainPollMs?: number;
}

/** The in-memory transport, with the topics' sizes for tests and stats. */
export interface TopicTransport<S extends WebSocketLike> extends LiveTransport<S> {
  /** Topics with at least one socket. */
  readonly topicCount: number;
}

/** In-memory topics over Web-standard WebSockets; see the file comment. */
export function createTopicTransport<S extends WebSocketLike>(
  options: TopicTransportOptions = {},
): TopicTransport<S> {
  const topics = new Map<string, Set<S>>();
  const joined = new Map<S, string[]>();

  function send(socket: S, text: string): void {
    // A closing socket drops what it is sent, as Bun's do (some hosts throw instead).
    if (socket.readyState !== OPEN) return;
    try {
      socket.send(text);
    } catch {
      // Closed between the check and the send: its close event follows.
    }
  }

  return {
    subscribe(socket, topic) {
      let sockets = topics.get(topic);
      if (!sockets) {
        sockets = new Set();
        topics.set(topic, sockets);
      }
      sockets.add(socket);
      const names = joined.get(socket);
      if (names) names.push(topic);
      else joined.set(socket, [topic]);
    },
    unsubscribeAll(socket) {
      for (const topic of joined.get(socket) ?? []) {
        const sockets = topics.get(topic);
        sockets?.delete(socket);
        if (sockets?.size === 0) topics.delete(topic);
      }
      joined.delete(socket);
    },
    publish(topic, text) {
      for (const socket of topics.get(topic) ?? []) send(socket, text);
    },
    hasSubscribers(topic) {
      return (topics.get(topic)?.size ?? 0) > 0;
    },
    send,
    bufferedAmount(socket) {
      return socket.bufferedAmount;
    },
    close(socket, code, reason) {
      try {
        socket.close(code, reason);
      } catch {
        // Already closed.
      }
    },
    drainPollMs: options.drainPollMs ?? 50,
    get topicCount() {
      return topics.size;
    },
  };
}
