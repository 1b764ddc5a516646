/**
 * NATS mode with real processes: a `nats-server -js` of this file's own, the Bun server as
 * bridge and workers (OBSERVERS_TRANSPORT=nats), a webhook receiver counting deliveries by
 * webhook-id. Every change must reach the receiver (lost = 0) whatever is killed meanwhile, and
 * repeats only ever under the original's webhook-id.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createClient } from "@redis/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANGE_COLUMNS, type ChangeRow } from "../../src/store/change-log.ts";
import { encodeChange } from "../../src/transport/wire.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type NatsServer, startNatsServer } from "../support/nats-server.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let nats: NatsServer;

function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL must be set for the NATS tests (a worker dedups on Redis)");
  return url;
}
let receiver: Receiver;

beforeAll(async () => {
  nats = await startNatsServer();
  // Slow receivers (path /slow) answer after 2.5 s: longer than a 1 s ack wait.
  receiver = await startReceiver(async (request) => {
    if (request.path === "/slow") await new Promise((resolve) => setTimeout(resolve, 2_500));
    return { status: 204 };
  });
});
afterAll(async () => {
  await receiver?.close();
  await nats?.close();
});

/** One scenario's database, stream and processes (each scenario has its own subjects). */
async function scenario(name: string) {
  const db = await createTestDatabase(`nats-${name}`);
  await createOrdersTable(db.sql);
  const path = `/${name}`;
  await insertObserver(db.sql, {
    name: `${name}-hook`,
    actions: [webhook(`${receiver.url}${path}`)],
    retry_config: { max_attempts: 20, initial_delay_ms: 50, max_delay_ms: 500 },
  });
  const env = {
    DATABASE_URL: db.url,
    OBSERVERS_TRANSPORT: "nats",
    NATS_URL: nats.url,
    OBSERVERS_NATS_STREAM: `events_${name}`,
    OBSERVERS_NATS_SUBJECT_PREFIX: `test.${name}`,
    OBSERVERS_NATS_CONSUMER: `workers_${name}`,
    OBSERVERS_NATS_ACK_WAIT_MS: "2000",
    OBSERVERS_NATS_BRIDGE_LEASE_MS: "2000",
    OBSERVERS_LEASE_MS: "2000",
    OBSERVERS_POLL_INTERVAL_MS: "200",
  };
  const processes: ServerProcess[] = [];
  const start = async (
    role: "bridge" | "worker" | "all",
    extra: Record<string, string> = {},
    runtime: "bun" | "deno" = "bun",
  ) => {
    const server = await startServer({ ...env, OBSERVERS_ROLE: role, ...extra }, { runtime });
    processes.push(server);
    return server;
  };
  /** Webhook-ids received on this scenario's path, with how often each came. */
  const received = () => {
    const ids = new Map<string, number>();
    for (const request of receiver.requests) {
      if (request.path !== path) continue;
      const id = String(request.headers["webhook-id"]);
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
    return ids;
  };
  const progress = { inserted: 0 };
  /** Inserts `count` orders in `batches` transactions, `pauseMs` apart. */
  const insertOrders = async (count: number, batches: number, pauseMs: number) => {
    const per = Math.ceil(count / batches);
    for (let done = 0; done < count; done += per) {
      const n = Math.min(per, count - done);
      await db.sql`INSERT INTO public.orders (status) SELECT 'new' FROM generate_series(1, ${n})`;
      progress.inserted += n;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  /** Resolves once `count` changes were inserted. */
  const inserted = (count: number) =>
    eventually(() => (progress.inserted >= count ? true : undefined), `${count} inserted`, 60_000);
  const close = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await db.drop();
  };
  return { db, env, start, received, insertOrders, inserted, close, path };
}

/** Distinct webhook-ids of every delivery the database recorded as successful. */
async function loggedDeliveries(db: TestDatabase): Promise<number> {
  const rows = await db.sql<{ n: string }[]>`
    SELECT count(DISTINCT delivery_id)::text AS n FROM core.tb_observer_log WHERE status = 'success'`;
  return Number(rows[0]?.n ?? 0);
}

describe("NATS mode", () => {
  it("one bridge and two workers deliver every change once, through kill -9 of a worker, of the bridge, and a NATS restart", async () => {
    const s = await scenario("chaos");
    try {
      const bridge = await s.start("bridge");
      const workerA = await s.start("worker");
      // The other worker checks Redis first (REDIS_URL), then PostgreSQL.
      const workerB = await s.start("worker", { REDIS_URL: redisUrl() });
      const total = 3_000;
      // About 10 s of load (30 changes every 100 ms); each fault lands while it runs.
      const load = s.insertOrders(total, 100, 100);
      await s.inserted(400);
      await workerA.kill9();
      await s.inserted(900);
      await s.start("worker");
      await bridge.kill9();
      await s.inserted(1_300);
      await s.start("bridge");
      await s.inserted(1_900);
      await nats.kill9();
      // NATS down: health says so (503, with the reason), and nothing is lost meanwhile.
      const down = await eventually(async () => {
        const response = await workerB.api("/api/observers/runtime/health");
        return response.status === 503 ? await response.json() : undefined;
      }, "a 503 while NATS is down");
      expect(down).toMatchObject({
        transport: { transport: "nats", role: "worker", healthy: false },
      });
      expect(String(down.transport.reason)).toMatch(/NATS/);
      await nats.restart();
      expect(s.received().size).toBeLessThan(total);
      await load;

      const ids = await eventually(
        () => {
          const ids = s.received();
          return ids.size >= total ? ids : undefined;
        },
        `all ${total} changes delivered`,
        90_000,
      );
      expect(ids.size).toBe(total);
      // NATS is back: so is health.
      const up = await eventually(async () => {
        const response = await workerB.api("/api/observers/runtime/health");
        return response.status === 200 ? await response.json() : undefined;
      }, "a 200 once NATS is back");
      expect(up).toMatchObject({ transport: { healthy: true, connection: "connected" } });
      const repeats = [...ids.values()].filter((n) => n > 1).length;
      console.log(`NATS chaos: ${total} changes, ${ids.size} webhook-ids, ${repeats} repeated`);
      // Each webhook-id is one (change, observer, action); the database records each as done
      // (a killed worker's unrecorded attempts are made again, under the same id, when their
      // leases run out).
      await eventually(
        async () => ((await loggedDeliveries(s.db)) === total ? true : undefined),
        "every delivery recorded",
        30_000,
      );
      // Worker B recorded the changes it matched in Redis (SET NX with a TTL), checked first.
      const redis = createClient({ url: redisUrl() });
      await redis.connect();
      try {
        const events = await s.db.sql<{ id: string }[]>`
          SELECT id::text AS id FROM core.tb_entity_change_log`;
        const values = await redis.mGet(
          events.map((e) => `fraiseql:observers:nats:matched:${e.id}`),
        );
        const remembered = values.filter((v) => v !== null).length;
        expect(remembered).toBeGreaterThan(0);
        expect(remembered).toBeLessThanOrEqual(total);
        const ttl = await redis.ttl(
          `fraiseql:observers:nats:matched:${events[values.findIndex((v) => v !== null)]?.id}`,
        );
        expect(ttl).toBeGreaterThan(0);
      } finally {
        await redis.quit();
      }
      const pending = await s.db.sql<{ n: string }[]>`
        SELECT count(*)::text AS n FROM core.tb_observer_delivery`;
      expect(pending[0]?.n).toBe("0");
      // The webhook-ids are the PostgreSQL path's: a digest of (change, observer, action).
      const expected = await s.db.sql<{ id: string }[]>`
        SELECT md5(c.id::text || ':' || o.pk_observer || ':0')::uuid::text AS id
        FROM core.tb_entity_change_log c CROSS JOIN core.tb_observer o`;
      expect(new Set(expected.map((row) => row.id))).toEqual(new Set(ids.keys()));
      // The stream holds each change once: the killed bridge's republish was dropped as duplicate.
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info("events_chaos");
        expect(info.state.messages).toBe(total);
        // Created with the change log's retention as its age limit (default 7 days).
        expect(info.config.max_age).toBe(7 * 86_400 * 1e9);
      } finally {
        await nc.close();
      }
    } finally {
      await s.close();
    }
  }, 180_000);

  it("dead-letters a message it cannot decode, with its raw payload, and goes on", async () => {
    const s = await scenario("poison");
    try {
      // On Deno: bridge, worker and dead letters there too. Credentials in NATS_URL (ignored by
      // this server) never show in output or answers.
      const worker = await s.start(
        "all",
        {
          NATS_URL: nats.url.replace("nats://", "nats://natsuser:nats-secret-pass@"),
          LOG_LEVEL: "info",
        },
        "deno",
      );
      const nc = await connect({ servers: nats.url });
      try {
        const js = jetstream(nc);
        await js.publish("test.poison.Order.INSERT", new TextEncoder().encode("{not json"));
      } finally {
        await nc.close();
      }
      const rows = await eventually(async () => {
        const rows = await s.db.sql<{ subject: string; payload: Buffer; error: string }[]>`
          SELECT subject, payload, error FROM core.tb_nats_dead_letter`;
        return rows.length > 0 ? rows : undefined;
      }, "the dead letter");
      expect(rows).toHaveLength(1);
      expect(rows[0]?.subject).toBe("test.poison.Order.INSERT");
      expect(rows[0]?.payload.toString("utf8")).toBe("{not json");
      expect(rows[0]?.error).toMatch(/not UTF-8 JSON/);
      // Terminated, not left pending; and the worker delivers what follows.
      await s.insertOrders(5, 1, 0);
      await eventually(() => (s.received().size === 5 ? true : undefined), "the next changes");
      const health = await eventually(async () => {
        const body = (await (await worker.api("/api/observers/runtime/health")).json()) as {
          transport: { consumer: { num_ack_pending: number; num_pending: number } };
        };
        const c = body.transport.consumer;
        return c.num_ack_pending === 0 && c.num_pending === 0 ? body : undefined;
      }, "the consumer drained");
      expect(health.transport.consumer.num_pending).toBe(0);
      expect(health).toMatchObject({ transport: { dead_letters: 1 } });
      expect(JSON.stringify(health)).not.toContain("nats-secret-pass");
      // The server's scrape: NATS gauges, the bridge's counter, the worker's changes, the
      // undecodable message, and a backlog read from the bridge's cursor (caught up).
      const metrics = parseExposition(await (await worker.api("/metrics")).text());
      expect(sampleValue(metrics, "fraiseql_observer_nats_dead_letters")).toBe(1);
      expect(sampleValue(metrics, "fraiseql_observer_nats_connected")).toBe(1);
      expect(sampleValue(metrics, "fraiseql_observer_nats_consumer_pending")).toBe(0);
      expect(sampleValue(metrics, "fraiseql_observer_nats_bridge_leader")).toBe(1);
      expect(sampleValue(metrics, "fraiseql_observer_nats_published_total")).toBe(5);
      expect(sampleValue(metrics, "fraiseql_observer_events_processed_total")).toBe(5);
      expect(sampleValue(metrics, "fraiseql_observer_backlog_size")).toBe(0);
      const listed = await worker.api("/api/observers/nats/dead-letters");
      expect(listed.status).toBe(200);
      expect(await listed.json()).toMatchObject({
        total_count: 1,
        data: [{ payload_base64: btoa("{not json"), subject: "test.poison.Order.INSERT" }],
      });
      expect(worker.output()).toContain("NATS mode");
      expect(worker.output()).not.toContain("nats-secret-pass");
      // A graceful stop drains and exits 0.
      expect(await worker.stop()).toBe(0);
    } finally {
      await s.close();
    }
  }, 60_000);

  it("authenticates with the credentials in NATS_URL and never shows them", async () => {
    const secured = await startNatsServer(["--user", "natsuser", "--pass", "nats-auth-secret"]);
    const s = await scenario("auth");
    try {
      const url = secured.url.replace("nats://", "nats://natsuser:nats-auth-secret@");
      const worker = await s.start("all", { NATS_URL: url, LOG_LEVEL: "info" });
      await s.insertOrders(2, 1, 0);
      await eventually(() => (s.received().size === 2 ? true : undefined), "two deliveries");
      const health = await worker.api("/api/observers/runtime/health");
      expect(health.status).toBe(200);
      expect(await health.text()).not.toContain("nats-auth-secret");
      expect(worker.output()).not.toContain("nats-auth-secret");
      // A wrong password: start-up fails, naming NATS_URL, quoting neither URL nor password.
      const refused = await startServer({
        ...s.env,
        NATS_URL: secured.url.replace("nats://", "nats://natsuser:wrong-nats-secret@"),
        OBSERVERS_ROLE: "worker",
      }).then(
        (server) => {
          void server.kill9();
          return "started";
        },
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/exited with 1/);
      expect(refused).toMatch(/could not connect to NATS at NATS_URL/);
      expect(refused).not.toContain("wrong-nats-secret");
    } finally {
      await s.close();
      await secured.close();
    }
  }, 60_000);

  it("keeps a message in progress while a slow action runs past the ack wait", async () => {
    const s = await scenario("slow");
    try {
      const worker = await s.start("all", { OBSERVERS_NATS_ACK_WAIT_MS: "1000" });
      await s.insertOrders(3, 1, 0);
      await eventually(() => (s.received().size === 3 ? true : undefined), "three deliveries");
      const consumer = await eventually(async () => {
        const body = (await (await worker.api("/api/observers/runtime/health")).json()) as {
          transport: { consumer: { num_ack_pending: number; num_redelivered: number } };
        };
        return body.transport.consumer.num_ack_pending === 0 ? body.transport.consumer : undefined;
      }, "every message acknowledged");
      // working() heartbeats held the messages: none was handed out again (each of the three
      // was delivered once: the consumer's delivery sequence is 3).
      expect(consumer.num_redelivered).toBe(0);
      const nc = await connect({ servers: nats.url });
      try {
        const info = await (await jetstreamManager(nc)).consumers.info(
          "events_slow",
          "workers_slow",
        );
        expect(info.delivered.consumer_seq).toBe(3);
      } finally {
        await nc.close();
      }
      expect([...s.received().values()]).toEqual([1, 1, 1]);
    } finally {
      await s.close();
    }
  }, 60_000);

  it("reads a change sent without its images (too large for the broker) from the change log", async () => {
    const s = await scenario("large");
    try {
      await s.start("worker");
      await s.db.sql`INSERT INTO public.orders (status, total) VALUES ('big', 99)`;
      // No bridge runs: publish the change as a bridge would under a 1.5 KB broker limit.
      const [row] = await s.db.sql.unsafe<ChangeRow[]>(
        `SELECT ${CHANGE_COLUMNS} FROM core.tb_entity_change_log c`,
      );
      const change = encodeChange(row as ChangeRow, "test.large", 1_500);
      expect(JSON.parse(change.payload)).toMatchObject({ truncated: true, data: null });
      const nc = await connect({ servers: nats.url });
      try {
        const h = headers();
        for (const [name, value] of Object.entries(change.headers)) h.set(name, value);
        await jetstream(nc).publish(change.subject, change.payload, {
          msgID: change.messageId,
          headers: h,
        });
      } finally {
        await nc.close();
      }
      await eventually(() => (s.received().size === 1 ? true : undefined), "the delivery");
      const request = receiver.requests.find((r) => r.path === s.path);
      expect(JSON.parse(request?.text ?? "{}")).toMatchObject({
        after: { status: "big", total: 99 },
      });
    } finally {
      await s.close();
    }
  }, 60_000);

  it("publishes FraiseQL's EntityEvent format that a plain NATS subscriber (not ours) receives", async () => {
    const s = await scenario("plain");
    try {
      const nc = await connect({ servers: nats.url });
      const seen: { subject: string; id: string | undefined; body: Record<string, unknown> }[] = [];
      const sub = nc.subscribe("test.plain.>", {
        callback: (_error, msg) => {
          seen.push({
            subject: msg.subject,
            id: msg.headers?.get("Nats-Msg-Id"),
            body: msg.json<Record<string, unknown>>(),
          });
        },
      });
      await nc.flush();
      try {
        // Two bridges, one on Deno (the Node transport of @nats-io runs there too): one leads.
        const bridges = [await s.start("bridge", {}, "deno"), await s.start("bridge")];
        const leaders = async () => {
          const states = await Promise.all(
            bridges.map(async (b) => {
              if (b.child.exitCode !== null || b.child.signalCode !== null) return false;
              const body = (await (await b.api("/api/observers/runtime/health")).json()) as {
                transport: { bridge: { leader: boolean } };
              };
              return body.transport.bridge.leader;
            }),
          );
          return states;
        };
        const first = await eventually(async () => {
          const states = await leaders();
          return states.filter(Boolean).length === 1 ? states : undefined;
        }, "one leading bridge");
        await s.db.sql`INSERT INTO public.orders (status, total, org) VALUES ('paid', 12.5, 7)`;
        await eventually(() => (seen.length === 1 ? true : undefined), "the insert");
        // The leader dies: the other takes over once the lease runs out, and publishes.
        const leader = bridges[first.indexOf(true)] as ServerProcess;
        await leader.kill9();
        await s.db.sql`UPDATE public.orders SET status = 'shipped'`;
        // A plain (core NATS) subscriber may also see the dead leader's last batch again, under
        // the same Nats-Msg-Id; the stream itself keeps each change once.
        await eventually(
          () => (seen.some((m) => m.subject.endsWith(".UPDATE")) ? true : undefined),
          "the update",
        );
        expect(await leaders()).toEqual(first.map((led) => !led));
      } finally {
        sub.unsubscribe();
        await nc.close();
      }
      const insert = seen.find((m) => m.subject.endsWith(".INSERT"));
      const update = seen.find((m) => m.subject.endsWith(".UPDATE"));
      expect(new Set(seen.map((m) => m.id)).size).toBe(2);
      expect(insert?.subject).toBe("test.plain.Order.INSERT");
      expect(update?.subject).toBe("test.plain.Order.UPDATE");
      expect(insert?.id).toBe(insert?.body.id);
      expect(insert?.body).toMatchObject({
        event_type: "INSERT",
        entity_type: "Order",
        data: { status: "paid", total: 12.5, org: 7 },
        changes: null,
        op: "c",
        before: null,
        after: { status: "paid", total: 12.5, org: 7 },
      });
      expect(Object.keys(insert?.body ?? {})).toEqual(
        expect.arrayContaining([
          "id",
          "event_type",
          "entity_type",
          "entity_id",
          "data",
          "changes",
          "user_id",
          "tenant_id",
          "timestamp",
          "duration_ms",
          "seq",
          "actor_type",
          "acting_for",
          "schema_version",
          "cdc_source",
        ]),
      );
      expect(update?.body).toMatchObject({
        event_type: "UPDATE",
        op: "u",
        data: { status: "shipped" },
      });
    } finally {
      await s.close();
    }
  }, 60_000);
});
