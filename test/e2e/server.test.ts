/**
 * The Bun server as a process against a real PostgreSQL and a real receiver: observers created
 * through the API, changes written by another connection, webhooks counted at the receiver. Crash,
 * listener loss and two processes sharing one database: every change delivered, duplicates only
 * ever with the same webhook-id.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { expectDocsServed } from "../support/docs-check.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { type ReceivedRequest, useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase("e2e");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
afterEach(async () => {
  for (const server of servers.splice(0)) await server.kill9();
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer_checkpoint SET (last_transaction_id, last_processed_id) =
    (SELECT COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0) FROM core.tb_entity_change_log)`;
});

async function server(env: Record<string, string> = {}): Promise<ServerProcess> {
  const started = await startServer({
    DATABASE_URL: db.url,
    OBSERVERS_POLL_INTERVAL_MS: "250",
    OBSERVERS_LEASE_MS: "3000",
    ...env,
  });
  servers.push(started);
  return started;
}

async function createObserver(
  target: ServerProcess,
  body: Record<string, unknown>,
): Promise<string> {
  const response = await target.api("/api/observers", {
    method: "POST",
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { id?: string };
  expect(response.status, JSON.stringify(json)).toBe(201);
  return json.id as string;
}

/** Each delivered change (event_id) with the webhook-ids it arrived under and how many times. */
function deliveriesByEvent(requests: readonly ReceivedRequest[]) {
  const byEvent = new Map<string, { ids: Set<string>; count: number }>();
  for (const request of requests) {
    const body = JSON.parse(request.text) as { event_id: string };
    const entry = byEvent.get(body.event_id) ?? { ids: new Set<string>(), count: 0 };
    entry.ids.add(String(request.headers["webhook-id"]));
    entry.count++;
    byEvent.set(body.event_id, entry);
  }
  return byEvent;
}

function expectEveryChangeOnceById(requests: readonly ReceivedRequest[], changes: number) {
  const byEvent = deliveriesByEvent(requests);
  expect(byEvent.size).toBe(changes);
  for (const { ids } of byEvent.values()) expect(ids.size).toBe(1);
  return requests.length - byEvent.size;
}

describe("the Bun server", () => {
  it("serves health, takes observers through the API and delivers INSERTs", async () => {
    const target = await server();
    const health = await (await fetch(`${target.url}/api/observers/runtime/health`)).json();
    expect(health).toMatchObject({ running: true, errors: 0 });
    const document = await (await fetch(`${target.url}/openapi.json`)).json();
    expect(document).toMatchObject({ openapi: "3.1.0" });
    expect(Object.keys(document.paths)).toContain("/api/observers/{id}/backtest");
    await expectDocsServed(fetch, `${target.url}/docs`, target.url);
    await expectDocsServed(fetch, `${target.url}/api/observers/docs/`, target.url);
    await createObserver(target, {
      name: "api-insert",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [
        {
          type: "webhook",
          url: `${receiver.url}/hook`,
          signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
      ],
    });
    await db.sql`INSERT INTO orders (status, total) VALUES ('new', 10)`;
    const [request] = await receiver.waitFor(1);
    expect(request?.headers["webhook-signature"]).toMatch(/^v1,/);
    expect(JSON.parse(request?.text ?? "").after).toMatchObject({ status: "new", total: 10 });
    // The client's address comes from Bun: after 11 invalid tokens, the next one waits.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await fetch(`${target.url}/api/observers`, {
        headers: { authorization: "Bearer not-a-token" },
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual(Array(11).fill(401));
    const throttled = await fetch(`${target.url}/api/observers`, {
      headers: { authorization: "Bearer not-a-token" },
    });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await target.stop()).toBe(0);
  });

  it("loses nothing when killed with -9 mid-batch and restarted", async () => {
    receiver.reply(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { status: 204 };
    });
    const first = await server({ OBSERVERS_PER_DESTINATION: "4" });
    await createObserver(first, {
      name: "crash",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/crash` }],
    });
    const total = 300;
    await db.sql`INSERT INTO orders (status) SELECT 'bulk' FROM generate_series(1, ${total})`;
    await receiver.waitFor(20);
    await first.kill9();
    const before = receiver.requests.length;
    expect(before).toBeLessThan(total);
    await server({ OBSERVERS_PER_DESTINATION: "4" });
    await eventually(
      () => (deliveriesByEvent(receiver.requests).size === total ? true : undefined),
      "every change",
      60_000,
    );
    const duplicates = expectEveryChangeOnceById(receiver.requests, total);
    // Only deliveries in flight at the kill can repeat.
    expect(duplicates).toBeLessThanOrEqual(4 * 4 * 2);
  });

  it("keeps delivering after its listening connection is terminated", async () => {
    // A poll this slow means only notifications can deliver within the test.
    const target = await server({ OBSERVERS_POLL_INTERVAL_MS: "600000" });
    await createObserver(target, {
      name: "relisten",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/relisten` }],
    });
    await db.sql`INSERT INTO orders (status) VALUES ('before')`;
    await receiver.waitFor(1);
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
  });

  it("shares the work between two processes on one database", async () => {
    const a = await server();
    await server();
    await createObserver(a, {
      name: "shared",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/shared` }],
    });
    const total = 500;
    for (let i = 0; i < 10; i++) {
      await db.sql`INSERT INTO orders (status) SELECT 'shared' FROM generate_series(1, ${total / 10})`;
    }
    await eventually(
      () => (deliveriesByEvent(receiver.requests).size === total ? true : undefined),
      "every change",
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const duplicates = expectEveryChangeOnceById(receiver.requests, total);
    console.log(
      `two processes: ${total} changes, ${receiver.requests.length} requests, ${duplicates} duplicates`,
    );
    expect(duplicates).toBe(0);
  });
});
