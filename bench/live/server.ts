/**
 * The Bun server as users run it (`bun adapters/hosts/bun/main.ts`), in a process of its own so that its
 * memory and CPU can be read apart from the benchmark's, the producer's and the clients'.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fail } from "../support/fail.ts";

const ROOT = join(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM (a graceful stop), then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts the server on a port the kernel picks and waits until it says where it listens. */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(BUN, ["adapters/hosts/bun/main.ts"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the server did not start within 30 s")),
      30_000,
    );
    lines.on("line", (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1].replace(/\/$/, ""));
      } else if (line.trim() !== "") process.stdout.write(`server: ${line}\n`);
    });
    void exited.then((code) =>
      reject(new Error(`the server exited with ${code} before it listened`)),
    );
  }).catch((error: Error) => fail(error.message));
  if (child.pid === undefined) fail("the server has no process id");
  return {
    url,
    pid: child.pid,
    child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
  };
}
