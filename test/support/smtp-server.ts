/**
 * A real SMTP server for tests: Debian's python3-aiosmtpd, writing each message to a Maildir.
 * Missing Python or aiosmtpd fails the test loudly: SMTP tests never skip.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.ts";

const PYTHON = "/usr/bin/python3";
const HANDLER_DIR = dirname(fileURLToPath(import.meta.url));
const INSTALL_HINT = "install Debian's python3-aiosmtpd (apt-get install -y python3-aiosmtpd)";

/** A running aiosmtpd; `reject@…` gets 550 and `busy@…` gets 451 (smtp_test_handler.py). */
export interface SmtpServer {
  host: string;
  port: number;
  maildir: string;
  /** The raw messages delivered so far (RFC 5322 text, with aiosmtpd's X-RcptTo/X-MailFrom). */
  messages(): Promise<string[]>;
  stop(): Promise<void>;
}

function assertAiosmtpd(): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: ${INSTALL_HINT}`);
  const probe = spawnSync(PYTHON, ["-c", "import aiosmtpd"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `aiosmtpd is not importable by ${PYTHON} (${probe.stderr.trim()}): ${INSTALL_HINT}`,
    );
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`aiosmtpd exited with ${child.exitCode}: ${output()}`);
    }
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`aiosmtpd did not listen on port ${port} within 10 s: ${output()}`);
}

/** Starts aiosmtpd on 127.0.0.1 with a fresh Maildir and waits until it accepts connections. */
export async function startSmtpServer(): Promise<SmtpServer> {
  assertAiosmtpd();
  const root = await mkdtemp(join(tmpdir(), "observers-smtp-"));
  // Python's Maildir creates cur/new/tmp only when the directory does not exist yet.
  const maildir = join(root, "Maildir");
  const port = await freePort();
  const child = spawn(
    PYTHON,
    [
      "-m",
      "aiosmtpd",
      "-n",
      "-l",
      `127.0.0.1:${port}`,
      "-c",
      "smtp_test_handler.RejectingMailbox",
      maildir,
    ],
    { env: { ...process.env, PYTHONPATH: HANDLER_DIR }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    await waitForPort(port, child, () => output);
  } catch (error) {
    child.kill("SIGKILL");
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    host: "127.0.0.1",
    port,
    maildir,
    async messages() {
      const dir = join(maildir, "new");
      const files = existsSync(dir) ? (await readdir(dir)).sort() : [];
      return Promise.all(files.map((file) => readFile(join(dir, file), "utf8")));
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
