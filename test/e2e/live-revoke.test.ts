/**
 * Revoking an API key closes its open WebSockets with 1008: at once on the server that revoked it
 * (`DELETE /api/keys/{id}` tells its hub), and within `OBSERVERS_LIVE_KEY_CHECK_MS` (default 5 s)
 * on every other server of the same database, which re-checks its sockets' keys in one query.
 * Two Bun server processes on one PostgreSQL, real WebSocket clients. The bounds asserted are the
 * ones the issue asks for, with generous slack for a loaded machine.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { connectLive, type LiveClient } from "../support/live-client.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let db: TestDatabase;
let first: ServerProcess;
let second: ServerProcess;
const clients: LiveClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase("e2e_live_revoke");
  // The revoking server re-checks only every minute: a prompt close there is the DELETE's doing.
  first = await startServer({ DATABASE_URL: db.url, OBSERVERS_LIVE_KEY_CHECK_MS: "60000" });
  // The other server runs with the default check interval, the bound the README documents.
  second = await startServer({ DATABASE_URL: db.url, OBSERVERS_MIGRATE: "off" });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.socket.close();
});
afterAll(async () => {
  await first?.kill9();
  await second?.kill9();
  await db?.drop();
});

async function createKey(
  name: string,
  tenant: number | null,
): Promise<{ id: string; token: string }> {
  const response = await first.api("/api/keys", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, scope: "read", fk_customer_org: tenant }),
  });
  const body = (await response.json()) as { id: string; token: string };
  expect(response.status, JSON.stringify(body)).toBe(201);
  return body;
}

async function revoke(id: string): Promise<void> {
  const response = await first.api(`/api/keys/${id}`, { method: "DELETE" });
  expect(response.status).toBe(204);
}

function open(server: ServerProcess, token: string): LiveClient {
  const client = connectLive(server.url, { token });
  clients.push(client);
  return client;
}

/** Milliseconds until `client` closes, and how. */
async function closing(client: LiveClient, since: number) {
  const { code, reason } = await client.closed;
  return { code, reason, afterMs: performance.now() - since };
}

/** The socket is still open and served: it answers a ping. */
async function stillServed(client: LiveClient): Promise<void> {
  const pongs = client.of("pong").length;
  client.send({ type: "ping" });
  await client.waitFor(pongs + 1, (m) => m.type === "pong");
  expect(client.closeCode).toBeNull();
}

describe("revoking a key", () => {
  it("closes its sockets with 1008 at once on the server that revoked it, and only its", async () => {
    const doomed = await createKey("doomed-here", 7);
    const kept = await createKey("kept-here", 7);
    const sockets = [open(first, doomed.token), open(first, doomed.token)];
    const other = open(first, kept.token);
    const admin = open(first, first.token);
    await Promise.all([...sockets, other, admin].map((c) => c.ready()));

    const start = performance.now();
    await revoke(doomed.id);
    for (const socket of sockets) {
      const closed = await closing(socket, start);
      expect(closed.code).toBe(1008);
      expect(closed.reason).toBe("the API key was revoked");
      // Seconds, not the minute of this server's periodic check.
      expect(closed.afterMs).toBeLessThan(5_000);
    }
    await stillServed(other);
    await stillServed(admin);
    // And the key no longer opens a socket.
    const again = open(first, doomed.token);
    expect((await again.closed).code).not.toBe(1000);
    expect(again.of("ready")).toEqual([]);
  });

  it("closes its sockets on another server within the check interval (default 5 s)", async () => {
    const doomed = await createKey("doomed-there", null);
    const kept = await createKey("kept-there", 8);
    const there = open(second, doomed.token);
    const other = open(second, kept.token);
    await Promise.all([there.ready(), other.ready()]);

    const start = performance.now();
    await revoke(doomed.id);
    const closed = await closing(there, start);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe("the API key was revoked");
    // The documented bound is the 5 s interval; the slack covers a loaded machine.
    expect(closed.afterMs).toBeLessThan(5_000 + 5_000);
    await stillServed(other);
  }, 30_000);

  it("closes its sockets at once on a Deno server that revoked it", async () => {
    const deno = await startServer(
      { DATABASE_URL: db.url, OBSERVERS_MIGRATE: "off", OBSERVERS_LIVE_KEY_CHECK_MS: "60000" },
      { runtime: "deno" },
    );
    try {
      const doomed = await createKey("doomed-deno", 9);
      const kept = await createKey("kept-deno", 9);
      const there = open(deno, doomed.token);
      const other = open(deno, kept.token);
      await Promise.all([there.ready(), other.ready()]);
      const start = performance.now();
      const response = await deno.api(`/api/keys/${doomed.id}`, { method: "DELETE" });
      expect(response.status).toBe(204);
      const closed = await closing(there, start);
      expect(closed.code).toBe(1008);
      expect(closed.afterMs).toBeLessThan(5_000);
      await stillServed(other);
    } finally {
      await deno.kill9();
    }
  }, 60_000);
});
