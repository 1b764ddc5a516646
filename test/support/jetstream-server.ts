/**
 * A nats-server of its own with JetStream (`nats-server -js -p <free port> -sd <temporary dir>`),
 * for the benchmark and the tests that need a real one. The binary is NATS_SERVER_BIN, default
 * /usr/sbin/nats-server; a missing binary or a server that does not accept connections within
 * 15 s fails loudly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface JetStreamServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, waits for the exit, removes the store directory. */
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startJetStreamServer(): Promise<JetStreamServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), "fraiseql-nats-"));
  const child = spawn(
    NATS_SERVER_BIN,
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let printed = "";
  const collect = (chunk: Buffer) => {
    printed += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const failed = await Promise.race([
      spawnError,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 50)),
    ]);
    if (failed) {
      rmSync(storeDir, { recursive: true, force: true });
      throw new Error(`cannot start ${NATS_SERVER_BIN}: ${failed.message}`);
    }
    if (child.exitCode !== null) {
      rmSync(storeDir, { recursive: true, force: true });
      throw new Error(`nats-server exited with ${child.exitCode} before it listened:\n${printed}`);
    }
    if ((await accepts(port)) && printed.includes("Server is ready")) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(storeDir, { recursive: true, force: true });
      throw new Error(`nats-server did not accept connections on ${port} within 15 s:\n${printed}`);
    }
  }
  if (child.pid === undefined) throw new Error("nats-server has no process id");
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    child,
    output: () => printed,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
