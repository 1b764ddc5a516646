/** Starts and talks to `receiver-process.ts` (on Bun, like the runtime benchmark's receiver). */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { LatencyStats } from "../runtime/receiver.ts";

export interface PeerReceiver {
  url: string;
  /** The receiver process's id (for its CPU time). */
  pid: number | undefined;
  /** Requests received since the last reset. */
  count(): Promise<number>;
  /** Distinct row ids (`after.id`) received since the last reset. */
  unique(): Promise<number>;
  stats(): Promise<LatencyStats>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

export async function startPeerReceiver(): Promise<PeerReceiver> {
  const child = spawn(BUN, [join(import.meta.dirname, "receiver-process.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  lines.on("line", (line) => pending.shift()?.(line));
  const ask = (command: string | null) => {
    const answer = new Promise<string>((resolve) => pending.push(resolve));
    if (command) child.stdin.write(`${command}\n`);
    return answer;
  };
  const port = await ask(null);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    pid: child.pid,
    count: async () => Number(await ask("count")),
    unique: async () => Number(await ask("unique")),
    stats: async () => JSON.parse(await ask("stats")) as LatencyStats,
    reset: async () => void (await ask("reset")),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}
