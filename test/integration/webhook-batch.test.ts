/**
 * Webhook batches (docs/delivery.md, "Batches") through the real runtime, PostgreSQL and HTTP: a
 * webhook with `batch {max_size, max_wait_ms}` sends its due deliveries together, `{id, events}`,
 * signed with the batch id as `webhook-id`; a failed batch's members retry one by one (attempts
 * counted per member) and are re-batched; a permanent failure dead-letters every member; the log
 * rows say which batch each change went out in. Assertions are on counts and contents, never on
 * elapsed time. The API refuses settings out of range, and batch with a body template (400
 * INVALID_CONFIG, like every invalid observer).
 */
import { Webhook } from "standardwebhooks";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  onTestFinished,
} from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { type Clock, systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { explainStoredEvent } from "../../src/store/inspect.ts";
import { listLogs } from "../../src/store/logs.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { fakeClock } from "../support/clock.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import type { ReceivedRequest } from "../support/receiver.ts";
import { useReceiver } from "../support/receiver.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const SECRET = `whsec_${btoa("a secret of enough bytes for HMAC")}`;
const ADMIN = "admin-token-for-batch-tests";
const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
let runtime: ObserverRuntime | undefined;

beforeAll(async () => {
  db = await createTestDatabase("webhook_batch");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

/** A runtime reading from now on (its checkpoint at the log's end). */
async function startRuntime(
  listenerId: string,
  options: {
    clock?: Clock;
    concurrency?: number;
    batchSize?: number;
    tenantConcurrency?: number;
  } = {},
): Promise<ObserverRuntime> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
  runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment({ clock: options.clock ?? systemClock }),
    listenerId,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.tenantConcurrency ? { tenantConcurrency: options.tenantConcurrency } : {}),
    pollIntervalMs: 100,
    leaseMs: 5_000,
    shutdownTimeoutMs: 2_000,
  });
  await runtime.start();
  return runtime;
}

interface BatchBody {
  id: string;
  events: { id: string; entity_id: string; attempt: number; after: { status: string } }[];
}

/** The request's body, after checking its signature with the Standard Webhooks library. */
function verified(request: ReceivedRequest): BatchBody {
  const headers = {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": String(request.headers["webhook-signature"]),
  };
  const body = new Webhook(SECRET).verify(request.text, headers) as BatchBody;
  // The batch's id is its webhook-id.
  expect(body.id).toBe(headers["webhook-id"]);
  return body;
}

async function insertOrders(count: number, status = "batched"): Promise<void> {
  await db.sql`INSERT INTO orders (status) SELECT ${status} FROM generate_series(1, ${count})`;
}

/** The log rows of observer `name`, per delivery, oldest first. */
async function logRows(name: string) {
  return db.sql<
    {
      delivery_id: string;
      status: string;
      attempt_number: number;
      batch_id: string | null;
      batch_size: number | null;
    }[]
  >`SELECT l.delivery_id::text AS delivery_id, l.status, l.attempt_number,
      l.request_payload ->> 'batch_id' AS batch_id,
      (l.request_payload ->> 'batch_size')::int AS batch_size
    FROM core.tb_observer_log l JOIN core.tb_observer o ON o.pk_observer = l.fk_observer
    WHERE o.name = ${name} ORDER BY l.pk_observer_log`;
}

describe("a batched webhook", () => {
  it("sends 25 changes as batches of 10, 10 and 5, each change once, in commit order, signed", async () => {
    const observerId = await insertObserver(db.sql, {
      name: "batch-25",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/batch`, {
          signing_secret: SECRET,
          batch: { max_size: 10, max_wait_ms: 200 },
        }),
      ],
    });
    await startRuntime("batch-25");
    await insertOrders(25);
    const requests = await receiver.waitFor(3);
    const bodies = requests.map(verified);
    expect(bodies.map((b) => b.events.length).sort((a, b) => a - b)).toEqual([5, 10, 10]);
    const ids = bodies.flatMap((b) => b.events.map((e) => Number(e.entity_id)));
    expect(ids).toHaveLength(25);
    expect(new Set(ids).size).toBe(25);
    // Each batch in commit order (one statement: the change-log key's order).
    for (const body of bodies) {
      const order = body.events.map((e) => Number(e.entity_id));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(body.events.every((e) => e.attempt === 1 && e.after.status === "batched")).toBe(true);
    }
    // Batches were cut in commit order too: the first ten changes went together, and so on.
    const sorted = bodies
      .map((b) => b.events.map((e) => Number(e.entity_id)))
      .sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
    const all = [...ids].sort((a, b) => a - b);
    expect(sorted).toEqual([all.slice(0, 10), all.slice(10, 20), all.slice(20)]);

    // Every change's log row names its batch, and every batch is one the receiver saw.
    const rows = await eventually(async () => {
      const found = await logRows("batch-25");
      return found.length === 25 ? found : undefined;
    }, "25 log rows");
    expect(rows.every((r) => r.status === "success" && r.attempt_number === 1)).toBe(true);
    expect(new Set(rows.map((r) => r.batch_id))).toEqual(new Set(bodies.map((b) => b.id)));
    const eventIds = new Set(bodies.flatMap((b) => b.events.map((e) => e.id)));
    expect(new Set(rows.map((r) => r.delivery_id))).toEqual(eventIds);
    expect(receiver.requests).toHaveLength(3);

    // The API's log rows and an event's explanation say which batch each change went out in.
    const page = await listLogs(db.client, { observerId, page: 1, pageSize: 100 });
    const first = bodies.find((b) => b.events.length === 5);
    const logged = page.data.find((row) => row.delivery_id === first?.events[0]?.id);
    expect(logged?.batch_id).toBe(first?.id);
    const [change] = await db.sql<{ id: string }[]>`
      SELECT c.id::text AS id FROM core.tb_entity_change_log c
      WHERE c.object_type = 'Order' AND c.object_id = ${first?.events[0]?.entity_id ?? ""}`;
    const explained = await explainStoredEvent(db.client, change?.id ?? "", {});
    const mine = explained.observers.find((o) => o.observer_id === observerId);
    expect(mine?.outcomes.map((o) => o.batch_id)).toEqual([first?.id]);
  });

  it("sends a partial batch once its oldest change has waited max_wait_ms", async () => {
    await insertObserver(db.sql, {
      name: "batch-partial",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/partial`, {
          signing_secret: SECRET,
          batch: { max_size: 100, max_wait_ms: 50 },
        }),
      ],
    });
    await startRuntime("batch-partial");
    await insertOrders(3);
    const [request] = await receiver.waitFor(1);
    if (!request) throw new Error("no request");
    expect(verified(request).events).toHaveLength(3);
  });

  it("retries a failed batch per member: every change arrives once, attempts counted per change", async () => {
    let calls = 0;
    receiver.reply(() => (++calls === 1 ? { status: 503 } : { status: 200 }));
    await insertObserver(db.sql, {
      name: "batch-retry",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/retry`, {
          signing_secret: SECRET,
          batch: { max_size: 10, max_wait_ms: 100 },
        }),
      ],
      retry_config: { max_attempts: 3, backoff_strategy: "fixed", initial_delay_ms: 50 },
    });
    await startRuntime("batch-retry");
    await insertOrders(6, "retried");
    const rows = await eventually(async () => {
      const found = await logRows("batch-retry");
      return found.filter((r) => r.status === "success").length === 6 ? found : undefined;
    }, "six successes");
    const [failed, ...delivered] = receiver.requests.map(verified);
    expect(failed?.events).toHaveLength(6);
    expect(failed?.events.every((e) => e.attempt === 1)).toBe(true);
    // The retries: each change exactly once among the successful requests, as its second attempt.
    const retried = delivered.flatMap((b) => b.events);
    expect(retried.map((e) => e.id).sort()).toEqual(failed?.events.map((e) => e.id).sort());
    expect(retried.every((e) => e.attempt === 2)).toBe(true);
    // Per delivery: a failed first attempt in the first batch, then a successful second.
    const byDelivery = new Map<string, (typeof rows)[number][]>();
    for (const row of rows)
      byDelivery.set(row.delivery_id, [...(byDelivery.get(row.delivery_id) ?? []), row]);
    expect(byDelivery.size).toBe(6);
    for (const attempts of byDelivery.values()) {
      expect(attempts.map((r) => [r.status, r.attempt_number])).toEqual([
        ["failed", 1],
        ["success", 2],
      ]);
      expect(attempts[0]?.batch_id).toBe(failed?.id);
      expect(attempts[0]?.batch_size).toBe(6);
      expect(delivered.map((b) => b.id)).toContain(attempts[1]?.batch_id);
    }
    expect(await db.sql`SELECT 1 FROM core.tb_observer_delivery`).toHaveLength(0);
  });

  it("dead-letters every member of a batch that fails for good", async () => {
    receiver.reply(() => ({ status: 410 }));
    await insertObserver(db.sql, {
      name: "batch-dead",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/gone`, { batch: { max_size: 10, max_wait_ms: 50 } })],
    });
    await startRuntime("batch-dead");
    await insertOrders(4, "dead");
    const dead = await eventually(async () => {
      const rows = await db.sql<{ attempts: number; error_code: string; status: number }[]>`
        SELECT attempts, error_code, response_status_code AS status FROM core.tb_observer_dlq
        WHERE observer_name = 'batch-dead'`;
      return rows.length === 4 ? rows : undefined;
    }, "four dead letters");
    expect(dead.every((d) => d.attempts === 1 && d.status === 410)).toBe(true);
    expect(dead.every((d) => d.error_code === "HTTP_STATUS")).toBe(true);
    expect(receiver.requests).toHaveLength(1);
  });

  it("sends at once, without waiting, when the runtime is full and when it stops", async () => {
    // The runtime's clock moves only 10 ms per 20 ms, so that the reader can look again when other
    // transactions on the server hold changes back (its timer); each batch must be sent before
    // that clock reaches its 10 s wait.
    const clock = fakeClock(Date.now() - 60_000);
    const ticking = setInterval(() => clock.advance(10), 20);
    onTestFinished(() => clearInterval(ticking));
    await insertObserver(db.sql, {
      name: "batch-full",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/full`, {
          signing_secret: SECRET,
          batch: { max_size: 100, max_wait_ms: 10_000 },
        }),
      ],
    });
    // At most max(1 * 4, 2 * 2) = 4 deliveries in flight: four fill it.
    const started = await startRuntime("batch-full", { clock, concurrency: 1, batchSize: 2 });
    const firstAt = clock.now();
    await insertOrders(4, "full");
    const [full] = await receiver.waitFor(1);
    expect(clock.now() - firstAt).toBeLessThan(10_000);
    expect(verified(full as ReceivedRequest).events).toHaveLength(4);
    await eventually(async () => {
      const rows = await logRows("batch-full");
      return rows.length === 4 ? rows : undefined;
    }, "four log rows");
    // Two more wait for a batch that neither fills nor times out: stopping sends them.
    const secondAt = clock.now();
    await insertOrders(2, "stopping");
    await eventually(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE lease_owner IS NOT NULL`;
      return row?.n === 2 ? true : undefined;
    }, "two leased deliveries");
    expect(receiver.requests).toHaveLength(1);
    await started.stop();
    expect(clock.now() - secondAt).toBeLessThan(10_000);
    expect(receiver.requests).toHaveLength(2);
    expect(verified(receiver.requests[1] as ReceivedRequest).events).toHaveLength(2);
    expect(await db.sql`SELECT 1 FROM core.tb_observer_delivery`).toHaveLength(0);
  });

  it("sends at once a tenant's group that its tenant's cap keeps from filling", async () => {
    // As above: the runtime's clock moves 10 ms per 20 ms; the batch must go before its 10 s wait.
    const clock = fakeClock(Date.now() - 60_000);
    const ticking = setInterval(() => clock.advance(10), 20);
    onTestFinished(() => clearInterval(ticking));
    await insertObserver(db.sql, {
      name: "batch-tenant-full",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/tenant-full`, {
          signing_secret: SECRET,
          batch: { max_size: 100, max_wait_ms: 10_000 },
        }),
      ],
    });
    // max(2 * 4, 2 * 2) = 8 deliveries in flight, a tenant's share 8 * 1 / 2 = 4: four of one
    // tenant fill its share (claims skip it) while the runtime still has room.
    await startRuntime("batch-tenant-full", {
      clock,
      concurrency: 2,
      tenantConcurrency: 1,
      batchSize: 2,
    });
    const firstAt = clock.now();
    await db.sql`INSERT INTO orders (status, org) SELECT 'tenant', 7 FROM generate_series(1, 4)`;
    const [request] = await receiver.waitFor(1);
    expect(clock.now() - firstAt).toBeLessThan(10_000);
    expect(verified(request as ReceivedRequest).events).toHaveLength(4);
  });

  it("records a batch's outcomes together: the room they make is not filled by a batch of one", async () => {
    const clock = fakeClock(Date.now() - 60_000);
    const ticking = setInterval(() => clock.advance(10), 20);
    onTestFinished(() => clearInterval(ticking));
    await insertObserver(db.sql, {
      name: "batch-recorded-together",
      event_type: "INSERT",
      actions: [
        // Due a moment later: every delivery is claimed (none created leased and adopted).
        webhook(`${receiver.url}/together`, {
          signing_secret: SECRET,
          delay_ms: 1,
          batch: { max_size: 100, max_wait_ms: 10_000 },
        }),
      ],
    });
    // A tenant's share of four, as above: its sixteen changes go as four batches of four. Were
    // a batch's outcomes recorded one by one, the first alone would make room for one claim,
    // and that one would go as a batch of its own (the tenant at its share again).
    await startRuntime("batch-recorded-together", {
      clock,
      concurrency: 2,
      tenantConcurrency: 1,
      batchSize: 2,
    });
    await db.sql`INSERT INTO orders (status, org) SELECT 'together', 7 FROM generate_series(1, 16)`;
    const requests = await receiver.waitFor(4);
    expect(requests.map((r) => verified(r).events.length)).toEqual([4, 4, 4, 4]);
  });

  it("cancels, unsent, the waiting members of an observer deleted before their batch goes out", async () => {
    await insertObserver(db.sql, {
      name: "batch-deleted",
      event_type: "INSERT",
      actions: [
        webhook(`${receiver.url}/deleted`, {
          signing_secret: SECRET,
          batch: { max_size: 100, max_wait_ms: 10_000 },
        }),
      ],
    });
    const started = await startRuntime("batch-deleted");
    await insertOrders(3, "deleted");
    // Claimed, waiting for their batch to fill.
    await eventually(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE lease_owner IS NOT NULL`;
      return row?.n === 3 ? true : undefined;
    }, "three leased deliveries");
    // Deleted as DELETE /api/observers/{id} does; stopping sends what waits, at once.
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE name = 'batch-deleted'`;
    await started.stop();
    expect(receiver.requests).toHaveLength(0);
    const rows = await db.sql<{ status: string; error_code: string | null }[]>`
      SELECT l.status, l.error_code FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer WHERE o.name = 'batch-deleted'`;
    expect(rows).toEqual([
      { status: "cancelled", error_code: "OBSERVER_DELETED" },
      { status: "cancelled", error_code: "OBSERVER_DELETED" },
      { status: "cancelled", error_code: "OBSERVER_DELETED" },
    ]);
    expect(await db.sql`SELECT 1 FROM core.tb_observer_delivery`).toHaveLength(0);
    expect(
      await db.sql`SELECT 1 FROM core.tb_observer_dlq WHERE observer_name = 'batch-deleted'`,
    ).toHaveLength(0);
  });

  it("leaves a webhook without batch sending one change per request", async () => {
    await insertObserver(db.sql, {
      name: "unbatched",
      event_type: "INSERT",
      actions: [webhook(`${receiver.url}/single`, { signing_secret: SECRET })],
    });
    await startRuntime("unbatched");
    await insertOrders(3, "single");
    const requests = await receiver.waitFor(3);
    for (const request of requests) {
      const body = new Webhook(SECRET).verify(request.text, {
        "webhook-id": String(request.headers["webhook-id"]),
        "webhook-timestamp": String(request.headers["webhook-timestamp"]),
        "webhook-signature": String(request.headers["webhook-signature"]),
      }) as { id: string; events?: unknown };
      expect(body.events).toBeUndefined();
      expect(body.id).toBe(request.headers["webhook-id"]);
    }
    const rows = await eventually(async () => {
      const found = await logRows("unbatched");
      return found.length === 3 ? found : undefined;
    }, "three log rows");
    expect(rows.every((r) => r.batch_id === null)).toBe(true);
  });
});

describe("batch settings through the API", () => {
  let admin: ReturnType<typeof apiClient>;
  beforeAll(() => {
    const app = createObserversApi({
      sql: db.client,
      runtime: stubRuntime(),
      adminToken: ADMIN,
      logger: silentLogger,
      environment: testEnvironment(),
    });
    admin = apiClient(app, ADMIN);
  });

  let names = 0;
  const create = (action: Record<string, unknown>) =>
    admin("POST", "/api/observers", {
      name: `batch-api-${++names}`,
      entity_type: "Order",
      actions: [{ type: "webhook", url: "https://example.com/hook", ...action }],
    });

  it("accepts batch settings in range and shows the batch id in the logs' schema", async () => {
    const response = await create({ batch: { max_size: 1000, max_wait_ms: 10_000 } });
    expect(response.status).toBe(201);
    const created = (await response.json()) as { actions: { batch: unknown }[] };
    expect(created.actions[0]?.batch).toEqual({ max_size: 1000, max_wait_ms: 10_000 });
    expect((await create({ batch: { max_size: 1 } })).status).toBe(201);
  });

  it("refuses settings out of range, unknown fields, and batch with a body template (400, naming the field)", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ batch: { max_size: 0 } }, "actions.0.batch.max_size"],
      [{ batch: { max_size: 1001 } }, "actions.0.batch.max_size"],
      [{ batch: { max_size: 2.5 } }, "actions.0.batch.max_size"],
      [{ batch: { max_size: 10, max_wait_ms: 10_001 } }, "actions.0.batch.max_wait_ms"],
      [{ batch: { max_size: 10, max_wait_ms: -1 } }, "actions.0.batch.max_wait_ms"],
      [{ batch: { max_wait_ms: 10 } }, "actions.0.batch.max_size"],
      [{ batch: { max_size: 10, flush: true } }, "actions.0.batch.flush"],
      [{ batch: [] }, "actions.0.batch"],
      [{ batch: { max_size: 10 }, body_template: '{"x": 1}' }, "actions.0.body_template"],
    ];
    for (const [action, path] of cases) {
      const body = await problem(await create(action), 400);
      expect(body.code).toBe("INVALID_CONFIG");
      expect(
        body.issues?.map((i) => i.path),
        JSON.stringify(action),
      ).toContain(path);
    }
    // Only webhooks batch.
    const slack = await admin("POST", "/api/observers", {
      name: "batch-api-slack",
      entity_type: "Order",
      actions: [
        { type: "slack", webhook_url: "https://hooks.slack.com/x", batch: { max_size: 2 } },
      ],
    });
    expect((await problem(slack, 400)).issues?.map((i) => i.path)).toContain("actions.0.batch");
  });
});
