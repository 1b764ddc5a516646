/**
 * The Worker (adapters/workers/worker.ts: the API on `fetch`, the runtime on `scheduled`) in
 * `wrangler dev` on the repository's wrangler config: workerd, local, with Hyperdrive pointed at
 * the suite's database and state in a fresh `--persist-to`. Crons never fire by themselves in
 * `wrangler dev`; `--test-scheduled` exposes `/__scheduled`, which `tick` calls.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestDatabase } from "../../support/database.ts";
import { freePort } from "../../support/ports.ts";
import {
  CONTRACT_ADMIN_TOKEN,
  CONTRACT_ENV,
  type ContractTarget,
  ROOT,
  requireFiles,
  toWebSocketUrl,
} from "../target.ts";
import { startProcess } from "./process.ts";

const CONFIGS = ["wrangler.toml", "wrangler.jsonc", "wrangler.json"];

/**
 * Miniflare insists on a password in a Hyperdrive URL; a server that trusts local connections
 * (the tests') never asks for it, so any placeholder does.
 */
function withPassword(url: string): string {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = "unused";
  return parsed.toString();
}

export async function startWorkersTarget(db: TestDatabase): Promise<ContractTarget> {
  const config = CONFIGS.find((name) => existsSync(join(ROOT, name)));
  requireFiles("Workers", "adapters/workers/worker.ts", config ?? CONFIGS.join(" or "));
  const port = await freePort();
  const inspector = await freePort();
  const persist = mkdtempSync(join(tmpdir(), "contract-workers-"));
  const url = `http://127.0.0.1:${port}`;
  const args = ["dev", "--config", join(ROOT, config as string), "--ip", "127.0.0.1"];
  args.push("--port", String(port), "--inspector-port", String(inspector), "--test-scheduled");
  args.push("--persist-to", persist, "--show-interactive-dev-session=false");
  for (const [name, value] of Object.entries(CONTRACT_ENV)) args.push("--var", `${name}:${value}`);
  let worker: Awaited<ReturnType<typeof startProcess>>;
  try {
    worker = await startProcess({
      name: "wrangler dev",
      command: join(ROOT, "node_modules/.bin/wrangler"),
      args,
      env: {
        ...(process.env as Record<string, string>),
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: withPassword(db.url),
      },
      url,
      // Before its first cron run a Worker may call itself not running (503): serving is enough.
      healthy: (response) => response.status === 200 || response.status === 503,
      timeoutMs: 90_000,
    });
  } catch (error) {
    rmSync(persist, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    name: "Workers",
    apiUrl: url,
    wsUrl: toWebSocketUrl(url),
    adminToken: CONTRACT_ADMIN_TOKEN,
    /** One cron run (the runtime's and the live publisher's work), waited for. */
    async tick() {
      const response = await fetch(`${url}/__scheduled?cron=*+*+*+*+*`);
      const body = await response.text();
      if (!response.ok) throw new Error(`/__scheduled answered ${response.status}: ${body}`);
    },
    output: worker.output,
    stop() {
      stopped ??= worker.stop().finally(() => rmSync(persist, { recursive: true, force: true }));
      return stopped;
    },
  };
}
