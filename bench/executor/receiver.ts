/** Starts and talks to `receiver-process.ts` from the benchmark's process. */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface ReceiverProcess {
  url: string;
  /** Requests the receiver has answered so far. */
  count(): Promise<number>;
  stop(): Promise<void>;
}

export async function startReceiverProcess(): Promise<ReceiverProcess> {
  const child = spawn(
    process.execPath,
    [new URL("./receiver-process.ts", import.meta.url).pathname],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  lines.on("line", (line) => pending.shift()?.(line));
  const next = () => new Promise<string>((resolve) => pending.push(resolve));
  const port = await next();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    async count() {
      const answer = next();
      child.stdin.write("count\n");
      return Number(await answer);
    },
    stop() {
      return new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.stdin.end();
      });
    },
  };
}
