/**
 * A Worker in `wrangler dev` (workerd, local) for tests: Hyperdrive pointed at a test database,
 * state in a fresh `--persist-to`, `--test-scheduled` so `tick` can fire the cron handler. Fails,
 * never skips, when wrangler cannot start.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

const ROOT = join(import.meta.dirname, "../..");
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");

/** A running `wrangler dev`. */
export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** What wrangler and the Worker printed so far (for failure messages). */
  output(): string;
  /** Fires the cron handler (`/__scheduled`) and waits for it to finish. */
  tick(): Promise<void>;
  /** Ends wrangler and workerd (the whole process group) and removes the state. Safe twice. */
  stop(): Promise<void>;
}

/** Options of `startWranglerDev`. */
export interface WranglerDevOptions {
  /** The wrangler config, absolute or relative to the repository. */
  config: string;
  /** The test database the `HYPERDRIVE` binding reaches. */
  databaseUrl: string;
  /** `--var NAME:value` for each entry. */
  vars?: Readonly<Record<string, string>>;
}

/**
 * Miniflare insists on a password in a Hyperdrive URL; a server that trusts local connections
 * (the tests') never asks for it, so any placeholder does.
 */
function withPassword(url: string): string {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = "unused";
  return parsed.toString();
}

export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  const persist = mkdtempSync(join(tmpdir(), "wrangler-dev-"));
  const port = await freePort();
  const inspector = await freePort();
  const args = ["dev", "--config", options.config, "--ip", "127.0.0.1", "--port", String(port)];
  args.push("--inspector-port", String(inspector), "--test-scheduled", "--persist-to", persist);
  args.push("--show-interactive-dev-session=false");
  for (const [name, value] of Object.entries(options.vars ?? {})) {
    args.push("--var", `${name}:${value}`);
  }
  const child: ChildProcess = spawn(WRANGLER, args, {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: withPassword(options.databaseUrl),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      // wrangler starts workerd as a child: end the whole process group.
      process.kill(-child.pid, name);
    } catch {}
  };
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
      rmSync(persist, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadline = Date.now() + 60_000;
  while (!output.includes("Ready on")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    output: () => output,
    async tick() {
      const response = await fetch(`${url}/__scheduled?cron=*+*+*+*+*`);
      const body = await response.text();
      if (!response.ok) {
        throw new Error(`/__scheduled answered ${response.status}: ${body}\n${output}`);
      }
    },
    stop,
  };
}
