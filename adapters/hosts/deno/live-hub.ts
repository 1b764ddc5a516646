import { HttpProblem } from "../../../src/api/problem.ts";
import { createLiveHub } from "../../../src/live/hub.ts";
import { createTopicTransport } from "../../../src/live/topic-transport.ts";
import type { HostLive, LiveDependencies } from "../server/server-observers.ts";
import { type DenoWebSocket, denoGlobal } from "./deno-api.ts";

/** Options of `createDenoLiveHub`. */
export interface DenoLiveHubOptions extends LiveDependencies {
  /**
   * Seconds between Deno's pings; a peer that answers none within it is closed (default 60, as
   * on Bun).
   */
  idleTimeoutSeconds?: number;
}

/** The WebSocket side of a Deno server: the API's upgrade and the feed's fan-out. */
export interface DenoLiveHub extends HostLive {
  /** Sockets open now. */
  readonly size: number;
}

/**
 * Live notifications on Deno: the core's hub (src/live/hub.ts) over in-memory topics
 * (src/live/topic-transport.ts) of the Web-standard sockets `Deno.upgradeWebSocket` returns. Deno
 * has no drain event: a replay waiting for a slow socket polls its `bufferedAmount`.
 */
export function createDenoLiveHub(options: DenoLiveHubOptions): DenoLiveHub {
  const transport = createTopicTransport<DenoWebSocket>();
  const hub = createLiveHub({ ...options, transport });
  const idleTimeout = options.idleTimeoutSeconds ?? 60;
  const decoder = new TextDecoder();
  return {
    upgrade(c, subscription, principal) {
      let upgraded: { socket: DenoWebSocket; response: Response };
      try {
        upgraded = denoGlobal().upgradeWebSocket(c.req.raw, { idleTimeout });
      } catch (error) {
        throw new HttpProblem(
          400,
          "BAD_REQUEST",
          `the WebSocket upgrade failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      const { socket, response } = upgraded;
      socket.binaryType = "arraybuffer";
      // The socket is CONNECTING until Deno has sent the 101: the hub takes it once open.
      socket.onopen = () => {
        const connection = hub.open(socket, subscription, principal.keyId);
        socket.onmessage = (event: MessageEvent) => {
          const { data } = event;
          connection.message(typeof data === "string" ? data : decoder.decode(data as ArrayBuffer));
        };
        socket.onclose = () => connection.closed();
      };
      return response;
    },
    revoke(keyId) {
      hub.revoke(keyId);
    },
    close() {
      hub.close();
    },
    get size() {
      return hub.size;
    },
  };
}
