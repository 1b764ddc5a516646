/**
 * The Worker (wrangler.toml, adapters/hosts/workers/worker.ts) in `wrangler dev` (workerd, local), with
 * Hyperdrive pointed at a fresh test database: an observer created through the Worker's API, a
 * row inserted into a tracked table, the cron fired (`/__scheduled`), the webhook received at a
 * real receiver; a failed attempt retried by the ticker's alarm without another cron; health.
 * Fails, never skips, when wrangler cannot start.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev.ts";

const root = join(import.meta.dirname, "../..");
const ADMIN_TOKEN = "workers-tick-admin-token";

let db: TestDatabase;
let receiver: Receiver;
let worker: WranglerDev | undefined;

beforeAll(async () => {
  db = await createTestDatabase("workers_tick");
  await db.sql.unsafe(`CREATE TABLE public.orders (id serial PRIMARY KEY, status text, total numeric);
    SELECT core.fn_track_table('public.orders', 'Order')`);
  receiver = await startReceiver();
  worker = await startWranglerDev({
    config: join(root, "wrangler.toml"),
    databaseUrl: db.url,
    vars: {
      OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
      // Rows other test files leave uncommitted on the shared server hold the xmin horizon back:
      // a short budget keeps a tick that waits on them short.
      OBSERVERS_TICK_BUDGET_MS: "3000",
    },
  });
}, 60_000);

afterAll(async () => {
  // WORKERS_TICK_DEBUG=1 prints what wrangler and the Worker logged.
  if (process.env.WORKERS_TICK_DEBUG) console.log(worker?.output());
  await worker?.stop();
  await receiver?.close();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${(worker as WranglerDev).url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      "content-type": "application/json",
      ...(init.headers as Record<string, string> | undefined),
    },
  });
}

/** Fires the cron handler and waits for the tick to end. */
const tick = () => (worker as WranglerDev).tick();
const output = () => worker?.output() ?? "";

/** Ticks (as the cron would, only faster) until `count` requests reached the receiver. */
async function delivered(count: number): Promise<void> {
  const deadline = Date.now() + 25_000;
  while (receiver.requests.length < count) {
    if (Date.now() > deadline) {
      throw new Error(`expected ${count} webhooks, got ${receiver.requests.length}\n${output()}`);
    }
    await tick();
  }
}

async function createObserver(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await api("/api/observers", {
    method: "POST",
    body: JSON.stringify({
      name,
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/${name}` }],
      ...extra,
    }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

interface Health {
  running: boolean;
  observer_count: number;
  lag: { pending_changes: number; due_deliveries: number };
}

describe("the Worker in wrangler dev", () => {
  it("serves the API and a healthy runtime on a migrated database", async () => {
    const response = await fetch(`${(worker as WranglerDev).url}/api/observers/runtime/health`);
    expect(response.status).toBe(200);
    const health = (await response.json()) as Health;
    expect(health).toMatchObject({ running: true, observer_count: 0 });
    expect((await fetch(`${(worker as WranglerDev).url}/openapi.json`)).status).toBe(200);
    expect((await fetch(`${(worker as WranglerDev).url}/api/observers`)).status).toBe(401);
  });

  it("delivers a tracked row's change on the cron tick", async () => {
    const id = await createObserver("big-order", { condition_expression: "total > 100" });
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('new', 50), ('new', 250)`;
    await delivered(1);
    // Another tick finds nothing more: the small order did not match.
    await tick();
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.path).toBe("/big-order");
    expect(request?.headers["webhook-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.parse(request?.text ?? "{}") as Record<string, unknown>;
    expect(body).toMatchObject({
      observer: { id, name: "big-order" },
      entity_type: "Order",
      event_type: "INSERT",
      after: { status: "new", total: 250 },
    });
    const logs = await api(`/api/observers/${id}/logs`);
    expect(((await logs.json()) as { data: { status: string }[] }).data).toMatchObject([
      { status: "success" },
    ]);
    const health = (await (
      await fetch(`${(worker as WranglerDev).url}/api/observers/runtime/health`)
    ).json()) as Health;
    expect(health).toMatchObject({
      running: true,
      observer_count: 1,
      lag: { pending_changes: 0, due_deliveries: 0 },
    });
    await api(`/api/observers/${id}`, { method: "DELETE" });
  });

  it("sends a webhook batch from a tick: what waits for the batch goes out when the tick stops", async () => {
    receiver.requests.length = 0;
    const id = await createObserver("batched", {
      actions: [
        {
          type: "webhook",
          url: `${receiver.url}/batched`,
          batch: { max_size: 10, max_wait_ms: 10_000 },
        },
      ],
    });
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('a', 1), ('b', 2), ('c', 3)`;
    await delivered(1);
    await tick();
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    const body = JSON.parse(request?.text ?? "{}") as { id: string; events: { after: unknown }[] };
    expect(request?.headers["webhook-id"]).toBe(body.id);
    expect(body.events.map((e) => e.after)).toMatchObject([
      { status: "a" },
      { status: "b" },
      { status: "c" },
    ]);
    await api(`/api/observers/${id}`, { method: "DELETE" });
  });

  it("retries a failed attempt from the ticker's alarm, without another cron", async () => {
    receiver.requests.length = 0;
    let calls = 0;
    receiver.reply(() => (++calls === 1 ? { status: 503 } : { status: 204 }));
    await createObserver("flaky", {
      retry_config: { max_attempts: 3, backoff_strategy: "fixed", initial_delay_ms: 2000 },
    });
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('new', 1)`;
    await delivered(1);
    // The tick ended with the retry 2 s away; the ticker's alarm runs the next attempt.
    const deadline = Date.now() + 20_000;
    while (receiver.requests.length < 2) {
      if (Date.now() > deadline) throw new Error(`no retry from the alarm\n${output()}`);
      await sleep(100);
    }
    const [first, second] = receiver.requests;
    expect(second?.headers["webhook-id"]).toBe(first?.headers["webhook-id"]);
    expect(output()).toContain('"stopped"');
  });

  it("fires a scheduled observer's ticks from the cron, then from the ticker's alarm", async () => {
    receiver.requests.length = 0;
    receiver.reply(() => ({ status: 204 }));
    const id = await createObserver("every-second", {
      entity_type: null,
      event_type: "SCHEDULE",
      schedule: "* * * * * *",
    });
    // The first cron sees the schedule and sets its first tick; the ticker's alarm chains the
    // ticks after it (each within a minute), so they fire without another cron.
    await tick();
    const deadline = Date.now() + 20_000;
    while (receiver.requests.filter((r) => r.path === "/every-second").length < 2) {
      if (Date.now() > deadline) throw new Error(`no scheduled webhooks\n${output()}`);
      await sleep(100);
    }
    await api(`/api/observers/${id}`, { method: "DELETE" });
    const bodies = receiver.requests
      .filter((r) => r.path === "/every-second")
      .map((r) => JSON.parse(r.text) as { event_type: string; after: { scheduled_at: string } });
    expect(bodies[0]?.event_type).toBe("SCHEDULE");
    const instants = bodies.map((b) => b.after.scheduled_at);
    // One delivery per tick: no instant twice.
    expect(new Set(instants).size).toBe(instants.length);
    const [events] = await db.sql`SELECT count(*)::int AS n, count(DISTINCT scheduled_at)::int AS d
      FROM core.tb_observer_event WHERE kind = 'schedule'`;
    expect(events?.n).toBe(events?.d);
  });

  it("serves /metrics: counters of this isolate, gauges exact from the database", async () => {
    const dev = worker as WranglerDev;
    expect((await fetch(`${dev.url}/metrics`)).status).toBe(401);
    const dead = await db.sql`INSERT INTO core.tb_observer_dlq (fk_observer, observer_name,
        delivery_id, event_id, object_type, modification_type, action_index, action_type, attempts,
        max_attempts, change_created_at)
      SELECT pk_observer, name, gen_random_uuid(), gen_random_uuid(), 'Order', 'INSERT', 0,
        'webhook', 1, 1, now() FROM core.tb_observer LIMIT 1 RETURNING id`;
    expect(dead).toHaveLength(1);
    for (const path of ["/metrics", "/api/observers/metrics"]) {
      const response = await api(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const metrics = parseExposition(await response.text());
      const [count] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
      expect(sampleValue(metrics, "fraiseql_observer_dlq_items"), path).toBe(count?.n);
      expect(sampleValue(metrics, "fraiseql_observer_backlog_size"), path).toBe(0);
      expect(metrics.get("fraiseql_observer_events_processed_total")?.type).toBe("counter");
    }
  });
});
