/** Starts and talks to `producer-process.ts` in a process of its own. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** What one offered load achieved, and the producers' own INSERT round trips (ms). */
export interface Produced {
  changes: number;
  achieved: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
}

export interface Producer {
  /** The producer process's id (for its CPU time). */
  pid: number | undefined;
  produce(rate: number, seconds: number): Promise<Produced>;
  stop(): Promise<void>;
}

const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

export function startProducer(url: string, connections: number): Producer {
  const child = spawn(
    BUN,
    [join(import.meta.dirname, "producer-process.ts"), url, String(connections)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  lines.on("line", (line) => pending.shift()?.(line));
  return {
    pid: child.pid,
    async produce(rate, seconds) {
      const answer = new Promise<string>((resolve) => pending.push(resolve));
      child.stdin.write(`${JSON.stringify({ rate, seconds })}\n`);
      const result = JSON.parse(await answer) as Produced;
      return {
        ...result,
        commit_p50_ms: result.commit_p50_ms ?? Number.NaN,
        commit_p99_ms: result.commit_p99_ms ?? Number.NaN,
      };
    },
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}
