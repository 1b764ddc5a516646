/**
 * A host's own Worker (test/runtimes/host-worker.ts) that adds the observers through the workers
 * entry (`createObserversWorker` with a custom action type, its Durable Objects re-exported, the
 * API routed by `isObserversPath`), in `wrangler dev` with Hyperdrive on a fresh test database:
 * the host's routes (its own /api/orders included) answer as the host wrote them, the API answers
 * under /api/observers, an observer created through it delivers a webhook on the host's cron, the
 * host's own action type runs on the cron tick and on the ticker's alarm, a `job` action with
 * `cloudflare-queues` sends to the queue binding it names (the host's consumer forwards the
 * message; a binding the Worker lacks is refused at create time), and the host builds with
 * `wrangler deploy --dry-run`. Fails, never skips, when wrangler cannot start.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev.ts";

const root = join(import.meta.dirname, "../..");
const config = join(root, "test/runtimes/host-wrangler.toml");
const ADMIN_TOKEN = "workers-host-admin-token";

let db: TestDatabase;
let receiver: Receiver;
let worker: WranglerDev | undefined;

beforeAll(async () => {
  db = await createTestDatabase("workers_host");
  await db.sql.unsafe(`CREATE TABLE public.orders (id serial PRIMARY KEY, status text, total numeric);
    SELECT core.fn_track_table('public.orders', 'Order')`);
  receiver = await startReceiver();
  worker = await startWranglerDev({
    config,
    databaseUrl: db.url,
    vars: {
      OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
      // A short budget keeps a tick that waits on other test files' open transactions short.
      OBSERVERS_TICK_BUDGET_MS: "3000",
      // Where the host's queue consumer forwards the `job` actions' messages.
      JOBS_RECEIVER_URL: `${receiver.url}/jobs`,
    },
  });
}, 60_000);

afterAll(async () => {
  if (process.env.WORKERS_TICK_DEBUG) console.log(worker?.output());
  await worker?.stop();
  await receiver?.close();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const url = (path: string) => `${(worker as WranglerDev).url}${path}`;
const output = () => worker?.output() ?? "";

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url(path), {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
  });
}

/** Ticks (the host's cron handler, through /__scheduled) until `count` requests arrived. */
async function delivered(count: number): Promise<void> {
  const deadline = Date.now() + 25_000;
  while (receiver.requests.length < count) {
    if (Date.now() > deadline) {
      throw new Error(`expected ${count} requests, got ${receiver.requests.length}\n${output()}`);
    }
    await (worker as WranglerDev).tick();
  }
}

describe("a host Worker with the observers added", () => {
  it("keeps the host's own routes, its /api ones included", async () => {
    const home = await fetch(url("/"));
    expect(home.status).toBe(200);
    expect(await home.text()).toBe("host home");
    // No token: the observers' auth never sees the host's routes.
    const orders = await fetch(url("/api/orders"));
    expect(orders.status).toBe(200);
    expect(await orders.json()).toEqual({ orders: [], from: "host" });
    const created = await fetch(url("/api/orders"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ total: 3 }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ created: { total: 3 }, from: "host" });
    // A path that only starts like the API's is the host's (its Hono 404 here).
    const near = await fetch(url("/api/observersx"));
    expect(near.status).toBe(404);
    expect(near.headers.get("content-type") ?? "").not.toContain("problem+json");
  });

  it("serves the API under /api/observers, with its auth and health", async () => {
    expect((await fetch(url("/api/observers"))).status).toBe(401);
    expect((await api("/api/observers")).status).toBe(200);
    const health = await fetch(url("/api/observers/runtime/health"));
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ running: true, observer_count: 0 });
  });

  it("delivers a webhook from an observer created through the host's Worker", async () => {
    const response = await api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "host-webhook",
        entity_type: "Order",
        event_type: "INSERT",
        condition_expression: "total > 100",
        actions: [{ type: "webhook", url: `${receiver.url}/webhook` }],
      }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('new', 250)`;
    await delivered(1);
    const [request] = receiver.requests;
    expect(request?.path).toBe("/webhook");
    expect(request?.headers["webhook-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(request?.text ?? "{}")).toMatchObject({
      observer: { id, name: "host-webhook" },
      entity_type: "Order",
      after: { total: 250 },
    });
    expect((await api(`/api/observers/${id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("runs the host's own action type on the cron tick and on the ticker's alarm", async () => {
    receiver.requests.length = 0;
    let calls = 0;
    // The first attempt fails: the retry, 2 s later, is the ticker's alarm's (no cron fired).
    receiver.reply(() => (++calls === 1 ? { status: 503 } : { status: 204 }));
    // Through the host's API: its validation knows the host's type.
    const created = await api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "host-notify",
        entity_type: "Order",
        event_type: "INSERT",
        actions: [{ type: "notify", url: `${receiver.url}/notify` }],
        retry_config: { max_attempts: 3, backoff_strategy: "fixed", initial_delay_ms: 2000 },
      }),
    });
    expect(created.status).toBe(201);
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('new', 7)`;
    await delivered(1);
    const deadline = Date.now() + 20_000;
    while (receiver.requests.length < 2) {
      if (Date.now() > deadline) throw new Error(`no retry from the alarm\n${output()}`);
      await sleep(100);
    }
    for (const request of receiver.requests) {
      expect(request.path).toBe("/notify");
      expect(request.headers["x-host-action"]).toBe("notify");
      expect(JSON.parse(request.text)).toMatchObject({ observer: "host-notify" });
    }
    // The success is recorded just after the receiver answers: wait for its log row.
    const outcomes = () => db.sql<{ status: string; action_type: string }[]>`
      SELECT l.status, l.action_type FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
      WHERE o.name = 'host-notify' AND l.status IN ('success', 'failed')
      ORDER BY l.pk_observer_log`;
    let rows = await outcomes();
    while (rows.length < 2 && Date.now() < deadline) {
      await sleep(100);
      rows = await outcomes();
    }
    expect(rows).toEqual([
      { status: "failed", action_type: "notify" },
      { status: "success", action_type: "notify" },
    ]);
  });

  it("sends a job action's job to the Cloudflare Queues binding the observer names", async () => {
    receiver.requests.length = 0;
    receiver.reply(() => ({ status: 204 }));
    const refused = await api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "host-jobs-refused",
        entity_type: "Order",
        actions: [{ type: "job", queue: "cloudflare-queues", binding: "NOT_BOUND", task: "t" }],
      }),
    });
    expect(refused.status).toBe(400);
    const problem = (await refused.json()) as { issues: { path: string; message: string }[] };
    expect(problem.issues.map((issue) => issue.path)).toEqual(["actions.0.binding"]);
    const created = await api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "host-jobs",
        entity_type: "Order",
        event_type: "INSERT",
        condition_expression: "total == 42",
        actions: [
          {
            type: "job",
            queue: "cloudflare-queues",
            binding: "JOBS",
            task: "resize",
            payload_template: '{"total": {{ after.total }}}',
          },
        ],
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await db.sql`INSERT INTO public.orders (status, total) VALUES ('new', 42)`;
    // The earlier tests' observers fire on this insert too: wait for the queue's message.
    const deadline = Date.now() + 25_000;
    const jobs = () => receiver.requests.filter((r) => r.path === "/jobs");
    while (jobs().length === 0) {
      if (Date.now() > deadline) throw new Error(`no message from the queue\n${output()}`);
      await (worker as WranglerDev).tick();
      await sleep(200);
    }
    const [request, ...more] = jobs();
    expect(more).toEqual([]);
    expect(JSON.parse(request?.text ?? "{}")).toMatchObject({
      task: "resize",
      payload: { total: 42 },
      tenant: null,
      observer_id: id,
      delivery_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect((await api(`/api/observers/${id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("builds with wrangler deploy --dry-run", () => {
    const outdir = mkdtempSync(join(tmpdir(), "host-worker-build-"));
    try {
      const result = spawnSync(
        join(root, "node_modules/.bin/wrangler"),
        ["deploy", "--dry-run", "--outdir", outdir, "--config", config],
        { cwd: root, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
      );
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("env.TICKER (TickerObject)");
      expect(result.stdout).toContain("env.LIVE_HUB (LiveHubObject)");
      expect(readdirSync(outdir)).toContain("host-worker.js");
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 60_000);
});
