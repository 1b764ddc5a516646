import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach } from "vitest";

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. `/hook?x=1`. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as UTF-8 text. */
  text: string;
  /** When the whole request had arrived (epoch ms, this machine's clock, as the database's). */
  receivedAt: number;
}

/** What the receiver answers; a function may also write to `res` itself and return nothing. */
export type ReceiverReply =
  | { status?: number; headers?: Record<string, string>; body?: string | Buffer }
  | undefined;
export type ReceiverHandler = (
  request: ReceivedRequest,
  res: ServerResponse,
) => ReceiverReply | Promise<ReceiverReply>;

/** A real HTTP server on 127.0.0.1 recording every request. Close it in `afterAll`/`afterEach`. */
export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Replaces the handler (default: 204 with an empty body). */
  reply(handler: ReceiverHandler): void;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(handler?: ReceiverHandler): Promise<Receiver> {
  let current: ReceiverHandler = handler ?? (() => ({ status: 204 }));
  const requests: ReceivedRequest[] = [];
  const waiters: { count: number; resolve: (r: ReceivedRequest[]) => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const received: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body,
        text: body.toString("utf8"),
        receivedAt: Date.now(),
      };
      requests.push(received);
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(requests);
      }
      try {
        const reply = await current(received, res);
        if (res.writableEnded || res.headersSent) return;
        res.writeHead(reply?.status ?? 204, reply?.headers ?? {});
        res.end(reply?.body ?? "");
      } catch (error) {
        res.writeHead(500);
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply(next) {
      current = next;
    },
    waitFor(count) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * One receiver for a test file: started before its tests, closed after them, and emptied before
 * each test with `reply` restored as the default answer. The returned object is filled in by
 * `beforeAll`, so use it inside tests and hooks only.
 */
export function useReceiver(reply: ReceiverHandler): Receiver {
  const receiver = {} as Receiver;
  beforeAll(async () => {
    Object.assign(receiver, await startReceiver(reply));
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.reply(reply);
  });
  return receiver;
}
