/**
 * The fault suite's webhook receiver: a real HTTP server on 127.0.0.1 that answers 204 after a
 * short random delay (so that deliveries are in flight when a fault strikes) and records, per
 * round, every request's `webhook-id` header and the change it carried (`event_id` of the default
 * webhook body). It can go down (listening socket closed, open connections dropped: senders get
 * connection errors, as from a stopped receiver) and come back on the same port.
 *
 * Memory: one entry per distinct webhook-id, not per request, so long runs stay small.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ReceivedLog } from "./tally.ts";

export interface FaultReceiver {
  /** `http://127.0.0.1:<port>`; the same across `down()` and `up()`. */
  url: string;
  /** Starts recording a new round and returns the webhook URL its observer must use. */
  beginRound(name: string): string;
  /** What the current round received so far (live: keeps filling until the next `beginRound`). */
  log(): ReceivedLog;
  /** Requests for another path than the current round's (a previous round's stragglers). */
  strays(): number;
  /** Whether it is accepting connections. */
  readonly isUp: boolean;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export interface FaultReceiverOptions {
  /** Each answer waits a uniformly random 0 … this many ms (default 10). */
  maxDelayMs?: number;
  random?: () => number;
}

function emptyLog(): ReceivedLog {
  return { requests: 0, unreadable: 0, byWebhookId: new Map(), lastRequestAt: 0 };
}

export async function startFaultReceiver(
  options: FaultReceiverOptions = {},
): Promise<FaultReceiver> {
  const maxDelayMs = options.maxDelayMs ?? 10;
  const random = options.random ?? Math.random;
  let roundPath = "/hook/none";
  let current = emptyLog();
  let strays = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url !== roundPath) {
        strays++;
        res.writeHead(410).end();
        return;
      }
      const log = current;
      log.requests++;
      log.lastRequestAt = performance.now();
      const header = req.headers["webhook-id"];
      let eventId: string | null = null;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { event_id?: unknown };
        if (typeof body.event_id === "string") eventId = body.event_id;
      } catch {}
      if (typeof header !== "string" || header === "" || eventId === null) {
        log.unreadable++;
      } else {
        const entry = log.byWebhookId.get(header);
        if (entry) {
          entry.count++;
          entry.events.add(eventId);
        } else {
          log.byWebhookId.set(header, { count: 1, events: new Set([eventId]) });
        }
      }
      const delay = Math.floor(random() * (maxDelayMs + 1));
      const reply = () => {
        if (!res.destroyed) res.writeHead(204).end();
      };
      if (delay === 0) reply();
      else setTimeout(reply, delay);
    });
  };

  let server: Server | null = null;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const next = createServer(handle);
      next.keepAliveTimeout = 30_000;
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        server = next;
        resolve((next.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);

  return {
    url: `http://127.0.0.1:${port}`,
    beginRound(name) {
      roundPath = `/hook/${encodeURIComponent(name)}`;
      current = emptyLog();
      return `http://127.0.0.1:${port}${roundPath}`;
    },
    log: () => current,
    strays: () => strays,
    get isUp() {
      return server !== null;
    },
    async down() {
      const closing = server;
      if (!closing) return;
      server = null;
      const closed = new Promise<void>((resolve) => closing.close(() => resolve()));
      // In-flight requests and idle keep-alive sockets are cut too, as when a receiver dies.
      closing.closeAllConnections();
      await closed;
    },
    async up() {
      if (server) return;
      try {
        await listen(port);
      } catch (error) {
        throw new Error(
          `the receiver could not listen on port ${port} again (${String(error)}): another process took it while it was down`,
        );
      }
    },
    async close() {
      const closing = server;
      server = null;
      if (!closing) return;
      const closed = new Promise<void>((resolve) => closing.close(() => resolve()));
      closing.closeAllConnections();
      await closed;
    },
  };
}
