/**
 * A real `nats-server -js` of the test's own, on a free port with a temporary store directory,
 * that the test can kill and start again on the same port and store (JetStream keeps its
 * streams and consumers on disk). The binary is `NATS_SERVER_BIN`, else `nats-server` on PATH
 * (/usr/sbin/nats-server here); missing, the test fails loudly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onFreePort } from "./ports.ts";

/** A running (or stopped, restartable) NATS server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  url: string;
  port: number;
  storeDir: string;
  /** Everything it printed. */
  output(): string;
  /** SIGKILL; the store stays. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops it and removes the store. */
  close(): Promise<void>;
}

const BIN = process.env.NATS_SERVER_BIN ?? "nats-server";

/** Starts `nats-server -js` (with `args`, e.g. `--user u --pass p`) and waits until it is ready. */
export async function startNatsServer(args: readonly string[] = []): Promise<NatsServer> {
  let port = 0;
  const storeDir = mkdtempSync(join(tmpdir(), "observers-nats-"));
  let child: ChildProcess | null = null;
  let printed = "";

  async function launch(): Promise<void> {
    const started = spawn(
      BIN,
      ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = started;
    started.stdout?.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    started.stderr?.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const failed = new Promise<never>((_, reject) => {
      started.once("error", (error) =>
        reject(new Error(`nats-server could not be started (${BIN}): ${error.message}`)),
      );
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (started.exitCode !== null) {
        throw new Error(`nats-server exited with ${started.exitCode}:\n${printed}`);
      }
      const ready = await Promise.race([accepts(port), failed]);
      // JetStream is ready once it says so (it recovers streams from the store first).
      if (ready && /Server is ready/.test(printed.split("Starting nats-server").at(-1) ?? "")) {
        return;
      }
      if (Date.now() > deadline) {
        started.kill("SIGKILL");
        throw new Error(`nats-server was not ready within 10 s:\n${printed}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function kill9(): Promise<void> {
    const running = child;
    // Killed by a signal, a process has no exit code, only a signal code.
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGKILL");
    await exited;
  }

  await onFreePort(async (picked) => {
    port = picked;
    printed = "";
    await launch();
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    output: () => printed,
    kill9,
    restart: launch,
    async close() {
      await kill9();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
