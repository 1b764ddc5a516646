/**
 * `/api/observers/destinations` (docs/delivery.md, docs/api.md): the shape of a destination's
 * health, reset closing its circuit and waking what it held, auth (read keys cannot reset,
 * tenant-bound keys see nothing and reach nothing), and the new observer and action fields'
 * validation (`on_dead_letter`, `rate_limit_per_second`): 400 naming the field, secrets redacted.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-destination-tests";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const runtime = stubRuntime();

beforeAll(async () => {
  db = await createTestDatabase("api_destinations");
  const app = createObserversApi({
    sql: db.client,
    runtime,
    adminToken: ADMIN,
    logger: silentLogger,
  });
  call = apiClient(app, ADMIN);
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`DELETE FROM core.tb_observer_destination`;
});

async function seedOpenDestination(): Promise<string> {
  const [row] = await db.sql<{ id: string }[]>`
    INSERT INTO core.tb_observer_destination (destination, state, consecutive_failures, open_count,
      opened_at, next_probe_at, failing_since, last_error_code, last_http_status, disabled_at,
      disabled_reason)
    VALUES ('webhook:https://hooks.example.com', 'open', 7, 3, now(), now() + interval '1 minute',
      now() - interval '1 hour', 'HTTP_STATUS', 503, now(), 'failing since ... for too long')
    RETURNING id::text AS id`;
  return String(row?.id);
}

async function key(scope: "admin" | "read", tenant: string | null): Promise<string> {
  const created = await insertApiKey(db.client, {
    name: `k-${randomUUID()}`,
    scope,
    fk_customer_org: tenant,
  });
  return created.token;
}

describe("GET /api/observers/destinations", () => {
  it("lists each destination's circuit, failures and disablement", async () => {
    const id = await seedOpenDestination();
    const response = await call("GET", "/api/observers/destinations");
    expect(response.status).toBe(200);
    const page = await response.json();
    expect(page).toMatchObject({ page: 1, total_count: 1, total_pages: 1 });
    expect(page.data[0]).toEqual({
      id,
      destination: "webhook:https://hooks.example.com",
      state: "open",
      consecutive_failures: 7,
      opened_at: expect.any(String),
      // Disabled: no probe will come, whatever time the row last planned one for.
      next_probe_at: null,
      probing: false,
      failing_since: expect.any(String),
      last_error_code: "HTTP_STATUS",
      last_http_status: 503,
      disabled: true,
      disabled_at: expect.any(String),
      disabled_reason: "failing since ... for too long",
    });
  });

  it("counts every destination on a page past the last one, as the other lists do", async () => {
    await seedOpenDestination();
    const response = await call("GET", "/api/observers/destinations?page=5");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      data: [],
      page: 5,
      total_count: 1,
      total_pages: 1,
    });
  });

  it("reports each circuit in the metrics, labelled by destination only", async () => {
    await seedOpenDestination();
    const text = await (await call("GET", "/api/observers/metrics")).text();
    expect(text).toContain(
      'fraiseql_observer_circuit_state{destination="webhook:https://hooks.example.com"} 2',
    );
    expect(text).toContain(
      'fraiseql_observer_destination_consecutive_failures{destination="webhook:https://hooks.example.com"} 7',
    );
  });

  it("shows a tenant-bound key nothing, and answers 404 to its reset", async () => {
    const id = await seedOpenDestination();
    const token = await key("admin", "7");
    const list = await call("GET", "/api/observers/destinations", undefined, { token });
    expect((await list.json()).data).toEqual([]);
    const reset = await call("POST", `/api/observers/destinations/${id}/reset`, undefined, {
      token,
    });
    expect(reset.status).toBe(404);
    const [row] = await db.sql`SELECT state FROM core.tb_observer_destination`;
    expect(row?.state).toBe("open");
  });
});

describe("POST /api/observers/destinations/{id}/reset", () => {
  it("closes the circuit, enables it, and makes its held deliveries due now", async () => {
    const id = await seedOpenDestination();
    const observer = await insertObserver(db.sql, {
      name: `held-${randomUUID()}`,
      actions: [{ type: "webhook", url: "https://hooks.example.com/x" }],
    });
    await db.sql`
      INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data)
      VALUES ('Order', 'INSERT', '1', '{"total": 1}')`;
    await db.sql`
      INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index,
        next_attempt_at, held_destination)
      SELECT gen_random_uuid(), o.pk_observer, max(c.pk_entity_change_log), 0,
        now() + interval '1 hour', 'webhook:https://hooks.example.com'
      FROM core.tb_observer o, core.tb_entity_change_log c WHERE o.id = ${observer}::uuid
      GROUP BY o.pk_observer`;
    // The observer says what its deliveries wait for, and why.
    const detail = await (await call("GET", `/api/observers/${observer}`)).json();
    expect(detail.held).toEqual([
      {
        id,
        destination: "webhook:https://hooks.example.com",
        state: "open",
        disabled: true,
        disabled_reason: "failing since ... for too long",
        next_probe_at: null,
        deliveries: 1,
      },
    ]);
    const wakes = runtime.calls.wake;
    const response = await call("POST", `/api/observers/destinations/${id}/reset`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id,
      state: "closed",
      consecutive_failures: 0,
      disabled: false,
      disabled_reason: null,
      failing_since: null,
    });
    const [held] = await db.sql<{ due: boolean; held: string | null }[]>`
      SELECT next_attempt_at <= now() AS due, held_destination AS held FROM core.tb_observer_delivery`;
    expect(held).toEqual({ due: true, held: null });
    expect((await (await call("GET", `/api/observers/${observer}`)).json()).held).toEqual([]);
    expect(runtime.calls.wake).toBeGreaterThan(wakes);
  });

  it("answers 404 to an unknown id, 403 to a read key", async () => {
    const id = await seedOpenDestination();
    expect((await call("POST", `/api/observers/destinations/${randomUUID()}/reset`)).status).toBe(
      404,
    );
    expect((await call("POST", "/api/observers/destinations/not-a-uuid/reset")).status).toBe(404);
    // A NUL byte PostgreSQL refuses in text: still a 404, never a 500.
    expect((await call("POST", "/api/observers/destinations/%00/reset")).status).toBe(404);
    expect((await call("POST", "/api/observers/destinations/a%00b/reset")).status).toBe(404);
    const read = await key("read", null);
    const refused = await call("POST", `/api/observers/destinations/${id}/reset`, undefined, {
      token: read,
    });
    expect(refused.status).toBe(403);
    const list = await call("GET", "/api/observers/destinations", undefined, { token: read });
    expect(list.status).toBe(200);
  });
});

describe("the new observer and action fields", () => {
  const base = (extra: Record<string, unknown>) => ({
    name: `fields-${randomUUID()}`,
    entity_type: "Order",
    actions: [{ type: "webhook", url: "https://example.com/hook" }],
    ...extra,
  });

  it("stores on_dead_letter and rate_limit_per_second, with secrets redacted", async () => {
    const response = await call(
      "POST",
      "/api/observers",
      base({
        actions: [{ type: "webhook", url: "https://example.com/hook", rate_limit_per_second: 2.5 }],
        on_dead_letter: [
          {
            type: "webhook",
            url: "https://oncall.example.com/page",
            signing_secret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5",
          },
        ],
      }),
    );
    const observer = await response.json();
    expect(response.status, JSON.stringify(observer)).toBe(201);
    expect(observer.actions[0].rate_limit_per_second).toBe(2.5);
    expect(observer.on_dead_letter).toHaveLength(1);
    expect(observer.on_dead_letter[0]).toMatchObject({
      type: "webhook",
      url: "https://oncall.example.com/page",
      signing_secret: "[REDACTED]",
    });
    expect(JSON.stringify(observer)).not.toContain("c2VjcmV0LXNpZ25pbmcta2V5");
    // Without on_dead_letter: an empty list.
    const plain = await (await call("POST", "/api/observers", base({}))).json();
    expect(plain.on_dead_letter).toEqual([]);
  });

  it.each([
    [
      { actions: [{ type: "webhook", url: "https://e.com", rate_limit_per_second: 0 }] },
      "actions.0.rate_limit_per_second",
    ],
    [
      { actions: [{ type: "webhook", url: "https://e.com", rate_limit_per_second: -1 }] },
      "actions.0.rate_limit_per_second",
    ],
    [
      { actions: [{ type: "webhook", url: "https://e.com", rate_limit_per_second: 1e9 }] },
      "actions.0.rate_limit_per_second",
    ],
    [
      { actions: [{ type: "webhook", url: "https://e.com", rate_limit_per_second: "10" }] },
      "actions.0.rate_limit_per_second",
    ],
    [{ on_dead_letter: [{ type: "webhook" }] }, "on_dead_letter.0"],
    [{ on_dead_letter: {} }, "on_dead_letter"],
    [
      { on_dead_letter: [{ type: "webhook", url: "https://e.com", delay_ms: 10 }] },
      "on_dead_letter.0.delay_ms",
    ],
    [
      { on_dead_letter: [{ type: "webhook", url: "https://e.com", signing_secret: "[REDACTED]" }] },
      "on_dead_letter.0.signing_secret",
    ],
  ])("refuses %j naming %s", async (extra, field) => {
    const response = await call("POST", "/api/observers", base(extra));
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    const text = await response.text();
    expect(text, text).toContain(field);
  });
});
