/**
 * `bun adapters/bun/main.ts` as a process: the generated admin token is printed once, ever, and
 * keeps working; bad configuration exits 2 naming each variable; SIGTERM and SIGINT exit 0;
 * without DATABASE_URL it runs on embedded PGlite that psql-like clients reach through a socket.
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { useReceiver } from "../support/receiver.ts";
import { freePort, type ServerProcess, startServer } from "../support/server-process.ts";

const ROOT = join(import.meta.dirname, "../..");
const receiver = useReceiver(() => ({ status: 204 }));
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

  it("runs on embedded PGlite without DATABASE_URL, reachable through its local socket", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "observers-embedded-"));
    const socketPort = await freePort();
    let client: postgres.Sql | undefined;
    try {
      const server = await startServer({
        OBSERVERS_DATA_DIR: dataDir,
        OBSERVERS_EMBEDDED_PORT: String(socketPort),
        OBSERVERS_POLL_INTERVAL_MS: "200",
      });
      running.push(server);
      const socketUrl = `postgres://postgres@127.0.0.1:${socketPort}/postgres`;
      expect(server.output()).toContain(`Running on embedded PostgreSQL (PGlite) in ${dataDir}`);
      expect(server.output()).toContain(`psql "${socketUrl}?sslmode=disable"`);
      expect(server.output()).toContain("SELECT core.fn_track_table('public.orders', 'Order');");
      expect(server.output()).toContain("Limits of embedded mode");

      // The socket serves one client at a time: one connection, no pool.
      client = postgres(socketUrl, { max: 1, onnotice: () => {} });
      await client`CREATE TABLE public.orders (id serial PRIMARY KEY, status text NOT NULL)`;
      await client`SELECT core.fn_track_table('public.orders', 'Order')`;
      const created = await server.api("/api/observers", {
        method: "POST",
        body: JSON.stringify({
          name: "embedded",
          entity_type: "Order",
          event_type: "INSERT",
          actions: [{ type: "webhook", url: `${receiver.url}/embedded` }],
        }),
      });
      expect(created.status).toBe(201);
      await client`INSERT INTO public.orders (status) VALUES ('placed')`;
      const [request] = await receiver.waitFor(1);
      expect(JSON.parse(request?.text ?? "")).toMatchObject({ after: { status: "placed" } });
      await client.end({ timeout: 5 });
      client = undefined;
      expect(await server.stop()).toBe(0);
    } finally {
      await client?.end({ timeout: 0 });
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
