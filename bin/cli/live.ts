/**
 * The live stream (`GET /api/observers/ws`) for tail and listen: subscribes with the filters,
 * reconnects with `since=<last cursor>` after a drop (nothing missed, nothing twice), and stops on
 * Ctrl-C (SIGINT/SIGTERM) by closing the socket cleanly.
 */
import type { ApiClient } from "./client.ts";
import { displayUrl } from "./client.ts";
import { type CommandContext, stringOption } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { observerIdOf } from "./observers-io.ts";
import { warn } from "./output.ts";

export interface LiveMessage {
  type: string;
  cursor?: string;
  [field: string]: unknown;
}

/** Options shared by tail and listen. */
export const LIVE_OPTIONS = {
  "entity-type": { type: "string" },
  "event-type": { type: "string" },
  observer: { type: "string" },
} as const;

export const LIVE_HELP = `--entity-type <name>   only changes of this entity type
  --event-type <type>    INSERT, UPDATE, DELETE or CUSTOM
  --observer <id|name>   this observer's executions, and changes of its entity and event type`;

/** The subscription's query parameters from the command's options. */
export async function liveParams(context: CommandContext): Promise<Record<string, string>> {
  const params: Record<string, string> = {};
  const entity = stringOption(context.values, "entity-type");
  const event = stringOption(context.values, "event-type");
  const observer = stringOption(context.values, "observer");
  if (entity !== undefined) params.entity_type = entity;
  if (event !== undefined) params.event_type = event.toUpperCase();
  if (observer !== undefined) params.observer_id = await observerIdOf(context.client(), observer);
  return params;
}

const MAX_BACKOFF_MS = 10_000;

type WebSocketWithHeaders = new (
  url: string,
  init: { headers: Record<string, string> },
) => WebSocket;

/**
 * Runs until Ctrl-C (resolves 0) or a refusal that reconnecting cannot fix (throws: a revoked or
 * refused key is exit 3). `onMessage` gets every `change` and `execution` message.
 */
export function streamLive(
  client: ApiClient,
  params: Record<string, string>,
  onMessage: (message: LiveMessage) => void | Promise<void>,
  onReady: () => void,
): Promise<number> {
  if (typeof WebSocket !== "function") {
    throw new CliError(
      EXIT.failed,
      "this Node has no WebSocket: the live commands need Node 22 or later",
    );
  }
  return new Promise((resolve, reject) => {
    let cursor: string | undefined;
    let socket: WebSocket | undefined;
    let stopping = false;
    let backoff = 500;
    let everOpen = false;
    let readyShown = false;
    let queue = Promise.resolve();

    let timer: ReturnType<typeof setTimeout> | undefined;
    const reconnect = () => {
      timer = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    };
    const stop = () => {
      stopping = true;
      clearTimeout(timer);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (socket && socket.readyState <= 1) socket.close(1000, "client stopped");
      else resolve(EXIT.ok);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);

    const connect = () => {
      if (stopping) return;
      const url = client.url("/api/observers/ws", {
        ...params,
        ...(cursor ? { since: cursor } : {}),
      });
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      // Node's (undici's) WebSocket takes headers as a non-standard option: the token stays out
      // of the URL (and so out of access logs).
      const ws = new (WebSocket as unknown as WebSocketWithHeaders)(url.toString(), {
        headers: client.authHeaders(),
      });
      socket = ws;
      let opened = false;
      let closed = false;
      const onClose = (code: number, reason: string) => {
        if (closed) return;
        closed = true;
        if (stopping) {
          resolve(EXIT.ok);
          return;
        }
        if (code === 1008) {
          reject(
            new CliError(
              EXIT.unreachable,
              `the server closed the stream: ${reason || "policy violation"} (was the key revoked?)`,
            ),
          );
          return;
        }
        if (!opened && !everOpen) {
          // Never connected: say why with a plain request (401, 404, unreachable ...).
          client
            .raw("GET", "/api/observers/ws", { query: params })
            .then((response) => {
              if (response.status === 426) {
                warn(
                  `live stream unavailable (WebSocket refused, code ${code}); retrying in ${backoff} ms`,
                );
                reconnect();
                return;
              }
              reject(client.failure("GET", "/api/observers/ws", response));
            })
            .catch(reject);
          return;
        }
        warn(`disconnected (${code}${reason ? ` ${reason}` : ""}); reconnecting in ${backoff} ms`);
        reconnect();
      };
      ws.addEventListener("open", () => {
        opened = true;
        everOpen = true;
        backoff = 500;
      });
      ws.addEventListener("close", (event) => onClose(event.code, event.reason));
      ws.addEventListener("error", () => {
        // undici 6 (Node 22) fires only `error` for a refused handshake and stays CONNECTING.
        if (!opened) setTimeout(() => onClose(1006, ""), 50);
      });
      ws.addEventListener("message", (event) => {
        let message: LiveMessage;
        try {
          message = JSON.parse(String(event.data)) as LiveMessage;
        } catch {
          return;
        }
        if (typeof message.cursor === "string") cursor = message.cursor;
        if (message.type === "ready") {
          if (!readyShown) {
            readyShown = true;
            onReady();
          }
          return;
        }
        if (message.type !== "change" && message.type !== "execution") return;
        queue = queue
          .then(() => onMessage(message))
          .catch((error: unknown) => {
            warn(`error: ${error instanceof Error ? error.message : String(error)}`);
          });
      });
    };
    warn(`connecting to ${displayUrl(client.base)} ...`);
    connect();
  });
}
