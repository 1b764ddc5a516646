/**
 * `bun adapters/bun/main.ts` as a process: the generated admin token is printed once, ever, and
 * keeps working; bad configuration exits 2 naming each variable; SIGTERM and SIGINT exit 0. (The
 * embedded default has its own file, embedded.test.ts.)
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const ROOT = join(import.meta.dirname, "../..");
let db: TestDatabase;
const running: ServerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase("bun_smoke");
});
afterAll(() => db?.drop());
afterEach(async () => {
  for (const server of running.splice(0)) await server.kill9();
});

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServer({ DATABASE_URL: db.url, ...env });
  running.push(server);
  return server;
}

const TOKEN = /^\s+(obs_[A-Za-z0-9_-]{43})$/m;

describe("the Bun server process", () => {
  it("generates an admin token when none is set, prints it once, and keeps it", async () => {
    const first = await start({ OBSERVERS_ADMIN_TOKEN: "" });
    expect(first.output()).toContain("ADMIN TOKEN");
    const token = TOKEN.exec(first.output())?.[1];
    expect(token).toBeDefined();
    const create = await fetch(`${first.url}/api/observers`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "smoke",
        actions: [
          {
            type: "webhook",
            url: "https://example.com/hook",
            signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
          },
        ],
      }),
    });
    expect(create.status).toBe(201);
    expect(JSON.stringify(await create.json())).not.toContain("whsec_");
    expect((await fetch(`${first.url}/api/observers`)).status).toBe(401);
    expect(await first.stop()).toBe(0);

    const second = await start({ OBSERVERS_ADMIN_TOKEN: "" });
    expect(second.output()).not.toContain("ADMIN TOKEN");
    expect(second.output()).toContain("generated and printed at the first start");
    const list = await fetch(`${second.url}/api/observers`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(list.status).toBe(200);
    expect((await list.json()).total_count).toBe(1);
    const exited = once(second.child, "exit");
    second.child.kill("SIGINT");
    expect((await exited)[0]).toBe(0);
  });

  it("exits 2 naming every invalid variable", () => {
    const result = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["adapters/bun/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        PORT: "eighty",
        LOG_LEVEL: "loud",
        OBSERVERS_ADMIN_TOKEN: "short",
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("PORT: must be an integer from 0 to 65535");
    expect(result.stderr).toContain("LOG_LEVEL: must be one of trace, debug, info, warn, error");
    expect(result.stderr).toContain("OBSERVERS_ADMIN_TOKEN: must be at least 16 characters");
    expect(result.stderr).not.toContain("short");
  });
});
