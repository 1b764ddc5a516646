/** The Bun server (`bun adapters/hosts/bun/main.ts`) as a process on the suite's database. */

import type { TestDatabase } from "../../support/database.ts";
import { startServer } from "../../support/server-process.ts";
import { CONTRACT_ENV, type ContractTarget, toWebSocketUrl } from "../target.ts";

export async function startBunTarget(db: TestDatabase): Promise<ContractTarget> {
  const server = await startServer({ ...CONTRACT_ENV, DATABASE_URL: db.url });
  return {
    name: "Bun",
    apiUrl: server.url,
    wsUrl: toWebSocketUrl(server.url),
    adminToken: server.token,
    // Long-running: NOTIFY and its poll make it work by itself.
    tick: async () => {},
    output: server.output,
    async stop() {
      await server.stop();
    },
  };
}
