/** Starts and talks to `producer-process.ts` in a process of its own. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** What one load achieved, and the producers' own statement round trips (ms). */
export interface Produced {
  /** Rows written (each one change). */
  changes: number;
  /** Statements sent (each one commit): `changes` / rows per statement. */
  statements: number;
  seconds: number;
  /** Rows per second. */
  achieved: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
}

/** How to write: rows per statement (1: single-row commits); for `flood`, when to stop. */
export interface FloodOptions {
  batch?: number;
  /** Stop after this many seconds… */
  seconds?: number;
  /** …or after this many rows. */
  total?: number;
}

export interface Producer {
  /** The producer process's id (for its CPU time). */
  pid: number | undefined;
  /** Offered load: `rate` rows/s for `seconds`, `batch` rows per statement (default 1). */
  produce(rate: number, seconds: number, batch?: number): Promise<Produced>;
  /** As fast as the connections go, one statement in flight on each. */
  flood(options: FloodOptions): Promise<Produced>;
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
  const ask = async (command: object): Promise<Produced> => {
    const answer = new Promise<string>((resolve) => pending.push(resolve));
    child.stdin.write(`${JSON.stringify(command)}\n`);
    const result = JSON.parse(await answer) as Produced;
    return {
      ...result,
      commit_p50_ms: result.commit_p50_ms ?? Number.NaN,
      commit_p99_ms: result.commit_p99_ms ?? Number.NaN,
    };
  };
  return {
    pid: child.pid,
    produce: (rate, seconds, batch = 1) => ask({ rate, seconds, batch }),
    flood: ({ batch = 1, seconds, total }) => ask({ rate: 0, seconds, total, batch }),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}
