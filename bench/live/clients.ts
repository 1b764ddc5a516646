/** Starts and talks to `client-process.ts` processes, each holding a share of the subscribers. */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fail } from "../support/fail.ts";

const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

/** What one client process reports for a phase (see client-process.ts). */
export interface Collected {
  /** [receive − commit in tenths of a ms, count] */
  histogram: [number, number][];
  delivered: number;
  missing: number;
  duplicates: number;
  unexpected: number;
  others: number;
  closes: { code: number; reason: string }[];
  /** Per expected change, the first and last time one of this process's sockets received it. */
  first: (number | null)[];
  last: (number | null)[];
}

export interface ClientProcess {
  pid: number;
  open(url: string, sockets: number): Promise<{ ready: number; ms: number }>;
  reset(base: number): Promise<void>;
  count(): Promise<{ changes: number; closed: number }>;
  collect(ids: number[], t: number[]): Promise<Collected>;
  close(): Promise<void>;
  stop(): Promise<void>;
}

export function startClient(): ClientProcess {
  const child: ChildProcess = spawn(BUN, [join(import.meta.dirname, "client-process.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const pending: ((line: string) => void)[] = [];
  lines.on("line", (line) => pending.shift()?.(line));
  async function ask<T>(command: object): Promise<T> {
    const answer = new Promise<string>((resolve) => pending.push(resolve));
    child.stdin?.write(`${JSON.stringify(command)}\n`);
    const reply = JSON.parse(await answer) as T & { error?: string };
    if (reply.error) fail(`client ${child.pid}: ${reply.error}`);
    return reply;
  }
  if (child.pid === undefined) fail("a client process did not start");
  return {
    pid: child.pid,
    open: (url, sockets) => ask({ cmd: "open", url, sockets }),
    reset: async (base) => {
      await ask({ cmd: "reset", base });
    },
    count: () => ask({ cmd: "count" }),
    collect: (ids, t) => ask({ cmd: "collect", ids, t }),
    close: async () => {
      await ask({ cmd: "close" });
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin?.end();
      }),
  };
}
