/** The Deno server (`deno run -A adapters/hosts/deno/main.ts`) as a process on the suite's database. */
import type { TestDatabase } from "../../support/database.ts";
import { startServer } from "../../support/server-process.ts";
import { CONTRACT_ENV, type ContractTarget, requireFiles, toWebSocketUrl } from "../target.ts";

export async function startDenoTarget(db: TestDatabase): Promise<ContractTarget> {
  requireFiles("Deno", "adapters/hosts/deno/main.ts");
  const server = await startServer({ ...CONTRACT_ENV, DATABASE_URL: db.url }, { runtime: "deno" });
  return {
    name: "Deno",
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
