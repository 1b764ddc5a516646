/**
 * Shell commands as a person types them in a terminal: `bash -euo pipefail -c` for the ones that
 * finish, and long-running ones (a server, a receiver) in their own process group, so that
 * stopping one stops everything it started (`npm run server` is npm, then sh, then bun).
 */
import { type ChildProcess, spawn } from "node:child_process";

/** A command that ran to its end. */
export interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` with `bash -euo pipefail -c` in `cwd`; fails after `timeoutMs` (killing its group). */
export function runShell(
  script: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      signalGroup(child, "SIGKILL");
      reject(
        new Error(`timed out after ${options.timeoutMs} ms:\n${script}\n${stdout}\n${stderr}`),
      );
    }, options.timeoutMs ?? 60_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running command in its own process group. */
export interface ShellProcess {
  /** Everything it printed so far (stdout and stderr, interleaved as they came). */
  output(): string;
  /** Whether it has exited (it should not, while a test uses it). */
  exited(): boolean;
  /**
   * Ctrl-C as a terminal sends it (SIGINT to the whole foreground group), then SIGKILL to the group
   * if it has not exited within `graceMs`.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `script` with `bash -c` in `cwd`, as the leader of a new process group. */
export function startShell(
  script: string,
  options: { cwd: string; env: NodeJS.ProcessEnv },
): ShellProcess {
  const child = spawn("bash", ["-c", script], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    printed += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    printed += chunk.toString();
  });
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", () => resolve());
  });
  return {
    output: () => printed,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop(graceMs = 15_000) {
      signalGroup(child, "SIGINT");
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), graceMs);
      });
      const outcome = await Promise.race([closed, late]);
      clearTimeout(timer);
      // The leader may be gone while its children live on: the group gets SIGKILL in any case
      // after a late exit, and the members that already left make it a no-op otherwise.
      signalGroup(child, "SIGKILL");
      if (outcome === "late") await closed;
    },
  };
}

/** Signals the process group `child` leads; a group already gone is not an error. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
