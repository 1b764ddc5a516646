import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; we release it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A loopback address no test listens on (Linux routes all of 127/8 to lo): any port on it refuses
 * connections. A free port of 127.0.0.1 does not stay free: another process may be given it
 * before the test connects, and answer.
 */
export const NOTHING_LISTENS = "127.0.0.78";

/**
 * What a server prints when the port it was given was taken meanwhile (Bun, Deno, Node,
 * nats-server, mariadbd): a port picked free may be given to another process before the child
 * binds it, and then the child is started again on another one.
 */
export const PORT_TAKEN =
  /Is port \d+ in use|[Aa]ddress already in use|AddrInUse|EADDRINUSE|Bind on TCP\/IP port/;

/**
 * `start` on a free port, and again on another (three tries at most) when the port was taken
 * before the child bound it: the error's text matches `PORT_TAKEN` (starters put what the child
 * printed in their errors).
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (tries >= 3 || !PORT_TAKEN.test(String(error))) throw error;
    }
  }
}
