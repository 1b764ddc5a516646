import { createServer, type Socket } from "node:net";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";
import { type EmbeddedClient, embeddedInternals } from "./embedded-client.ts";
import { SessionQueue } from "./session-queue.ts";

/** Options of `startEmbeddedSocket`. */
export interface EmbeddedSocketOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 picks a free one (read it from the returned `url`). */
  port: number;
}

/** A running socket server. */
export interface EmbeddedSocket {
  /** `postgres://postgres@<host>:<port>/postgres`. */
  url: string;
  /** Stops listening and disconnects its clients; the database stays open. */
  close(): Promise<void>;
}

/**
 * Serves the embedded database over the PostgreSQL wire protocol, so `psql` and applications can
 * connect while the runtime uses it in-process. It is pglite-socket's connection handler
 * (https://pglite.dev/docs/pglite-socket) with our own queue instead of PGLiteSocketServer's, which
 * can keep neither the runtime out of a client's transaction nor clients out of each other's
 * exchanges (see session-queue.ts). What clients should know:
 * - Every client and the runtime share one session, taking turns per exchange (a query, or a
 *   whole transaction). `BEGIN` in psql pauses the runtime and the other clients until `COMMIT`,
 *   `ROLLBACK` or disconnect; long transactions over the socket stall the observers.
 * - Session state is shared: SET, temporary tables, prepared statement names, LISTEN. `DISCARD
 *   ALL` (some poolers send it) would drop other clients' prepared statements.
 * - Notifications on channels the runtime listens to (`fraiseql_observers`) go to the runtime,
 *   not to the client whose write raised them; other channels reach clients as usual.
 * - Cancel requests are ignored. No TLS and no authentication: bind to loopback only.
 */
export async function startEmbeddedSocket(
  client: EmbeddedClient,
  options: EmbeddedSocketOptions,
): Promise<EmbeddedSocket> {
  const internals = embeddedInternals.get(client);
  if (!internals) throw new Error("startEmbeddedSocket needs a client from createEmbeddedClient");
  await client.db.waitReady;
  const host = options.host ?? "127.0.0.1";
  const queue = new SessionQueue(client.db, internals.deliver);
  // The handler only calls enqueue, clearQueueForHandler and clearTransactionIfNeeded, which
  // SessionQueue implements; the declared type is pglite-socket's own (unexported) queue class.
  const queryQueue = queue as unknown as PGLiteSocketHandlerOptions["queryQueue"];
  const handlers = new Set<PGLiteSocketHandler>();
  let stopping: Promise<void> | undefined;

  const server = createServer((socket: Socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener("close", forget);
    handler.addEventListener("error", forget);
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  const stop = () => {
    stopping ??= (async () => {
      internals.sockets.delete(stop);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...handlers].map((handler) => handler.detach(true)));
      await queue.dispose();
      await closed;
    })();
    return stopping;
  };
  internals.sockets.add(stop);
  return { url: `postgres://postgres@${host}:${port}/postgres`, close: stop };
}
