/**
 * An Upstash-compatible Redis REST endpoint for tests: POST a JSON command array with
 * `Authorization: Bearer <token>`, get `{"result": ...}` or `{"error": "..."}`. Commands go to a
 * real Redis through node-redis, so the Upstash store is tested against real Redis behaviour.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "@redis/client";

export interface UpstashProxy {
  url: string;
  token: string;
  /** Commands received, in order (for assertions on paging). */
  commands: string[][];
  close(): Promise<void>;
}

export async function startUpstashProxy(redisUrl: string, token: string): Promise<UpstashProxy> {
  const redis = createClient({ url: redisUrl });
  redis.on("error", () => {});
  await redis.connect();
  const commands: string[][] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${token}`) {
        return reply(401, { error: "Unauthorized" });
      }
      let args: unknown;
      try {
        args = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return reply(400, { error: "ERR failed to parse command" });
      }
      if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === "string")) {
        return reply(400, { error: "ERR command must be a non-empty array of strings" });
      }
      commands.push(args);
      try {
        reply(200, { result: await redis.sendCommand(args) });
      } catch (error) {
        reply(400, { error: error instanceof Error ? error.message : String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    commands,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await redis.close();
    },
  };
}
