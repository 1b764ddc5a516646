/**
 * A runtime in a child process of its own process group: its output collected, started when its
 * health endpoint answers, stopped with SIGTERM to the whole group (wrangler starts workerd as a
 * child), then SIGKILL if it lingers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "../target.ts";

/** How to start one. */
export interface ProcessOptions {
  /** For messages. */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** `http://127.0.0.1:<port>`, where the health endpoint will answer. */
  url: string;
  /** Whether a health answer means started (default: 200). */
  healthy?: (response: Response) => boolean;
  /** How long starting may take. */
  timeoutMs?: number;
}

/** A started runtime process. */
export interface RuntimeProcess {
  child: ChildProcess;
  output(): string;
  /** SIGTERM to the group; SIGKILL after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export async function startProcess(options: ProcessOptions): Promise<RuntimeProcess> {
  const healthy = options.healthy ?? ((response: Response) => response.status === 200);
  const child = spawn(options.command, options.args, {
    cwd: ROOT,
    detached: true,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  const collect = (chunk: Buffer) => {
    printed += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, name);
    } catch {}
  };
  const stop = async (graceMs = 15_000) => {
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${options.name} exited (${spawnError?.message ?? child.exitCode ?? child.signalCode}) before it served:\n${printed}`,
      );
    }
    try {
      const response = await fetch(`${options.url}/api/observers/runtime/health`);
      await response.arrayBuffer();
      if (healthy(response)) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`${options.name} did not serve its health within the time:\n${printed}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, output: () => printed, stop };
}
