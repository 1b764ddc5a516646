/**
 * Issue 20's delivery control on the Worker (wrangler.toml, adapters/hosts/workers/worker.ts) in
 * `wrangler dev` (workerd, local), Hyperdrive pointed at a fresh test database, one instance for
 * every scenario: pause holds what a tick claims and resume releases it; a bulk cancel; per-entity
 * order across a retry; on_dead_letter fired by a tick; a shared rate limit; the circuit settings
 * (`OBSERVERS_CIRCUIT_*` as `--var`) deferring a failing destination's delivery without spending
 * attempts, then the reset; a replay worked through in pages by the ticks the API asked the ticker
 * for (no cron), with its dry run and cancel; `/api/sources` answering 501. Each goes through the
 * Worker's fetch handler. Fails, never skips, when wrangler cannot start.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { type ReceivedRequest, type Receiver, startReceiver } from "../support/receiver.ts";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev.ts";

const root = join(import.meta.dirname, "../..");
const ADMIN_TOKEN = "workers-delivery-control-admin";
const WAIT_MS = 25_000;
const TEST_MS = 60_000;

let db: TestDatabase;
/** Every scenario's receiver but the circuit's (a destination is its origin). */
let receiver: Receiver;
/** The circuit scenario's own destination. */
let flaky: Receiver;
let flakyDown = true;
let worker: WranglerDev | undefined;

beforeAll(async () => {
  db = await createTestDatabase("workers_control");
  await db.sql.unsafe(`CREATE TABLE public.orders (id serial PRIMARY KEY, tag text, status text);
    SELECT core.fn_track_table('public.orders', 'Order');
    CREATE TABLE public.items (id serial PRIMARY KEY, status text);
    SELECT core.fn_track_table('public.items', 'Item')`);
  let orderedCalls = 0;
  receiver = await startReceiver((request) => {
    // The first attempt of the ordered scenario fails: the entity's later changes must wait.
    if (request.path === "/ordered" && ++orderedCalls === 1) return { status: 503 };
    if (request.path === "/dead") return { status: 503 };
    return { status: 204 };
  });
  flaky = await startReceiver(() => ({ status: flakyDown ? 503 : 204 }));
  worker = await startWranglerDev({
    config: join(root, "wrangler.toml"),
    databaseUrl: db.url,
    vars: {
      OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
      OBSERVERS_TICK_BUDGET_MS: "3000",
      // Not the defaults (5, 1 s): the Worker must pass them to its ticks' runtime.
      OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: "2",
      OBSERVERS_CIRCUIT_PROBE_DELAY_MS: "600000",
      OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS: "600000",
    },
  });
  // The first tick records where the Worker starts reading.
  await worker.tick();
}, 90_000);

afterAll(async () => {
  // WORKERS_TICK_DEBUG=1 prints what wrangler and the Worker logged.
  if (process.env.WORKERS_TICK_DEBUG) console.log(worker?.output());
  await worker?.stop();
  await receiver?.close();
  await flaky?.close();
  await db?.drop();
}, 60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const dev = () => worker as WranglerDev;
const tick = () => dev().tick();

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${dev().url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
  });
}

async function json<T>(response: Response, status: number, what: string): Promise<T> {
  const text = await response.text();
  expect(response.status, `${what}: ${text}`).toBe(status);
  return JSON.parse(text) as T;
}

const post = (path: string, body: unknown = {}) =>
  api(path, { method: "POST", body: JSON.stringify(body) });

/** Polls `check` until it returns a value other than undefined; `tickEach`: fire the cron each round. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  tickEach = true,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (tickEach) await tick();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dev().output()}`);
    if (!tickEach) await sleep(200);
  }
}

async function createObserver(body: Record<string, unknown>): Promise<string> {
  const created = await json<{ id: string }>(
    await post("/api/observers", { entity_type: "Order", event_type: "INSERT", ...body }),
    201,
    "POST /api/observers",
  );
  return created.id;
}

const at = (r: Receiver, path: string) => r.requests.filter((q) => q.path === path);
const bodyOf = (request: ReceivedRequest) =>
  JSON.parse(request.text) as { after: { status: string }; dead_letter?: Record<string, unknown> };

/** The Worker's `/metrics` (the database's gauges are exact there). */
async function metrics() {
  const response = await api("/metrics");
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

async function deliveryRows(observerId: string) {
  return db.sql<{ held: boolean | null; attempt: number }[]>`
    SELECT d.held, d.attempt FROM core.tb_observer_delivery d
    JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.id = ${observerId}::uuid`;
}

describe("delivery control on the Worker (wrangler dev)", () => {
  it(
    "pause holds what ticks claim, a bulk cancel removes one, resume delivers the rest",
    async () => {
      const id = await createObserver({
        name: "paused",
        condition_expression: "tag == 'paused'",
        actions: [{ type: "webhook", url: `${receiver.url}/paused` }],
      });
      const paused = await json<{ paused: boolean }>(
        await post(`/api/observers/${id}/pause`),
        200,
        "pause",
      );
      expect(paused.paused).toBe(true);
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('paused', 'p1')`;
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('paused', 'p2')`;
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('paused', 'p3')`;
      // The ticks match the changes and their claims hold the deliveries: nothing is sent.
      const held = await until("three held deliveries", async () => {
        const rows = await deliveryRows(id);
        return rows.length === 3 && rows.every((r) => r.held) ? rows : undefined;
      });
      // `attempt` is the next attempt's number: none was made.
      expect(held.map((r) => r.attempt)).toEqual([1, 1, 1]);
      await tick();
      expect(at(receiver, "/paused")).toHaveLength(0);
      const gauges = await metrics();
      expect(sampleValue(gauges, "fraiseql_observer_deliveries_held")).toBe(3);
      expect(sampleValue(gauges, "fraiseql_observer_observers_paused")).toBe(1);

      const [p2] = await db.sql<{ id: number }[]>`SELECT id FROM public.orders WHERE status = 'p2'`;
      const filter = { observer_id: id, entity_id: String(p2?.id) };
      expect(
        await json(
          await post("/api/observers/deliveries/cancel", { ...filter, dry_run: true }),
          200,
          "dry cancel",
        ),
      ).toEqual({ dry_run: true, cancelled: 1, in_flight: 0, more: false });
      expect(
        await json(await post("/api/observers/deliveries/cancel", filter), 200, "cancel"),
      ).toEqual({ dry_run: false, cancelled: 1, in_flight: 0, more: false });

      await json(await post(`/api/observers/${id}/resume`), 200, "resume");
      await until("the two kept deliveries", () =>
        at(receiver, "/paused").length >= 2 ? true : undefined,
      );
      await tick();
      expect(
        at(receiver, "/paused")
          .map((r) => bodyOf(r).after.status)
          .sort(),
      ).toEqual(["p1", "p3"]);
      const logs = await json<{ data: { status: string; error_code: string | null }[] }>(
        await api(`/api/observers/${id}/logs`),
        200,
        "logs",
      );
      expect(logs.data.map((l) => l.status).sort()).toEqual(["cancelled", "success", "success"]);
      expect(await deliveryRows(id)).toHaveLength(0);
    },
    TEST_MS,
  );

  it(
    "per_entity ordering: an entity's later changes wait for its retry, across ticks",
    async () => {
      await createObserver({
        name: "ordered",
        event_type: "UPDATE",
        condition_expression: "tag == 'ordered'",
        ordering: "per_entity",
        retry_config: { max_attempts: 5, backoff_strategy: "fixed", initial_delay_ms: 500 },
        actions: [{ type: "webhook", url: `${receiver.url}/ordered` }],
      });
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('ordered', 'u0')`;
      for (const status of ["u1", "u2", "u3"]) {
        await db.sql`UPDATE public.orders SET status = ${status} WHERE tag = 'ordered'`;
      }
      await until("four requests (u1 twice)", () =>
        at(receiver, "/ordered").length >= 4 ? true : undefined,
      );
      await tick();
      // Unordered, u2 and u3 would have gone out while u1 waited for its retry.
      expect(at(receiver, "/ordered").map((r) => bodyOf(r).after.status)).toEqual([
        "u1",
        "u1",
        "u2",
        "u3",
      ]);
    },
    TEST_MS,
  );

  it(
    "runs on_dead_letter from a tick when a delivery is dead-lettered",
    async () => {
      const id = await createObserver({
        name: "dead",
        condition_expression: "tag == 'dead'",
        retry_config: { max_attempts: 1 },
        actions: [{ type: "webhook", url: `${receiver.url}/dead` }],
        on_dead_letter: [{ type: "webhook", url: `${receiver.url}/dead-report` }],
      });
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('dead', 'd1')`;
      const [report] = await until("the on_dead_letter webhook", () => {
        const reports = at(receiver, "/dead-report");
        return reports.length > 0 ? reports : undefined;
      });
      const [failed] = at(receiver, "/dead");
      const body = bodyOf(report as ReceivedRequest);
      expect(body.after.status).toBe("d1");
      expect(body.dead_letter).toMatchObject({
        observer: { id, name: "dead" },
        action_index: 0,
        delivery_id: failed?.headers["webhook-id"],
        attempts: 1,
        http_status: 503,
      });
      expect(report?.headers["webhook-id"]).not.toBe(failed?.headers["webhook-id"]);
    },
    TEST_MS,
  );

  it(
    "takes tokens from the shared rate limit (rate_limit_per_second)",
    async () => {
      const id = await createObserver({
        name: "limited",
        condition_expression: "tag == 'limited'",
        actions: [{ type: "webhook", url: `${receiver.url}/limited`, rate_limit_per_second: 2 }],
      });
      await db.sql`INSERT INTO public.orders (tag, status)
        SELECT 'limited', 'r' || n FROM generate_series(1, 4) n`;
      await until("four rate-limited webhooks", () =>
        at(receiver, "/limited").length >= 4 ? true : undefined,
      );
      const [bucket] = await db.sql<{ granted: number }[]>`
        SELECT r.granted_total::float8 AS granted FROM core.tb_observer_rate_limit r
        JOIN core.tb_observer o ON o.pk_observer = r.fk_observer WHERE o.id = ${id}::uuid`;
      // The ticks asked the bucket for every attempt.
      expect(bucket?.granted).toBeGreaterThanOrEqual(4);
    },
    TEST_MS,
  );

  it(
    "passes OBSERVERS_CIRCUIT_* to its ticks: an open circuit defers without spending attempts; reset delivers",
    async () => {
      const id = await createObserver({
        name: "circuit",
        condition_expression: "tag == 'circuit'",
        retry_config: { max_attempts: 10, backoff_strategy: "fixed", initial_delay_ms: 100 },
        actions: [{ type: "webhook", url: `${flaky.url}/down` }],
      });
      await db.sql`INSERT INTO public.orders (tag, status) VALUES ('circuit', 'c1')`;
      interface Destination {
        id: string;
        destination: string;
        state: string;
        consecutive_failures: number;
      }
      const open = await until("the open circuit", async () => {
        const page = await json<{ data: Destination[] }>(
          await api("/api/observers/destinations"),
          200,
          "destinations",
        );
        return page.data.find(
          (d) => d.destination.includes(flaky.url.slice(7)) && d.state === "open",
        );
      });
      // Threshold 2 (the default is 5): two attempts opened it.
      expect(open.consecutive_failures).toBe(2);
      // More ticks: the delivery is deferred to the probe (10 minutes away), no attempt spent.
      await tick();
      await tick();
      expect(flaky.requests).toHaveLength(2);
      // The next attempt is the third: the deferrals spent none.
      expect((await deliveryRows(id)).map((r) => r.attempt)).toEqual([3]);
      const health = await json<{ destinations?: { open: number; disabled: number } }>(
        await fetch(`${dev().url}/api/observers/runtime/health`),
        200,
        "health",
      );
      expect(health.destinations).toEqual({ open: 1, disabled: 0 });
      expect(
        sampleValue(await metrics(), "fraiseql_observer_circuit_state", {
          destination: open.destination,
        }),
      ).toBe(1);

      const detail = await json<{
        held: { destination: string; state: string; deliveries: number }[];
      }>(await api(`/api/observers/${id}`), 200, "GET observer");
      expect(detail.held).toMatchObject([
        { destination: open.destination, state: "open", deliveries: 1 },
      ]);

      flakyDown = false;
      await json(await post(`/api/observers/destinations/${open.id}/reset`), 200, "reset");
      await until("the delivery after the reset", () =>
        flaky.requests.length >= 3 ? true : undefined,
      );
      await until("the delivery's success", async () =>
        (await deliveryRows(id)).length === 0 ? true : undefined,
      );
      expect(flaky.requests).toHaveLength(3);
    },
    TEST_MS,
  );

  it(
    "replays a range in pages from the ticks the API asks for, without a cron; dry run; cancel",
    async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      // 7 pages of 500: misses first, the three matches at the end.
      await db.sql`INSERT INTO public.items (status) SELECT 'miss' FROM generate_series(1, 3000)`;
      await db.sql`INSERT INTO public.items (status) VALUES ('hit'), ('hit'), ('hit')`;
      // Read past them before the observer exists: only a replay delivers them.
      await until("the items read", async () => {
        const health = await json<{ lag: { pending_changes: number } }>(
          await fetch(`${dev().url}/api/observers/runtime/health`),
          200,
          "health",
        );
        return health.lag.pending_changes === 0 ? true : undefined;
      });
      const id = await createObserver({
        name: "replayed",
        entity_type: "Item",
        condition_expression: "status == 'hit'",
        actions: [{ type: "webhook", url: `${receiver.url}/replayed` }],
      });
      const until_ = new Date(Date.now() + 1000).toISOString();
      const range = { since, until: until_ };
      expect(
        await json(
          await post(`/api/observers/${id}/replay`, { ...range, dry_run: true }),
          200,
          "dry run",
        ),
      ).toEqual({ dry_run: true, ...range, considered: 3003, matched: 3, deliveries: 3 });

      const started = await json<{ id: string; status: string; total: number }>(
        await post(`/api/observers/${id}/replay`, range),
        202,
        "replay",
      );
      expect(started).toMatchObject({ status: "running", total: 3003 });
      // No cron from here: the ticker's alarm (asked for by the API) runs the ticks.
      const done = await until(
        "the replay to finish",
        async () => {
          const replay = await json<{ status: string }>(
            await api(`/api/observers/replays/${started.id}`),
            200,
            "replay progress",
          );
          return replay.status === "running" ? undefined : replay;
        },
        false,
      );
      expect(done).toMatchObject({ status: "done", scanned: 3003, matched: 3, created: 3 });
      await until(
        "the replayed webhooks",
        () => (at(receiver, "/replayed").length >= 3 ? true : undefined),
        false,
      );
      const ids = new Set(at(receiver, "/replayed").map((r) => r.headers["webhook-id"]));
      expect(ids.size).toBe(3);
      const ended = await post(`/api/observers/replays/${started.id}/cancel`);
      expect(ended.status, await ended.text()).toBe(409);

      const second = await json<{ id: string }>(
        await post(`/api/observers/${id}/replay`, range),
        202,
        "second replay",
      );
      const cancelled = await json<{ status: string }>(
        await post(`/api/observers/replays/${second.id}/cancel`),
        200,
        "cancel replay",
      );
      expect(cancelled.status).toBe("cancelled");
      const listed = await json<{ data: { id: string; status: string }[] }>(
        await api(`/api/observers/${id}/replays`),
        200,
        "replays",
      );
      expect(listed.data.map((r) => r.status)).toEqual(["cancelled", "done"]);
    },
    TEST_MS,
  );

  it("answers /api/sources with 501 SOURCES_UNAVAILABLE", async () => {
    const list = await api("/api/sources");
    expect(list.status).toBe(501);
    expect(await list.json()).toMatchObject({ status: 501, code: "SOURCES_UNAVAILABLE" });
    const create = await post("/api/sources", {
      name: "mysql-orders",
      kind: "mysql",
      url_env: "OBSERVERS_SECRET_MYSQL_URL",
      tables: [{ table: "shop.orders", entity_type: "ShopOrder" }],
    });
    expect(create.status).toBe(501);
    expect(await create.json()).toMatchObject({ code: "SOURCES_UNAVAILABLE" });
  });
});
