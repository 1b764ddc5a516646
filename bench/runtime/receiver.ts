/** Starts and talks to `receiver-process.ts` in a process of its own. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Latency percentiles, in milliseconds, from write to receipt. */
export interface LatencyStats {
  samples: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Requests since the last reset, and how many distinct (observer, change) pairs they carried. */
export interface ReceivedCheck {
  received: number;
  distinct: number;
  duplicates: number;
}

export interface LatencyReceiver {
  url: string;
  /** The receiver process's id (for its CPU time). */
  pid: number | undefined;
  count(): Promise<number>;
  /** Percentiles of every latency since the last reset (exact: all samples kept and sorted). */
  stats(): Promise<LatencyStats>;
  check(): Promise<ReceivedCheck>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

// On Bun: the lightest receiver at hand, so that it takes as little of the two cores as it can
// from the system under test (a real receiver runs elsewhere).
const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

export async function startLatencyReceiver(): Promise<LatencyReceiver> {
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
    stats: async () => JSON.parse(await ask("stats")) as LatencyStats,
    check: async () => JSON.parse(await ask("check")) as ReceivedCheck,
    reset: async () => void (await ask("reset")),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}
