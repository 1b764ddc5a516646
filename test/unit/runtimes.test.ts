import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The core promises Web-standard APIs only: run the same script (the DSL, the matcher, and real
 * actions through the executor against faked services) on every runtime we ship for.
 */
const here = join(import.meta.dirname, "../runtimes");
const bin = (name: string) => join(import.meta.dirname, "../../node_modules/.bin", name);

function printed(command: string, args: string[]): unknown {
  const result = spawnSync(command, [...args, join(here, "print-smoke.ts")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} exited ${result.status}: ${result.stderr || result.error?.message}`,
    );
  }
  return JSON.parse(result.stdout);
}

const expected = {
  timestamp: "2026-11-27T10:00:00.500Z",
  changes: ["status", "email"],
  shipped: true,
  big: true,
  regex: true,
  catastrophic: false,
  issue: false,
  explained: expect.stringContaining("'missing' is not in the UPDATE event's data"),
  sql: true,
  matched: ["a"],
  actions: {
    webhook: { status: "success", disposition: "done", code: null, http: 204 },
    retry: { status: "failed", disposition: "retry", code: "HTTP_STATUS", http: 503 },
    forbidden: {
      status: "failed",
      disposition: "dead_letter",
      code: "TARGET_FORBIDDEN",
      http: null,
    },
    webPush: { status: "success", disposition: "done", code: null, http: 201 },
    fcm: { status: "success", disposition: "done", code: null, http: 200 },
    cache: { status: "success", disposition: "done", code: null, http: null },
    facts: {
      hookBody: { order: 42, note: 'say "hi"}' },
      hookSigned: true,
      retryAfterHonoured: true,
      pushEncrypted: true,
      pushVapid: true,
      fcmAuthorised: true,
      fcmTitle: "Order 42 shipped",
    },
  },
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

let wrangler: ChildProcess | undefined;
afterAll(() => {
  // wrangler starts workerd as a child: end the whole process group.
  if (wrangler?.pid) process.kill(-wrangler.pid, "SIGTERM");
});

/** Starts `wrangler dev` (workerd, local) on the test Worker and fetches its answer. */
async function fromWorkerd(): Promise<unknown> {
  const port = await freePort();
  const inspector = await freePort();
  const args = ["dev", "--config", join(here, "wrangler.toml"), "--ip", "127.0.0.1"];
  args.push("--port", String(port), "--inspector-port", String(inspector));
  wrangler = spawn(bin("wrangler"), args, {
    detached: true,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  wrangler.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  wrangler.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const deadline = Date.now() + 45_000;
  while (!output.includes("Ready on")) {
    if (Date.now() > deadline || wrangler.exitCode !== null) {
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const response = await fetch(`http://127.0.0.1:${port}/`);
  expect(response.status).toBe(200);
  return response.json();
}

describe("the core on every runtime", () => {
  it("runs on Node", () => {
    expect(printed(process.execPath, [])).toEqual(expected);
  });

  it("runs on Bun", () => {
    expect(printed(bin("bun"), ["run"])).toEqual(expected);
  });

  it("runs on Deno", () => {
    const args = ["run", "--no-prompt", "--no-config", "--node-modules-dir=manual"];
    expect(printed(bin("deno"), args)).toEqual(expected);
  });

  it("runs on workerd, the Workers runtime (no eval, no Node APIs)", async () => {
    expect(await fromWorkerd()).toEqual(expected);
  }, 60_000);
});
