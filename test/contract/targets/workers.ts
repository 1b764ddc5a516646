/**
 * The Worker (adapters/hosts/workers/worker.ts: the API on `fetch`, the runtime on `scheduled`) in
 * `wrangler dev` on the repository's wrangler config: workerd, local, with Hyperdrive pointed at
 * the suite's database and state in a fresh `--persist-to`. Crons never fire by themselves in
 * `wrangler dev`; `--test-scheduled` exposes `/__scheduled`, which `tick` calls.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestDatabase } from "../../support/database.ts";
import { startWranglerDev } from "../../support/wrangler-dev.ts";
import {
  CONTRACT_ADMIN_TOKEN,
  CONTRACT_ENV,
  type ContractTarget,
  ROOT,
  requireFiles,
  toWebSocketUrl,
} from "../target.ts";

const CONFIGS = ["wrangler.toml", "wrangler.jsonc", "wrangler.json"];

export async function startWorkersTarget(db: TestDatabase): Promise<ContractTarget> {
  const config = CONFIGS.find((name) => existsSync(join(ROOT, name)));
  requireFiles("Workers", "adapters/hosts/workers/worker.ts", config ?? CONFIGS.join(" or "));
  const worker = await startWranglerDev({
    config: join(ROOT, config as string),
    databaseUrl: db.url,
    vars: CONTRACT_ENV,
  });
  return {
    name: "Workers",
    apiUrl: worker.url,
    wsUrl: toWebSocketUrl(worker.url),
    adminToken: CONTRACT_ADMIN_TOKEN,
    /** One cron run (the runtime's and the live publisher's work), waited for. */
    tick: () => worker.tick(),
    output: worker.output,
    stop: () => worker.stop(),
  };
}
