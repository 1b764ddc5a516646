/**
 * The server as users run it (`bun adapters/hosts/bun/main.ts`, or `deno run -A adapters/hosts/deno/main.ts`),
 * in a child process the test can stop gracefully or kill -9.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { onFreePort } from "./ports.ts";

const ROOT = join(import.meta.dirname, "../..");
/** How each runtime starts the server (`npm run server`, `npm run server:deno`). */
const COMMANDS = {
  bun: [join(ROOT, "node_modules/.bin/bun"), "adapters/hosts/bun/main.ts"],
  deno: [join(ROOT, "node_modules/.bin/deno"), "run", "-A", "adapters/hosts/deno/main.ts"],
} as const;

/** Options of `startServer`. */
export interface StartServerOptions {
  /** Default `bun`. */
  runtime?: keyof typeof COMMANDS;
}

/** A running server process. */
export interface ServerProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** `fetch` against the server with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no cleanup at all. */
  kill9(): Promise<void>;
}

export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/**
 * Starts the server with `env` on a free port and waits until its health answers 200. A port is
 * free when picked, not when the child binds it: another process may take it in between, and
 * then the server starts again on another one.
 */
export async function startServer(
  env: Record<string, string>,
  options: StartServerOptions = {},
): Promise<ServerProcess> {
  return onFreePort((port) => startServerOn(port, env, options));
}

async function startServerOn(
  port: number,
  env: Record<string, string>,
  options: StartServerOptions,
): Promise<ServerProcess> {
  const token = env.OBSERVERS_ADMIN_TOKEN ?? TEST_ADMIN_TOKEN;
  const [command, ...args] = COMMANDS[options.runtime ?? "bun"];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: String(port),
      OBSERVERS_ADMIN_TOKEN: token,
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    printed += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    printed += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`server exited with ${child.exitCode} before it was healthy:\n${printed}`);
    }
    try {
      // Bounded: whatever took the port may accept the connection and never answer.
      const response = await fetch(`${url}/api/observers/runtime/health`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (response.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server was not healthy within 30 s:\n${printed}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    token,
    child,
    output: () => printed,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${token}`);
      if (init.body) headers.set("content-type", "application/json");
      return fetch(`${url}${path}`, { ...init, headers });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
    async kill9() {
      if (child.exitCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}
