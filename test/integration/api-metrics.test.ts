/**
 * `GET /api/observers/metrics` in process, every response checked against the OpenAPI document
 * (test/support/api-client.ts): who may scrape (admin, read key, not a tenant key), the host's
 * scrape-time gauges, the database gauges read exactly, and a scrape whose database gauges fail:
 * still served, without them, the failure counted. A plugin without `rootDocs` leaves `/metrics`
 * to its host.
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { gaugeSource } from "../../src/metrics/scrape.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-metrics-tests-01";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("api_metrics");
});
afterAll(() => db?.drop());

function api(sql: SqlClient, extra: Partial<Parameters<typeof createObserversApi>[0]> = {}) {
  return createObserversApi({
    sql,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    ...extra,
  });
}

describe("GET /api/observers/metrics", () => {
  it("answers the admin and read keys bound to no tenant, and refuses tenant keys", async () => {
    const app = api(db.client);
    const call = apiClient(app, ADMIN);
    const admin = await call("GET", "/api/observers/metrics");
    expect(admin.status).toBe(200);
    expect(admin.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    parseExposition(await admin.text());

    const read = await insertApiKey(db.client, { name: "scraper", scope: "read" });
    expect(
      (await call("GET", "/api/observers/metrics", undefined, { token: read.token })).status,
    ).toBe(200);
    const tenant = await insertApiKey(db.client, {
      name: "t9",
      scope: "admin",
      fk_customer_org: "9",
    });
    const refused = await call("GET", "/api/observers/metrics", undefined, { token: tenant.token });
    expect((await problem(refused, 403)).detail).toContain("server-wide");
    await problem(await call("GET", "/api/observers/metrics", undefined, { token: null }), 401);
  });

  it("reads the database gauges exactly and adds the host's gauges", async () => {
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_data,
      created_at) VALUES ('Order', 'INSERT', '{}', now() - interval '90 seconds'),
      ('Order', 'INSERT', '{}', now())`;
    await insertObserver(db.sql, { name: "counted", actions: [{ type: "log" }] });
    await insertObserver(db.sql, { name: "off", enabled: false, actions: [{ type: "log" }] });
    let sockets = 2;
    const app = api(db.client, {
      metrics: {
        listenerId: "metrics-test",
        sources: [gaugeSource("t_host_sockets", "Sockets.", () => sockets)],
      },
    });
    const scrape = async () =>
      parseExposition(await (await apiClient(app, ADMIN)("GET", "/api/observers/metrics")).text());
    const metrics = await scrape();
    // A listener that never ran: every change in the log is pending.
    const [changes] = await db.sql`SELECT count(*)::int AS n FROM core.tb_entity_change_log`;
    expect(sampleValue(metrics, "fraiseql_observer_backlog_size")).toBe(changes?.n);
    expect(
      sampleValue(metrics, "fraiseql_observer_change_log_oldest_pending_seconds"),
    ).toBeGreaterThanOrEqual(90);
    expect(sampleValue(metrics, "fraiseql_observer_dlq_items")).toBe(0);
    expect(sampleValue(metrics, "fraiseql_observer_observers_enabled")).toBe(1);
    expect(sampleValue(metrics, "t_host_sockets")).toBe(2);
    sockets = 5;
    expect(sampleValue(await scrape(), "t_host_sockets")).toBe(5);
  });

  it("still answers when the database gauges fail, without them, and counts the failure", async () => {
    const broken: SqlClient = {
      ...db.client,
      query: () => Promise.reject(new Error("connection lost")),
      transaction: () => Promise.reject(new Error("connection lost")),
    };
    const call = apiClient(api(broken), null);
    // The admin token needs no database; a stored key would.
    const scrape = async () =>
      parseExposition(
        await (await call("GET", "/api/observers/metrics", undefined, { token: ADMIN })).text(),
      );
    const errors = (m: ReturnType<typeof parseExposition>) =>
      sampleValue(m, "fraiseql_observer_scrape_errors_total", { source: "database" }) ?? 0;
    const first = await scrape();
    expect(first.get("fraiseql_observer_dlq_items")?.samples).toEqual([]);
    expect(first.get("fraiseql_observer_events_processed_total")?.type).toBe("counter");
    expect(errors(await scrape())).toBe(errors(first) + 1);
  });

  it("leaves /metrics to the host when mounted without rootDocs", async () => {
    const host = new Hono();
    host.get("/metrics", (c) => c.text("the host's metrics"));
    host.route("/plugin", api(db.client));
    const own = await host.request("/metrics");
    expect(await own.text()).toBe("the host's metrics");
    const mounted = await host.request("/plugin/api/observers/metrics", {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(mounted.status).toBe(200);
    parseExposition(await mounted.text());
  });
});
