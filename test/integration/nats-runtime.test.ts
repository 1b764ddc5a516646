/**
 * NATS mode as a full citizen of time and metrics, with in-process runtimes over a real
 * `nats-server -js` of this file's own and a real PostgreSQL: the worker path honours
 * `delay_ms`, `run_at_template` and `debounce` exactly as the PostgreSQL path does (rows due at
 * the same times, a burst collapsed into one delivery, claimed by the due timer rather than a
 * poll); scheduled observers and one-off events run only where deliveries run (never on a
 * bridge-only process) and each tick once; the worker counts
 * `fraiseql_observer_events_processed_total` and sends the change's `traceparent`; the NATS
 * gauges, the published counter and the undecodable-message count are scraped, the latter also
 * shown by health and listed (raw payload in base64) to admin keys bound to no tenant.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bridgeName, createNatsMode } from "../../adapters/hosts/server/nats-mode.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { natsSource } from "../../src/metrics/nats.ts";
import { databaseSource, renderScrape } from "../../src/metrics/scrape.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { type Logger, silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime } from "../../src/runtime/index.ts";
import type { RuntimeTransportOptions } from "../../src/runtime/types.ts";
import { scheduleOneOff } from "../../src/store/schedules.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type NatsServer, startNatsServer } from "../support/nats-server.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

const ADMIN = "admin-token-for-nats-runtime-tests";
let nats: NatsServer;
let receiver: Receiver;

beforeAll(async () => {
  nats = await startNatsServer();
  receiver = await startReceiver(() => ({ status: 204 }));
});
afterAll(async () => {
  await receiver?.close();
  await nats?.close();
});

/** One scenario: its database, its stream, and the NATS-mode runtimes it starts. */
async function scenario(name: string) {
  const db = await createTestDatabase(`nats_rt_${name}`);
  await createOrdersTable(db.sql);
  // The bridge starts where this cursor stands: at the beginning of this fresh change log.
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')
    ON CONFLICT (listener_id) DO NOTHING`;
  const stopping: (() => Promise<void>)[] = [];
  const start = async (
    role: "all" | "bridge" | "worker",
    natsUrl: string = nats.url,
    logger: Logger = silentLogger,
  ) => {
    const config = parseServerConfig({
      DATABASE_URL: db.url,
      OBSERVERS_TRANSPORT: "nats",
      NATS_URL: natsUrl,
      OBSERVERS_ROLE: role,
      OBSERVERS_NATS_STREAM: `rt_${name}`,
      OBSERVERS_NATS_SUBJECT_PREFIX: `rt.${name}`,
      OBSERVERS_NATS_CONSUMER: `rt_workers_${name}`,
      OBSERVERS_NATS_ACK_WAIT_MS: "5000",
      OBSERVERS_NATS_BRIDGE_LEASE_MS: "2000",
      // The bridge's reading.
      OBSERVERS_POLL_INTERVAL_MS: "100",
    });
    const mode = createNatsMode(config, db.client, logger);
    await mode.open();
    const runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment({ clock: systemClock }),
      listenerId: bridgeName(config.nats.stream),
      transport: mode.transport,
      // Long: a delivery created for later must be claimed by the due timer, not by a poll.
      pollIntervalMs: 60_000,
      leaseMs: 5_000,
      shutdownTimeoutMs: 2_000,
    });
    stopping.push(async () => {
      await runtime.stop();
      await mode.close();
    });
    await runtime.start();
    return { runtime, transport: mode.transport };
  };
  const requests = (path: string) => receiver.requests.filter((r) => r.path === path);
  const close = async () => {
    for (const stop of stopping.splice(0).reverse()) await stop();
    await db.drop();
  };
  return { db, start, requests, close };
}

/** The pending (unleased) delivery rows of observer `name`: due and creation times, epoch ms. */
async function pending(db: TestDatabase, name: string) {
  return db.sql<{ due: number; created: number; key: string | null }[]>`
    SELECT (extract(epoch FROM d.next_attempt_at) * 1000)::float8 AS due,
      (extract(epoch FROM d.created_at) * 1000)::float8 AS created, d.debounce_key AS key
    FROM core.tb_observer_delivery d JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
    WHERE o.name = ${name} AND d.lease_owner IS NULL`;
}

async function scrape(sources: Parameters<typeof renderScrape>[0]) {
  return parseExposition(await renderScrape(sources));
}

describe("NATS mode, time", () => {
  it("delays, runs at the change's instant and debounces on the worker path as the PostgreSQL path does", async () => {
    const s = await scenario("timing");
    try {
      await insertObserver(s.db.sql, {
        name: "delayed",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/t/delayed`, { delay_ms: 3_000 })],
      });
      await insertObserver(s.db.sql, {
        name: "remind",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/t/remind`, { run_at_template: "{{ after.status }}" })],
      });
      await insertObserver(s.db.sql, {
        name: "bounce",
        event_type: "UPDATE",
        actions: [webhook(`${receiver.url}/t/bounce`, { debounce: { window_ms: 1_500 } })],
      });
      await insertObserver(s.db.sql, {
        name: "plain",
        event_type: "UPDATE",
        actions: [webhook(`${receiver.url}/t/plain`)],
      });
      const bridge = await s.start("bridge");
      await s.start("worker");
      const before = sampleValue(await scrape([]), "fraiseql_observer_events_processed_total");

      const at = new Date(Date.now() + 2_500);
      const [order] = await s.db.sql`INSERT INTO orders (status) VALUES (${at.toISOString()})
        RETURNING id`;
      const delayed = await eventually(async () => {
        const rows = await pending(s.db, "delayed");
        return rows.length === 1 ? rows[0] : undefined;
      }, "the delayed delivery waiting in the table");
      // Due exactly delay_ms after it was created, at the instant the change names: as in
      // PostgreSQL mode (one statement, one now()).
      expect(Math.round((delayed?.due ?? 0) - (delayed?.created ?? 0))).toBe(3_000);
      // The run_at delivery's waiting row is not looked for: on a loaded machine it may be created
      // and sent before a poll sees it. When it was sent, and its stamp, say when it was due.

      for (let i = 1; i <= 5; i++) {
        await s.db.sql`UPDATE orders SET status = ${`s${i}`} WHERE id = ${order?.id}`;
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      // The due timer claims each when due (the poll is a minute away); the webhook is stamped
      // with the due time.
      const [sent] = await eventually(
        () => (s.requests("/t/delayed").length === 1 ? s.requests("/t/delayed") : undefined),
        "the delayed webhook",
      );
      expect(Number(sent?.headers["webhook-timestamp"])).toBe(
        Math.floor((delayed?.due ?? 0) / 1000),
      );
      // Not sent before it was due (lower bounds: a slow machine only makes them later).
      expect(sent?.receivedAt).toBeGreaterThanOrEqual(Math.floor(delayed?.due ?? Infinity));
      const [reminded] = await eventually(
        () => (s.requests("/t/remind").length === 1 ? s.requests("/t/remind") : undefined),
        "the run_at webhook",
      );
      expect(Number(reminded?.headers["webhook-timestamp"])).toBe(Math.floor(at.getTime() / 1000));
      expect(reminded?.receivedAt).toBeGreaterThanOrEqual(at.getTime());
      // Five updates: five plain deliveries, one debounced delivery of the last state.
      await eventually(
        () => (s.requests("/t/bounce").length >= 1 ? true : undefined),
        "the debounced webhook",
      );
      await eventually(
        () => (s.requests("/t/plain").length >= 5 ? true : undefined),
        "the five plain webhooks",
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(s.requests("/t/plain")).toHaveLength(5);
      const bounced = s.requests("/t/bounce").map((r) => JSON.parse(r.text));
      expect(bounced.map((b) => b.after.status)).toEqual(["s5"]);
      expect(await pending(s.db, "bounce")).toEqual([]);

      // Metrics: the worker counted the six changes it matched; the bridge their publishing.
      const after = await scrape([natsSource(bridge.transport)]);
      expect(sampleValue(after, "fraiseql_observer_events_processed_total")).toBe(
        (before ?? 0) + 6,
      );
      expect(sampleValue(after, "fraiseql_observer_nats_published_total")).toBeGreaterThanOrEqual(
        6,
      );
      expect(sampleValue(after, "fraiseql_observer_nats_bridge_leader")).toBe(1);
      expect(sampleValue(after, "fraiseql_observer_nats_connected")).toBe(1);
    } finally {
      await s.close();
    }
  }, 45_000);
});

describe("NATS mode, roles", () => {
  it("fires schedules and one-off events only where deliveries run, each tick once", async () => {
    const s = await scenario("roles");
    try {
      const [tick] = await s.db.sql`INSERT INTO core.tb_observer (name, event_type, schedule,
          actions, retry_config)
        VALUES ('every-second', 'SCHEDULE', '* * * * * *',
          ${JSON.stringify([{ type: "webhook", url: `${receiver.url}/r/tick` }])}::text::jsonb,
          '{"max_attempts": 1}'::jsonb)
        RETURNING pk_observer::text AS pk`;
      const oneOffObserver = await insertObserver(s.db.sql, {
        name: "one-off",
        event_type: "UPDATE",
        entity_type: "Nothing",
        actions: [webhook(`${receiver.url}/r/once`)],
      });
      const oneOff = await scheduleOneOff(s.db.client, oneOffObserver, {
        runAt: new Date().toISOString(),
        payload: { hello: "world" },
      });
      expect(oneOff?.deliveries).toBe(1);

      // A bridge-only process: it publishes, and neither fires a schedule nor runs a delivery.
      await s.start("bridge");
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await s.db.sql`SELECT 1 FROM core.tb_observer_schedule`).toHaveLength(0);
      expect(
        await s.db.sql`SELECT 1 FROM core.tb_observer_event WHERE kind = 'schedule'`,
      ).toHaveLength(0);
      const [waiting] = await s.db.sql`SELECT lease_owner, attempt FROM core.tb_observer_delivery`;
      expect(waiting).toMatchObject({ lease_owner: null });
      expect(s.requests("/r/once")).toHaveLength(0);
      expect(s.requests("/r/tick")).toHaveLength(0);

      // Two workers: the one-off runs once, every tick fires once.
      await s.start("worker");
      await s.start("worker");
      const [once] = await eventually(
        () => (s.requests("/r/once").length > 0 ? s.requests("/r/once") : undefined),
        "the one-off event",
      );
      expect(JSON.parse(once?.text ?? "{}").after.payload).toEqual({ hello: "world" });
      await eventually(
        () => (s.requests("/r/tick").length >= 3 ? true : undefined),
        "three ticks",
        10_000,
      );
      expect(s.requests("/r/once")).toHaveLength(1);
      const ticks = s.requests("/r/tick").map((r) => JSON.parse(r.text).after.scheduled_at);
      const ids = s.requests("/r/tick").map((r) => String(r.headers["webhook-id"]));
      expect(new Set(ticks).size).toBe(ticks.length);
      expect(new Set(ids).size).toBe(ids.length);
      const [events] = await s.db.sql`SELECT count(*)::int AS n, count(DISTINCT scheduled_at)::int
          AS distinct_ticks FROM core.tb_observer_event WHERE fk_observer = ${tick?.pk}`;
      expect(events?.n).toBe(events?.distinct_ticks);
    } finally {
      await s.close();
    }
  }, 45_000);
});

describe("NATS mode, observers changing while a worker runs", () => {
  it("fires a scheduled observer created after the worker started, with no change to consume", async () => {
    const s = await scenario("late");
    try {
      await s.start("all");
      // Written after the start, as `POST /api/observers` does: the revision moves and the
      // observers' NOTIFY is sent, but no change reaches the stream.
      await s.db
        .sql`INSERT INTO core.tb_observer (name, event_type, schedule, actions, retry_config)
        VALUES ('late-tick', 'SCHEDULE', '* * * * * *',
          ${JSON.stringify([{ type: "webhook", url: `${receiver.url}/late/tick` }])}::text::jsonb,
          '{"max_attempts": 1}'::jsonb)`;
      await eventually(
        () => (s.requests("/late/tick").length > 0 ? true : undefined),
        "a tick of the observer created after the start",
        10_000,
      );
    } finally {
      await s.close();
    }
  }, 30_000);
});

describe("NATS mode, the workers' consumer deleted", () => {
  it("re-creates it and delivers what is published next", async () => {
    const s = await scenario("gone");
    try {
      await insertObserver(s.db.sql, {
        name: "gone",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/gone/hook`)],
      });
      await s.start("all");
      // `nats consumer rm`, or a stream recreated by an operator.
      const nc = await connect({ servers: nats.url });
      try {
        await (await jetstreamManager(nc)).consumers.delete("rt_gone", "rt_workers_gone");
      } finally {
        await nc.close();
      }
      await s.db.sql`INSERT INTO orders (status) VALUES ('after')`;
      await eventually(
        () => (s.requests("/gone/hook").length > 0 ? true : undefined),
        "the change published after the consumer was deleted",
        20_000,
      );
    } finally {
      await s.close();
    }
  }, 40_000);
});

describe("NATS mode, the stream deleted", () => {
  it("re-creates the stream and the consumer, and delivers the changes that waited", async () => {
    const s = await scenario("nostream");
    try {
      await insertObserver(s.db.sql, {
        name: "nostream",
        event_type: "INSERT",
        actions: [webhook(`${receiver.url}/nostream/hook`)],
      });
      await s.start("all");
      const nc = await connect({ servers: nats.url });
      try {
        await (await jetstreamManager(nc)).streams.delete("rt_nostream");
      } finally {
        await nc.close();
      }
      await s.db.sql`INSERT INTO orders (status) VALUES ('after')`;
      await eventually(
        () => (s.requests("/nostream/hook").length > 0 ? true : undefined),
        "the change written after the stream was deleted",
        20_000,
      );
    } finally {
      await s.close();
    }
  }, 40_000);
});

describe("NATS mode, metrics and dead letters", () => {
  it("sends the change's traceparent, and shows undecodable messages in health, metrics and an admin list", async () => {
    const s = await scenario("observe");
    try {
      await insertObserver(s.db.sql, {
        name: "traced",
        entity_type: "Traced",
        actions: [webhook(`${receiver.url}/o/traced`)],
      });
      const all = await s.start("all");
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      await s.db.sql`INSERT INTO core.tb_entity_change_log
          (object_type, modification_type, object_id, object_data, trace_id)
        VALUES ('Traced', 'INSERT', '1', '{"id": 1}', ${traceId})`;
      const [request] = await eventually(
        () => (s.requests("/o/traced").length > 0 ? s.requests("/o/traced") : undefined),
        "the traced webhook",
      );
      expect(String(request?.headers.traceparent)).toMatch(
        new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
      );

      const nc = await connect({ servers: nats.url });
      try {
        await jetstream(nc).publish("rt.observe.Order.INSERT", new TextEncoder().encode("{bad"));
      } finally {
        await nc.close();
      }
      const health = await eventually(async () => {
        const h = await all.runtime.health();
        return h.transport?.dead_letters === 1 ? h : undefined;
      }, "the dead letter in health");
      // Kept, not failing health.
      expect(health.transport).toMatchObject({ healthy: true, dead_letters: 1 });
      const transport = all.transport as RuntimeTransportOptions;
      const exposition = await eventually(async () => {
        const e = await scrape([
          databaseSource(s.db.client, bridgeName("rt_observe")),
          natsSource(transport),
        ]);
        return sampleValue(e, "fraiseql_observer_nats_consumer_ack_pending") === 0 ? e : undefined;
      }, "the consumer drained");
      expect(sampleValue(exposition, "fraiseql_observer_nats_dead_letters")).toBe(1);
      expect(sampleValue(exposition, "fraiseql_observer_nats_consumer_pending")).toBe(0);
      expect(sampleValue(exposition, "fraiseql_observer_nats_stream_messages")).toBe(2);
      expect(sampleValue(exposition, "fraiseql_observer_backlog_size")).toBe(0);

      // Listed read-only, raw payload in base64, to an admin key bound to no tenant only.
      const app = createObserversApi({
        sql: s.db.client,
        runtime: all.runtime,
        adminToken: ADMIN,
        logger: silentLogger,
      });
      const call = apiClient(app, ADMIN);
      const listed = await call("GET", "/api/observers/nats/dead-letters?page_size=10");
      expect(listed.status).toBe(200);
      const page = (await listed.json()) as {
        data: { subject: string; payload_base64: string; payload_bytes: number; error: string }[];
        total_count: number;
      };
      expect(page.total_count).toBe(1);
      expect(page.data[0]).toMatchObject({
        subject: "rt.observe.Order.INSERT",
        payload_base64: btoa("{bad"),
        payload_bytes: 4,
      });
      expect(page.data[0]?.error).toMatch(/not UTF-8 JSON/);
      const key = async (body: Record<string, unknown>) => {
        const response = await call("POST", "/api/keys", body);
        expect(response.status).toBe(201);
        return ((await response.json()) as { token: string }).token;
      };
      const tenantAdmin = await key({ name: "tenant-admin", scope: "admin", fk_customer_org: 7 });
      const reader = await key({ name: "reader", scope: "read" });
      for (const token of [tenantAdmin, reader]) {
        const refused = await call("GET", "/api/observers/nats/dead-letters", undefined, { token });
        expect(refused.status).toBe(403);
        expect(await refused.text()).not.toContain(btoa("{bad"));
      }
      const bad = await call("GET", "/api/observers/nats/dead-letters?page_size=0");
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain("page_size");
    } finally {
      await s.close();
    }
  }, 45_000);
});

describe("NATS mode, a bridge losing its NATS", () => {
  it("gives the lease up to a bridge on a healthy NATS, counts the unreadable figures, says why once, and competes again once reconnected", async () => {
    const s = await scenario("failover");
    // Each bridge on its own NATS server (the stream exists on both).
    const own = await startNatsServer();
    try {
      const first = await s.start("bridge", own.url);
      const firstBridge = first.transport.bridge;
      await eventually(() => (firstBridge?.status().leader ? true : undefined), "the first leads");
      const second = await s.start("bridge");
      const secondBridge = second.transport.bridge;
      await s.db.sql`INSERT INTO orders (status) VALUES ('before')`;
      await eventually(
        () => (firstBridge?.status().published === 1 ? true : undefined),
        "published by the first",
      );
      expect(secondBridge?.status().leader).toBe(false);

      await own.kill9();
      // The second bridge takes over and publishes what follows; the first shows it does not lead.
      await s.db.sql`INSERT INTO orders (status) VALUES ('during')`;
      await eventually(
        () => (secondBridge?.status().published === 1 ? true : undefined),
        "published by the second",
        15_000,
      );
      expect(firstBridge?.status().leader).toBe(false);
      expect(secondBridge?.status().leader).toBe(true);

      const errors = async () =>
        sampleValue(await scrape([]), "fraiseql_observer_scrape_errors_total", {
          source: "nats",
        }) ?? 0;
      const before = await errors();
      const down = await scrape([natsSource(first.transport)]);
      expect(sampleValue(down, "fraiseql_observer_nats_connected")).toBe(0);
      expect(sampleValue(down, "fraiseql_observer_nats_bridge_leader")).toBe(0);
      expect(sampleValue(down, "fraiseql_observer_nats_stream_messages")).toBeUndefined();
      expect(await errors()).toBe(before + 1);
      const health = await first.transport.health();
      expect(health.reason).toBe("NATS is unreachable; reconnecting");

      // Reconnected, the first competes again: it takes over when the second stops.
      await own.restart();
      await eventually(
        async () => ((await first.transport.health()).healthy ? true : undefined),
        "the first reconnected",
        15_000,
      );
      expect(await errors()).toBe(before + 1);
      await secondBridge?.stop();
      await s.db.sql`INSERT INTO orders (status) VALUES ('after')`;
      await eventually(
        () => (firstBridge?.status().published === 2 ? true : undefined),
        "published by the first again",
        15_000,
      );
      expect(firstBridge?.status().leader).toBe(true);
    } finally {
      await s.close();
      await own.close();
    }
  }, 60_000);
});

describe("NATS mode, workers configured differently", () => {
  it("warns, naming both values, when a worker changes the shared consumer's ack wait", async () => {
    const s = await scenario("ackwait");
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const recording: Logger = {
      log(level, message, fields) {
        lines.push({ level, message, fields: { ...fields } });
      },
    };
    try {
      await s.start("worker", nats.url, recording);
      expect(lines.filter((l) => l.level === "warn")).toEqual([]);
      const { connectNatsTransport } = await import("../../adapters/drivers/nats/index.ts");
      const other = await connectNatsTransport({
        url: nats.url,
        stream: "rt_ackwait",
        subjectPrefix: "rt.ackwait",
        consumer: "rt_workers_ackwait",
        ackWaitMs: 9_000,
        maxAckPending: 1_000,
        logger: recording,
      });
      try {
        await other.prepare({ consumer: true });
      } finally {
        await other.close();
      }
      const warning = lines.find((l) => l.level === "warn" && /consumer settings/.test(l.message));
      expect(warning?.fields).toMatchObject({
        consumer: "rt_workers_ackwait",
        ack_wait_ms_was: 5_000,
        ack_wait_ms_now: 9_000,
      });
      expect(JSON.stringify(lines)).not.toContain(nats.url);
    } finally {
      await s.close();
    }
  }, 30_000);
});
