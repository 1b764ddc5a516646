/**
 * The CLI as users run it (`node bin/fraiseql-observers.ts ...`, Node's type stripping), in a
 * child process: run to completion, or start a long-running command (tail, listen) and stop it
 * with SIGINT as Ctrl-C would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

const CLI = join(import.meta.dirname, "../../bin/fraiseql-observers.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  /** Standard input. */
  input?: string;
}

function spawnCli(args: readonly string[], options: CliOptions): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NO_COLOR: "1",
      ...options.env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Runs the CLI to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin?.end(options.input ?? "");
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running command. */
export interface CliSession {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) contains `text`; rejects after `timeoutMs`. */
  waitFor(stream: "stdout" | "stderr", text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** SIGINT (Ctrl-C), then the exit. */
  interrupt(): Promise<CliResult>;
}

export function startCli(args: readonly string[], options: CliOptions = {}): CliSession {
  const child = spawnCli(args, options);
  const out = { stdout: "", stderr: "" };
  const waiters = new Set<() => void>();
  for (const stream of ["stdout", "stderr"] as const) {
    child[stream]?.on("data", (chunk: Buffer) => {
      out[stream] += chunk.toString();
      for (const wake of waiters) wake();
    });
  }
  const closed = new Promise<number | null>((resolve) =>
    child.once("close", (code) => resolve(code)),
  );
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor(stream, text, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const found = () =>
          typeof text === "string" ? out[stream].includes(text) : text.test(out[stream]);
        const check = () => {
          if (!found()) return false;
          cleanup();
          resolve(out[stream]);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for ${String(text)} on ${stream}:\n${out.stdout}\n${out.stderr}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = () => {
          check();
        };
        if (!check()) waiters.add(wake);
        closed.then(() => {
          if (!found()) {
            cleanup();
            reject(
              new Error(`the CLI exited before ${String(text)}:\n${out.stdout}\n${out.stderr}`),
            );
          }
        });
      });
    },
    async interrupt() {
      if (child.exitCode === null) child.kill("SIGINT");
      const code = await closed;
      return { code, stdout: out.stdout, stderr: out.stderr };
    },
  };
}
