/**
 * A TCP proxy in front of the test PostgreSQL that can make one new connection fail exactly while
 * postgres.js runs its own array-type query (`fetch_types`, the first statement on every
 * connection): once armed, it holds the next such query, ends that connection's backend with
 * `pg_terminate_backend` (waiting until it is gone) and lets the backend's FATAL error through, as
 * a termination, a restart or a failover landing at that moment would. postgres.js 3.4.9 drops that
 * query's promise (adapters/drivers/postgres/driver-defects.ts), so the failure surfaces as an unhandled
 * rejection in the process that opened the connection.
 */
import { createServer, Socket } from "node:net";
import type postgres from "postgres";

export interface TypeFetchSaboteur {
  /** `postgres://…@127.0.0.1:<proxy port>/<database>` */
  url(database: string): string;
  /** Fails the next array-type query that passes. */
  arm(): void;
  /** How many it has failed so far. */
  fired(): number;
  close(): Promise<void>;
}

/**
 * Proxies to `upstream` (a postgres URL); `admin` is a connection to the same server, used to end
 * the backend behind a held connection.
 */
export async function startTypeFetchSaboteur(
  upstream: string,
  admin: postgres.Sql,
): Promise<TypeFetchSaboteur> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  let armed = false;
  let fired = 0;
  const server = createServer((client) => {
    const backend = new Socket();
    sockets.add(client);
    sockets.add(backend);
    const closeBoth = () => {
      client.destroy();
      backend.destroy();
      sockets.delete(client);
      sockets.delete(backend);
    };
    client.on("error", closeBoth);
    backend.on("error", closeBoth);
    client.on("close", closeBoth);
    backend.on("close", closeBoth);
    backend.on("data", (chunk: Buffer) => client.write(chunk));
    backend.connect(Number(target.port || 5432), target.hostname, () => {
      client.on("data", (chunk: Buffer) => {
        if (!armed || !chunk.includes("typarray")) {
          backend.write(chunk);
          return;
        }
        armed = false;
        client.pause();
        const port = backend.localPort;
        void admin`
          SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
          WHERE client_port = ${port ?? -1} AND client_addr = '127.0.0.1'`
          .then(() => {
            fired++;
          })
          .finally(() => {
            // The backend is gone: the client reads its FATAL error and the close.
            if (!backend.destroyed) backend.write(chunk);
            client.resume();
          });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url(database) {
      const url = new URL(upstream);
      url.host = `127.0.0.1:${port}`;
      url.pathname = `/${encodeURIComponent(database)}`;
      return url.toString();
    },
    arm() {
      armed = true;
    },
    fired: () => fired,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
