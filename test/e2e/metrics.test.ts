/**
 * The ready Bun server as a process against a real PostgreSQL and a real receiver: `GET /metrics`
 * and `GET /api/observers/metrics` scraped after real deliveries (a success, a transient failure
 * until the dead-letter queue, a permanent one) and parsed strictly (test/support/prometheus.ts);
 * who may scrape (no token 401, read key 200, tenant key 403, `OBSERVERS_METRICS_PUBLIC`); and
 * the W3C `traceparent` a webhook receives for a change with a trace id, absent without one, with
 * its Standard Webhooks signature intact.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signStandard } from "../../src/actions/signing.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { type Exposition, parseExposition, sampleValue } from "../support/prometheus.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SECRET = `whsec_${Buffer.from("metrics-test-signing-secret-0123").toString("base64")}`;

let tracedFailures = 0;
const receiver = useReceiver((request) => {
  if (request.path === "/fail") return { status: 500 };
  // The traced change's first attempt fails, so that its retry shows a new span.
  if (request.path === "/traced" && request.headers.traceparent && tracedFailures++ === 0) {
    return { status: 503 };
  }
  if (request.path === "/bad") return { status: 400 };
  return { status: 204 };
});
let db: TestDatabase;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase("metrics_e2e");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
afterEach(async () => {
  for (const server of servers.splice(0)) await server.kill9();
});

async function server(env: Record<string, string> = {}): Promise<ServerProcess> {
  const started = await startServer({
    DATABASE_URL: db.url,
    OBSERVERS_POLL_INTERVAL_MS: "200",
    ...env,
  });
  servers.push(started);
  return started;
}

async function createObserver(target: ServerProcess, body: Record<string, unknown>) {
  const response = await target.api("/api/observers", {
    method: "POST",
    body: JSON.stringify({ event_type: "INSERT", ...body }),
  });
  expect(response.status, await response.clone().text()).toBe(201);
}

async function createKey(target: ServerProcess, name: string, tenant?: string): Promise<string> {
  const response = await target.api("/api/keys", {
    method: "POST",
    body: JSON.stringify({ name, scope: "read", ...(tenant ? { fk_customer_org: tenant } : {}) }),
  });
  const json = (await response.json()) as { token?: string };
  expect(response.status, JSON.stringify(json)).toBe(201);
  return json.token as string;
}

async function scrape(target: ServerProcess, path = "/metrics"): Promise<Exposition> {
  const response = await target.api(path);
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get("content-type")).toBe(CONTENT_TYPE);
  return parseExposition(await response.text());
}

const get = (path: string, token?: string) => (target: ServerProcess) =>
  fetch(`${target.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe("GET /metrics", () => {
  it("counts real deliveries under FraiseQL's names, and reads its gauges from the database", async () => {
    const target = await server();
    const before = await scrape(target);
    const type = { action_type: "webhook" };
    const value = (e: Exposition, name: string, labels: Record<string, string> = {}) =>
      sampleValue(e, name, labels) ?? 0;
    expect(before.get("fraiseql_observer_events_processed_total")?.type).toBe("counter");
    expect(before.get("fraiseql_observer_action_duration_seconds")?.type).toBe("histogram");
    expect(before.get("fraiseql_observer_dlq_items")?.type).toBe("gauge");
    expect(before.get("fraiseql_observer_live_subscribers")?.samples[0]?.value).toBe(0);

    const retry = { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 20 };
    await createObserver(target, {
      name: "ok",
      entity_type: "Order",
      actions: [{ type: "webhook", url: `${receiver.url}/ok` }],
    });
    await createObserver(target, {
      name: "fails-twice",
      entity_type: "Order",
      retry_config: retry,
      actions: [{ type: "webhook", url: `${receiver.url}/fail` }],
    });
    await createObserver(target, {
      name: "refused",
      entity_type: "Order",
      retry_config: retry,
      actions: [{ type: "webhook", url: `${receiver.url}/bad` }],
    });
    await db.sql`INSERT INTO orders (status, total) VALUES ('new', 1), ('new', 2)`;

    // Two changes: 2 successes; 2 × 2 failed attempts then dead letters; 2 refused at once.
    await eventually(async () => {
      const [dlq] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
      const [left] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
      return dlq?.n === 4 && left?.n === 0 ? true : undefined;
    }, "four dead letters and no delivery left");
    expect(receiver.requests.filter((r) => r.path === "/ok")).toHaveLength(2);

    const after = await scrape(target);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta("fraiseql_observer_events_processed_total")).toBe(2);
    expect(delta("fraiseql_observer_action_executed_total", type)).toBe(2);
    expect(delta("fraiseql_observer_action_duration_seconds_count", type)).toBe(2);
    expect(delta("fraiseql_observer_action_duration_seconds_bucket", { ...type, le: "+Inf" })).toBe(
      2,
    );
    expect(value(after, "fraiseql_observer_action_duration_seconds_sum", type)).toBeGreaterThan(0);
    expect(
      delta("fraiseql_observer_action_errors_total", { ...type, error_type: "execution_failed" }),
    ).toBe(2);
    expect(
      delta("fraiseql_observer_action_errors_total", { ...type, error_type: "permanently_failed" }),
    ).toBe(2);
    expect(delta("fraiseql_observer_action_attempts_total", { ...type, status: "success" })).toBe(
      2,
    );
    expect(delta("fraiseql_observer_action_attempts_total", { ...type, status: "failed" })).toBe(6);
    expect(delta("fraiseql_observer_action_retries_scheduled_total", type)).toBe(2);
    // Gauges read from the database at the scrape.
    expect(value(after, "fraiseql_observer_dlq_items")).toBe(4);
    expect(value(after, "fraiseql_observer_backlog_size")).toBe(0);
    expect(value(after, "fraiseql_observer_deliveries_due")).toBe(0);
    expect(value(after, "fraiseql_observer_deliveries_pending")).toBe(0);
    expect(value(after, "fraiseql_observer_change_log_oldest_pending_seconds")).toBe(0);
    expect(value(after, "fraiseql_observer_start_time_seconds")).toBeGreaterThan(1_700_000_000);

    // The same answer under the API's root.
    const mounted = await scrape(target, "/api/observers/metrics");
    expect(value(mounted, "fraiseql_observer_dlq_items")).toBe(4);
    expect(value(mounted, "fraiseql_observer_action_executed_total", type)).toBe(
      value(after, "fraiseql_observer_action_executed_total", type),
    );
  });

  it("needs a key bound to no tenant: 401 without one, 200 with a read key, 403 for a tenant key", async () => {
    const target = await server();
    const read = await createKey(target, "metrics-reader");
    const tenant = await createKey(target, "metrics-tenant", "7");
    for (const path of ["/metrics", "/api/observers/metrics"]) {
      const anonymous = await get(path)(target);
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");

      const reader = await get(path, read)(target);
      expect(reader.status, path).toBe(200);
      expect(reader.headers.get("content-type")).toBe(CONTENT_TYPE);
      parseExposition(await reader.text());

      const refused = await get(path, tenant)(target);
      expect(refused.status, path).toBe(403);
      const problem = (await refused.json()) as { code: string; detail: string };
      expect(problem.code).toBe("FORBIDDEN");
      expect(problem.detail).toContain("server-wide");
    }
  });

  it("needs no token with OBSERVERS_METRICS_PUBLIC=true", async () => {
    const target = await server({ OBSERVERS_METRICS_PUBLIC: "true" });
    const [dlq] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
    for (const path of ["/metrics", "/api/observers/metrics"]) {
      const response = await get(path)(target);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe(CONTENT_TYPE);
      const exposition = parseExposition(await response.text());
      expect(sampleValue(exposition, "fraiseql_observer_dlq_items")).toBe(dlq?.n);
    }
    // Everything else still needs a token.
    expect((await get("/api/observers")(target)).status).toBe(401);
  });
});

describe("traceparent", () => {
  it("goes with a change's trace id, a new span per attempt, signature intact; not without one", async () => {
    const target = await server();
    await createObserver(target, {
      name: "traced",
      entity_type: "Traced",
      retry_config: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 20 },
      actions: [{ type: "webhook", url: `${receiver.url}/traced`, signing_secret: SECRET }],
    });
    // Producer-form changes, as FraiseQL writes them with its request's trace id.
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id,
      object_data, trace_id) VALUES ('Traced', 'INSERT', '1', '{"n": 1}', ${TRACE_ID}),
      ('Traced', 'INSERT', '2', '{"n": 2}', NULL)`;
    await eventually(
      () => (receiver.requests.filter((r) => r.path === "/traced").length === 3 ? true : undefined),
      "three traced webhooks (one retried)",
    );
    const requests = receiver.requests.filter((r) => r.path === "/traced");
    const of = (id: string) =>
      requests.filter((r) => (JSON.parse(r.text) as { entity_id: string }).entity_id === id);
    const attempts = of("1");
    const [without] = of("2");
    expect(attempts).toHaveLength(2);
    const spans = attempts.map((attempt) => {
      const match = new RegExp(`^00-${TRACE_ID}-([0-9a-f]{16})-01$`).exec(
        String(attempt.headers.traceparent),
      );
      expect(match, String(attempt.headers.traceparent)).not.toBeNull();
      return match?.[1];
    });
    expect(spans[0]).not.toBe(spans[1]);
    const withTrace = attempts[1];
    // The failed attempt's log line carries the change's trace id and the traceparent it sent.
    const logged = target
      .output()
      .split("\n")
      .filter((line) => line.includes('"action attempt failed"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        observer: "traced",
        trace_id: TRACE_ID,
        traceparent: attempts[0]?.headers.traceparent,
      }),
    );
    expect(without).toBeDefined();
    expect(without?.headers.traceparent).toBeUndefined();
    // Standard Webhooks signs id, timestamp and body: the header changes none of them.
    for (const request of [withTrace, without]) {
      const id = String(request?.headers["webhook-id"]);
      const timestamp = Number(request?.headers["webhook-timestamp"]);
      expect(request?.headers["webhook-signature"]).toBe(
        await signStandard([SECRET], id, timestamp, request?.text ?? ""),
      );
    }
  });
});
