/** Starts and talks to `consumer-process.ts` (the external JetStream consumer) in its own process. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fail } from "../support/fail.ts";

export interface ExternalStats {
  received: number;
  distinct: number;
  /** Messages not in the FraiseQL wire format (subject, `Nats-Msg-Id`, JSON payload). */
  malformed: number;
  samples: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface ExternalConsumer {
  pid: number | undefined;
  count(): Promise<number>;
  stats(): Promise<ExternalStats>;
  /** The consumer's own view on the server: not yet delivered, delivered and not yet acked. */
  info(): Promise<{ pending: number; ack_pending: number }>;
  /** Stops reading, deletes its durable consumer, exits. */
  stop(): Promise<void>;
}

const BUN = join(import.meta.dirname, "../../node_modules/.bin/bun");

export async function startExternalConsumer(options: {
  url: string;
  stream: string;
  durable: string;
  prefix: string;
}): Promise<ExternalConsumer> {
  const child = spawn(
    BUN,
    [
      join(import.meta.dirname, "consumer-process.ts"),
      options.url,
      options.stream,
      options.durable,
      options.prefix,
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  lines.on("line", (line) => pending.shift()?.(line));
  const ask = (command: string | null) => {
    const answer = new Promise<string>((resolve) => pending.push(resolve));
    if (command) child.stdin.write(`${command}\n`);
    return answer;
  };
  const ready = await Promise.race([ask(null), exited.then(() => null)]);
  if (ready !== "ready") fail("the external consumer exited before it was consuming");
  return {
    pid: child.pid,
    count: async () => Number(await ask("count")),
    stats: async () => JSON.parse(await ask("stats")) as ExternalStats,
    info: async () => JSON.parse(await ask("info")) as { pending: number; ack_pending: number },
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
