/** Starts and talks to `receiver-process.ts` in a process of its own. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Latency percentiles from write to receipt, in ms (null when nothing arrived). */
export interface Latency {
  samples: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/** Whether changes 1…expected each arrived exactly once. */
export interface Verification {
  expected: number;
  requests: number;
  distinct: number;
  /** Changes never received. */
  missing: number;
  /** Changes received more than once, and the requests beyond the first. */
  duplicated: number;
  extra_requests: number;
  /** Ids past `expected` (changes nobody wrote). */
  unexpected: number;
  /** Requests whose body had no readable `after.id`. */
  unreadable: number;
  missing_sample: number[];
  duplicated_sample: number[];
}

export interface SoakReceiver {
  url: string;
  pid: number | undefined;
  /** Requests and latency since the previous call; starts a new interval. */
  interval(): Promise<Latency & { requests: number }>;
  /** Over the whole run. */
  total(): Promise<Latency & { requests: number; distinct: number; unreadable: number }>;
  verify(expected: number): Promise<Verification>;
  stop(): Promise<void>;
}

// On Bun, like the runtime benchmark's receiver: as little of the cores as it can take.
const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

export async function startSoakReceiver(): Promise<SoakReceiver> {
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
    interval: async () => JSON.parse(await ask("interval")),
    total: async () => JSON.parse(await ask("total")),
    verify: async (expected) => JSON.parse(await ask(`verify ${expected}`)) as Verification,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}
