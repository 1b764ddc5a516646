/**
 * The benchmark's webhook receiver, in its own process so it runs on the other core: answers every
 * request with 204 over keep-alive connections and counts them. Prints its port on stdout, then
 * answers "count" on stdin with the number of requests received so far.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let received = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    received++;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  for (const line of chunk.split("\n")) if (line === "count") process.stdout.write(`${received}\n`);
});
process.stdin.on("end", () => server.close(() => process.exit(0)));
