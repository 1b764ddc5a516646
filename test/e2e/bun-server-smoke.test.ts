/**
 * `bun adapters/hosts/bun/main.ts` as a process: on PostgreSQL it prints no token and refuses to start
 * without OBSERVERS_ADMIN_TOKEN or an admin key (which `npm run create-key` creates, printing the
 * token to its caller only); bad configuration exits 2 naming each variable; SIGTERM and SIGINT
 * exit 0. (The embedded default, which does print a generated token, has its own file,
 * embedded.test.ts.)
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

/** Runs `bun <args>` in the repository to completion with only `env` (and PATH) set. */
function runBun(args: string[], env: Record<string, string>) {
  return spawnSync(join(ROOT, "node_modules/.bin/bun"), args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
}

/** `npm run create-key -- <args>` against the test database. */
function createKey(args: string[]) {
  return runBun(["adapters/drivers/postgres/create-key-cli.ts", ...args], { DATABASE_URL: db.url });
}

describe("the Bun server process", () => {
  it("on PostgreSQL, refuses to start without an admin token or key, and prints no token", async () => {
    const refused = runBun(["adapters/hosts/bun/main.ts"], {
      DATABASE_URL: db.url,
      OBSERVERS_ADMIN_TOKEN: "",
      HOST: "127.0.0.1",
      PORT: "0",
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      "OBSERVERS_ADMIN_TOKEN: is unset and the database has no admin API key",
    );
    expect(refused.stderr).toContain("npm run create-key -- --name ops --scope admin");
    expect(`${refused.stdout}${refused.stderr}`).not.toMatch(/obs_[A-Za-z0-9_-]{20,}/);
    const [keys] = await db.sql`SELECT count(*)::int AS n FROM core.tb_api_key`;
    expect(keys?.n).toBe(0);
  });

  it("starts with a key from `npm run create-key`, which prints its token once to its caller", async () => {
    // Keys that cannot administer the server do not count.
    expect(createKey(["--name", "reader", "--scope", "read"]).status).toBe(0);
    expect(createKey(["--name", "t7", "--scope", "admin", "--tenant", "7"]).status).toBe(0);
    expect(
      runBun(["adapters/hosts/bun/main.ts"], { DATABASE_URL: db.url, OBSERVERS_ADMIN_TOKEN: "" })
        .status,
    ).toBe(2);

    const created = createKey(["--name", "ops", "--scope", "admin"]);
    expect(created.status).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^obs_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('created admin key "ops"');
    expect(created.stderr).not.toContain(token);

    const server = await start({ OBSERVERS_ADMIN_TOKEN: "" });
    expect(server.output()).toContain("admin API keys stored in the database");
    expect(server.output()).not.toContain(token);
    expect(server.output()).not.toMatch(/obs_[A-Za-z0-9_-]{20,}/);
    const create = await fetch(`${server.url}/api/observers`, {
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
    expect((await fetch(`${server.url}/api/observers`)).status).toBe(401);
    const exited = once(server.child, "exit");
    server.child.kill("SIGINT");
    expect((await exited)[0]).toBe(0);
  });

  it("create-key migrates a database nothing has touched yet, unless OBSERVERS_MIGRATE is off", async () => {
    const empty = await createTestDatabase("create_key_empty", { migrated: false });
    try {
      const args = [
        "adapters/drivers/postgres/create-key-cli.ts",
        "--name",
        "ops",
        "--scope",
        "admin",
      ];
      const off = runBun(args, { DATABASE_URL: empty.url, OBSERVERS_MIGRATE: "off" });
      expect(off.status).toBe(1);
      expect(off.stderr).toContain("OBSERVERS_MIGRATE is off: run `npm run migrate` first");
      const created = runBun(args, { DATABASE_URL: empty.url });
      expect(created.status).toBe(0);
      expect(created.stderr).toContain("applied 0001_change_log.sql");
      const token = created.stdout.trim();
      expect(token).toMatch(/^obs_[A-Za-z0-9_-]{43}$/);
      const [key] = await empty.sql`SELECT scope, fk_customer_org FROM core.tb_api_key`;
      expect(key).toEqual({ scope: "admin", fk_customer_org: null });
    } finally {
      await empty.drop();
    }
  });

  it("create-key says what is wrong with its arguments or its environment", () => {
    const noScope = createKey(["--name", "ops"]);
    expect(noScope.status).toBe(2);
    expect(noScope.stderr).toContain("--scope is required");
    expect(createKey(["--scope", "admin"]).stderr).toContain("--name is required");
    const noDatabase = runBun(
      ["adapters/drivers/postgres/create-key-cli.ts", "--name", "x", "--scope", "read"],
      {},
    );
    expect(noDatabase.status).toBe(2);
    expect(noDatabase.stderr).toContain("DATABASE_URL is not set");
  });

  it("exits 2 naming every invalid variable", () => {
    const result = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["adapters/hosts/bun/main.ts"], {
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
