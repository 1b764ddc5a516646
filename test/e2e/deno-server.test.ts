/**
 * The Deno server as users run it (`npm run server:deno`: `deno run -A adapters/hosts/deno/main.ts`):
 * against a real PostgreSQL, observers created through the API, changes written by another
 * connection delivered as signed webhooks and live `change` messages, wake-ups by LISTEN/NOTIFY
 * surviving the loss of the listening connection; and with no DATABASE_URL, on embedded PGlite
 * with its local socket, as on Bun.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { connectLive, type LiveClient } from "../support/live-client.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { freePort } from "../support/ports.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
const servers: ServerProcess[] = [];
const clients: LiveClient[] = [];
const dataDir = mkdtempSync(join(tmpdir(), "fraiseql-observers-deno-embedded-"));

beforeAll(async () => {
  db = await createTestDatabase("e2e_deno");
  await createOrdersTable(db.sql);
});
afterAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await db?.drop();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.socket.close();
  for (const server of servers.splice(0)) await server.kill9();
});

async function deno(env: Record<string, string>): Promise<ServerProcess> {
  const started = await startServer(env, { runtime: "deno" });
  servers.push(started);
  return started;
}

async function createObserver(
  target: ServerProcess,
  body: Record<string, unknown>,
  token = target.token,
): Promise<string> {
  const response = await fetch(`${target.url}/api/observers`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { id?: string };
  expect(response.status, JSON.stringify(json)).toBe(201);
  return json.id as string;
}

describe("the Deno server", () => {
  it("delivers signed webhooks and live changes, woken by NOTIFY even after its listener is terminated", async () => {
    // A poll this slow means only notifications can deliver within the test.
    const server = await deno({
      DATABASE_URL: db.url,
      OBSERVERS_POLL_INTERVAL_MS: "600000",
      OBSERVERS_LEASE_MS: "3000",
    });
    expect(server.output()).toContain("Deno");
    const health = await (await fetch(`${server.url}/api/observers/runtime/health`)).json();
    expect(health).toMatchObject({ running: true, errors: 0 });
    const document = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(document).toMatchObject({ openapi: "3.1.0" });

    await createObserver(server, {
      name: "deno-orders",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/deno`, signing_secret: SECRET }],
    });
    const live = connectLive(server.url, {
      token: server.token,
      params: { entity_type: "Order", payload: "full" },
    });
    clients.push(live);
    await live.ready();
    live.send({ type: "ping" });
    await live.waitFor(1, (m) => m.type === "pong");

    await db.sql`INSERT INTO orders (status) VALUES ('before')`;
    const [first] = await receiver.waitFor(1);
    const body = new Webhook(SECRET).verify(
      first?.text ?? "",
      first?.headers as Record<string, string>,
    ) as { event_id: string; after: { status: string } };
    expect(body.after.status).toBe("before");
    const [change] = await live.waitFor(1, (m) => m.type === "change");
    expect(change).toMatchObject({
      type: "change",
      event_id: body.event_id,
      entity_type: "Order",
      event_type: "INSERT",
      after: { status: "before" },
    });
    expect(typeof change?.cursor).toBe("string");
    // The ready server's metrics: this process's counters, and its one live subscriber.
    const metrics = await eventually(async () => {
      const response = await fetch(`${server.url}/metrics`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      const parsed = parseExposition(await response.text());
      const executed = sampleValue(parsed, "fraiseql_observer_action_executed_total", {
        action_type: "webhook",
      });
      return executed === 1 ? parsed : undefined;
    }, "the delivery in /metrics");
    expect(sampleValue(metrics, "fraiseql_observer_live_subscribers")).toBe(1);

    // The listening connection dies: the server listens again and NOTIFY keeps waking it.
    const listeners = () => db.sql`SELECT pid FROM pg_stat_activity
      WHERE datname = ${db.name} AND query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
    const [old] = await listeners();
    expect(old).toBeDefined();
    await db.sql`SELECT pg_terminate_backend(${old?.pid})`;
    await eventually(async () => {
      const rows = await listeners();
      return rows.some((r) => r.pid !== old?.pid) ? true : undefined;
    }, "a new LISTEN connection");
    await db.sql`INSERT INTO orders (status) VALUES ('after')`;
    const requests = await receiver.waitFor(2);
    expect(requests.map((r) => JSON.parse(r.text).after.status)).toEqual(["before", "after"]);
    await live.waitFor(2, (m) => m.type === "change");

    // Graceful shutdown: sockets closed with 1001, exit 0.
    expect(await server.stop()).toBe(0);
    expect((await live.closed).code).toBe(1001);
  });

  it("runs on embedded PGlite without DATABASE_URL and delivers rows written through its socket", async () => {
    const socketPort = await freePort();
    const server = await deno({
      OBSERVERS_DATA_DIR: dataDir,
      OBSERVERS_EMBEDDED_PORT: String(socketPort),
      OBSERVERS_ADMIN_TOKEN: "",
      OBSERVERS_POLL_INTERVAL_MS: "200",
      LOG_LEVEL: "info",
    });
    let app: postgres.Sql | undefined;
    try {
      const printed = await eventually(
        () => (server.output().includes("fn_track_table") ? server.output() : undefined),
        "the embedded-mode guide",
      );
      const token = printed.match(/^\s+(obs_[A-Za-z0-9_-]{20,})\s*$/m)?.[1];
      expect(token, printed).toBeDefined();
      expect(printed).toContain(`127.0.0.1:${socketPort}`);

      app = postgres(`postgres://postgres@127.0.0.1:${socketPort}/postgres`, {
        max: 1,
        onnotice: () => {},
      });
      await app.unsafe("CREATE TABLE public.orders (id serial PRIMARY KEY, status text)");
      await app`SELECT core.fn_track_table('public.orders', 'Order')`;
      await createObserver(
        server,
        {
          name: "embedded",
          entity_type: "Order",
          event_type: "INSERT",
          actions: [{ type: "webhook", url: `${receiver.url}/embedded` }],
        },
        token,
      );
      await app`INSERT INTO orders (status) VALUES ('placed')`;
      const [request] = await receiver.waitFor(1);
      expect(JSON.parse(request?.text ?? "").after).toEqual({ id: 1, status: "placed" });
    } finally {
      await app?.end({ timeout: 1 });
      expect(await server.stop()).toBe(0);
    }
  });

  it("exits 2 on invalid configuration", async () => {
    await expect(deno({ PORT: "not-a-port" })).rejects.toThrow(/exited with 2[\s\S]*PORT/);
  });
});
