/**
 * The management API (`createObserversApi`) through `app.request`, against a real migrated
 * database and a stub runtime that records what the API asks of it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { ObserverRuntime, RuntimeHealth } from "../../src/runtime/types.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const ADMIN = "admin-token-for-api-tests-0123";
let db: TestDatabase;
let app: ReturnType<typeof createObserversApi>;
let readToken: string;
let tenant7Token: string;
let tenant8Token: string;
const calls = { wake: 0, reload: 0 };
let running = true;

const runtime: ObserverRuntime = {
  start: async () => {},
  stop: async () => {},
  health: async (): Promise<RuntimeHealth> => ({
    running,
    observer_count: 2,
    last_checkpoint: 41,
    events_processed: 5,
    errors: 0,
    lag: { pending_changes: 0, due_deliveries: 0, oldest_pending_ms: 0 },
  }),
  reload: async () => {
    calls.reload += 1;
    return 2;
  },
  wake: () => {
    calls.wake += 1;
  },
};

beforeAll(async () => {
  db = await createTestDatabase("api");
  app = createObserversApi({ sql: db.client, runtime, adminToken: ADMIN, logger: silentLogger });
  readToken = (await insertApiKey(db.client, { name: "reader", scope: "read" })).token;
  tenant7Token = (
    await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" })
  ).token;
  tenant8Token = (
    await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" })
  ).token;
});
afterAll(() => db?.drop());
beforeEach(() => {
  calls.wake = 0;
  calls.reload = 0;
  running = true;
});

function call(method: string, path: string, body?: unknown, token: string | null = ADMIN) {
  return apiClient(app, ADMIN)(method, path, body, { token });
}

async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: "about:blank", status });
  expect(typeof body.code).toBe("string");
  return body;
}

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
function secretObserver(name: string) {
  return {
    name,
    entity_type: "Order",
    event_type: "update",
    condition_expression: "field_changed_to('status', 'shipped') && total > 100",
    actions: [
      {
        type: "webhook",
        url: "https://example.com/hook",
        headers: { "x-api-key": "header-secret-value" },
        signing_secret: SECRET,
      },
      {
        type: "sms",
        to: "+15551234567",
        from: "+15557654321",
        message_template: "Order {{ id }} shipped",
        account_sid: "AC0123456789abcdef0123456789abcdef",
        auth_token: "sms-secret-token",
      },
    ],
    retry_config: { max_attempts: 5, backoff_strategy: "exponential" },
  };
}

function expectRedacted(observer: { actions: Record<string, unknown>[] }) {
  const text = JSON.stringify(observer);
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain("header-secret-value");
  expect(text).not.toContain("sms-secret-token");
  expect(observer.actions[0]).toMatchObject({
    signing_secret: "[REDACTED]",
    headers: { "x-api-key": "[REDACTED]" },
    url: "https://example.com/hook",
  });
  expect(observer.actions[1]).toMatchObject({ auth_token: "[REDACTED]" });
}

async function storedActions(id: string): Promise<string> {
  const [row] =
    await db.sql`SELECT actions::text AS actions FROM core.tb_observer WHERE id = ${id}`;
  return String(row?.actions);
}

describe("observers", () => {
  it("round-trips create, get, list, patch, disable, enable and delete with secrets redacted", async () => {
    const created = await call("POST", "/api/observers", secretObserver("round-trip"));
    expect(created.status).toBe(201);
    const observer = await created.json();
    expect(created.headers.get("location")).toBe(`/api/observers/${observer.id}`);
    expect(observer).toMatchObject({
      name: "round-trip",
      event_type: "UPDATE",
      enabled: true,
      priority: 100,
      timeout_ms: 30000,
      fk_customer_org: null,
      created_by: "admin",
      deleted_at: null,
      retry_config: { max_attempts: 5, backoff_strategy: "exponential" },
    });
    expect(observer.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expectRedacted(observer);
    expect(calls.wake).toBe(1);
    // The database keeps the real secrets.
    const stored = await storedActions(observer.id);
    expect(stored).toContain(SECRET);
    expect(stored).toContain("header-secret-value");

    // What saving answers is the observer, plus what it will run into (api-warnings.test.ts):
    // here, no table is tracked as Order in this database.
    const { warnings, ...saved } = observer;
    expect(warnings.map((w: { code: string }) => w.code)).toEqual(["ENTITY_TYPE_UNTRACKED"]);
    // GET adds what its deliveries wait for (docs/delivery.md): nothing here.
    const fetched = await (await call("GET", `/api/observers/${observer.id}`)).json();
    expect(fetched).toEqual({ ...saved, held: [] });

    const list = await (await call("GET", "/api/observers?entity_type=Order")).json();
    expect(list).toMatchObject({ page: 1, page_size: 20 });
    const listed = list.data.find((o: { id: string }) => o.id === observer.id);
    expectRedacted(listed);

    const patched = await call("PATCH", `/api/observers/${observer.id}`, {
      priority: 5,
      description: "now",
    });
    expect(patched.status).toBe(200);
    const patchedBody = await patched.json();
    expect(patchedBody).toMatchObject({ priority: 5, description: "now", updated_by: "admin" });
    expectRedacted(patchedBody);

    const disabled = await (await call("POST", `/api/observers/${observer.id}/disable`)).json();
    expect(disabled.enabled).toBe(false);
    expectRedacted(disabled);
    const enabled = await (await call("POST", `/api/observers/${observer.id}/enable`)).json();
    expect(enabled.enabled).toBe(true);

    expect((await call("DELETE", `/api/observers/${observer.id}`)).status).toBe(204);
    expect(calls.wake).toBe(5);
  });

  it("keeps the stored secrets when a PATCH leaves actions out", async () => {
    const { id } = await (
      await call("POST", "/api/observers", secretObserver("keep-secrets"))
    ).json();
    const response = await call("PATCH", `/api/observers/${id}`, { enabled: false, name: "kept" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ name: "kept", enabled: false });
    const stored = await storedActions(id);
    expect(stored).toContain(SECRET);
    expect(stored).toContain("sms-secret-token");
  });

  it("replaces actions wholesale when a PATCH sends them, and refuses the redacted placeholder", async () => {
    const { id, actions } = await (
      await call("POST", "/api/observers", secretObserver("replace-actions"))
    ).json();
    const echoed = await call("PATCH", `/api/observers/${id}`, { actions });
    const body = await problem(echoed, 400);
    expect(body.code).toBe("INVALID_CONFIG");
    expect((body.issues as { path: string }[]).map((i) => i.path)).toEqual(
      expect.arrayContaining([
        "actions.0.signing_secret",
        "actions.0.headers.x-api-key",
        "actions.1.auth_token",
      ]),
    );
    expect(await storedActions(id)).toContain(SECRET);

    const replaced = await call("PATCH", `/api/observers/${id}`, {
      actions: [{ type: "log", message_template: "{{ id }} changed" }],
    });
    expect(replaced.status).toBe(200);
    expect((await replaced.json()).actions).toEqual([expect.objectContaining({ type: "log" })]);
    expect(await storedActions(id)).not.toContain(SECRET);
  });

  it("refuses unknown fields in a PATCH", async () => {
    const { id } = await (
      await call("POST", "/api/observers", secretObserver("strict-patch"))
    ).json();
    const body = await problem(await call("PATCH", `/api/observers/${id}`, { colour: "red" }), 400);
    expect(body.issues).toEqual([{ path: "colour", message: 'unknown field "colour"' }]);
  });

  it("answers 409 for a duplicate live name, and frees the name once deleted", async () => {
    const first = await (await call("POST", "/api/observers", secretObserver("dupe"))).json();
    const body = await problem(await call("POST", "/api/observers", secretObserver("dupe")), 409);
    expect(body).toMatchObject({ code: "CONFLICT", title: "Conflict" });
    expect(body.detail).toContain("dupe");
    const renamed = await (await call("POST", "/api/observers", secretObserver("dupe-2"))).json();
    await problem(await call("PATCH", `/api/observers/${renamed.id}`, { name: "dupe" }), 409);
    await call("DELETE", `/api/observers/${first.id}`);
    expect((await call("POST", "/api/observers", secretObserver("dupe"))).status).toBe(201);
  });

  it("answers 400 with positions for an invalid condition", async () => {
    const response = await call("POST", "/api/observers", {
      ...secretObserver("bad-condition"),
      condition_expression: "total >> 100 &&",
    });
    const body = await problem(response, 400);
    expect(body.code).toBe("INVALID_CONFIG");
    const issues = body.issues as { path: string; message: string }[];
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) {
      expect(issue.path).toBe("condition_expression");
      expect(issue.message).toMatch(/^at position \d+: /);
    }
  });

  it("answers 400 for malformed JSON and for an empty body", async () => {
    const body = await problem(await call("POST", "/api/observers", '{"name": '), 400);
    expect(body.code).toBe("MALFORMED_JSON");
    await problem(await call("POST", "/api/observers", ""), 400);
  });

  it("answers 413 for a body over 1 MiB", async () => {
    const big = JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) });
    const body = await problem(await call("POST", "/api/observers", big), 413);
    expect(body.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("hides a soft-deleted observer from get and list, but not from include_deleted", async () => {
    const { id } = await (await call("POST", "/api/observers", secretObserver("soft"))).json();
    expect((await call("DELETE", `/api/observers/${id}`)).status).toBe(204);
    await problem(await call("GET", `/api/observers/${id}`), 404);
    await problem(await call("DELETE", `/api/observers/${id}`), 404);
    await problem(await call("PATCH", `/api/observers/${id}`, { priority: 1 }), 404);
    const ids = async (query: string) =>
      (
        (await (await call("GET", `/api/observers?page_size=100${query}`)).json()).data as {
          id: string;
        }[]
      ).map((o) => o.id);
    expect(await ids("")).not.toContain(id);
    expect(await ids("&include_deleted=true")).toContain(id);
    const [row] =
      await db.sql`SELECT deleted_at IS NOT NULL AS deleted FROM core.tb_observer WHERE id = ${id}`;
    expect(row?.deleted).toBe(true);
  });

  it("answers 404 (never an SQL error) for ids that are not UUIDs or do not exist", async () => {
    await problem(await call("GET", "/api/observers/not-a-uuid"), 404);
    await problem(await call("GET", `/api/observers/${randomUUID()}`), 404);
    await problem(await call("POST", "/api/observers/42/enable"), 404);
  });

  it("paginates and validates list parameters", async () => {
    for (const name of ["page-a", "page-b", "page-c"]) {
      await call("POST", "/api/observers", {
        ...secretObserver(name),
        entity_type: "Paged",
        priority: 1,
      });
    }
    const first = await (await call("GET", "/api/observers?entity_type=Paged&page_size=2")).json();
    expect(first).toMatchObject({ page: 1, page_size: 2, total_count: 3, total_pages: 2 });
    expect(first.data.map((o: { name: string }) => o.name)).toEqual(["page-a", "page-b"]);
    const second = await (
      await call("GET", "/api/observers?entity_type=Paged&page_size=2&page=2")
    ).json();
    expect(second.data.map((o: { name: string }) => o.name)).toEqual(["page-c"]);
    const body = await problem(
      await call("GET", "/api/observers?page=0&page_size=1000&enabled=maybe"),
      400,
    );
    expect((body.issues as { path: string }[]).map((i) => i.path).sort()).toEqual([
      "enabled",
      "page",
      "page_size",
    ]);
  });
});

describe("authentication", () => {
  it("answers 401 without a token or with a wrong one", async () => {
    const missing = await problem(await call("GET", "/api/observers", undefined, null), 401);
    expect(missing.code).toBe("UNAUTHORIZED");
    await problem(await call("GET", "/api/observers", undefined, "wrong-token-wrong-token"), 401);
    const response = await app.request("/api/observers", {
      headers: { authorization: "Basic abc" },
    });
    await problem(response, 401);
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("lets a read key read and answers 403 when it writes", async () => {
    expect((await call("GET", "/api/observers", undefined, readToken)).status).toBe(200);
    const body = await problem(
      await call("POST", "/api/observers", secretObserver("by-reader"), readToken),
      403,
    );
    expect(body.code).toBe("FORBIDDEN");
    await problem(await call("POST", "/api/observers/runtime/reload", undefined, readToken), 403);
  });

  it("confines a tenant key to its tenant's observers", async () => {
    const created = await (
      await call("POST", "/api/observers", secretObserver("tenant-7"), tenant7Token)
    ).json();
    expect(created).toMatchObject({ fk_customer_org: 7, created_by: "key:t7" });
    await problem(await call("GET", `/api/observers/${created.id}`, undefined, tenant8Token), 404);
    await problem(
      await call("PATCH", `/api/observers/${created.id}`, { priority: 1 }, tenant8Token),
      404,
    );
    await problem(
      await call("DELETE", `/api/observers/${created.id}`, undefined, tenant8Token),
      404,
    );
    await problem(
      await call("POST", `/api/observers/${created.id}/disable`, undefined, tenant8Token),
      404,
    );
    const seen8 = await (
      await call("GET", "/api/observers?page_size=100", undefined, tenant8Token)
    ).json();
    expect(seen8.data.map((o: { id: string }) => o.id)).not.toContain(created.id);
    const seen7 = await (
      await call("GET", "/api/observers?page_size=100", undefined, tenant7Token)
    ).json();
    expect(seen7.data.map((o: { fk_customer_org: unknown }) => o.fk_customer_org)).toEqual(
      seen7.data.map(() => 7),
    );
    expect(
      (await call("GET", `/api/observers/${created.id}`, undefined, tenant7Token)).status,
    ).toBe(200);
    // The admin token sees every tenant.
    expect((await call("GET", `/api/observers/${created.id}`)).status).toBe(200);
  });
});

describe("runtime routes", () => {
  it("answers health without a token: 200 when running, 503 when not", async () => {
    const ok = await app.request("/api/observers/runtime/health");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      running: true,
      observer_count: 2,
      last_checkpoint: 41,
    });
    running = false;
    const down = await app.request("/api/observers/runtime/health");
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ running: false, lag: { pending_changes: 0 } });
  });

  it("reloads on request", async () => {
    const response = await call("POST", "/api/observers/runtime/reload");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: expect.any(String), count: 2 });
    expect(calls.reload).toBe(1);
  });

  it("answers unknown routes with a 404 problem", async () => {
    const body = await problem(await call("GET", "/api/nothing-here"), 404);
    expect(body.code).toBe("NOT_FOUND");
    await problem(await call("PUT", "/api/observers"), 404);
    await problem(await app.request("/elsewhere"), 404);
  });
});

describe("dead letters", () => {
  async function insertDeadLetter(observerId: string, tenant: number | null): Promise<string> {
    const [row] = await db.sql`
      INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id, action_index,
        action_type, event_id, object_type, modification_type, object_id, object_data,
        fk_customer_org, change_created_at, attempts, max_attempts, error_code, error_message,
        response_status_code)
      SELECT pk_observer, name, gen_random_uuid(), 0, 'webhook', gen_random_uuid(), 'Order',
        'UPDATE', '42', '{"op":"u","before":{},"after":{}}'::jsonb, ${tenant}, now(), 5, 5,
        'HTTP_STATUS', 'HTTP 500', 500
      FROM core.tb_observer WHERE id = ${observerId}
      RETURNING id::text AS id`;
    return String(row?.id);
  }

  it("re-queues nothing on a bare retry-all POST: the filter must be sent, {} for all", async () => {
    const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    const refused = await problem(
      await app.request("/api/observers/dlq/retry-all", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}` },
      }),
      400,
    );
    expect(refused.detail).toContain("{} re-queues every dead letter");
    const [after] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(after?.n).toBe(row?.n);
  });

  it("lists, reads, retries and deletes dead letters; dlq paths win over /:id", async () => {
    const observer = await (
      await call("POST", "/api/observers", secretObserver("dlq-owner"))
    ).json();
    const id = await insertDeadLetter(observer.id, null);
    const list = await call("GET", `/api/observers/dlq?observer_id=${observer.id}`);
    expect(list.status).toBe(200);
    const page = await list.json();
    expect(page).toMatchObject({ total_count: 1, total_pages: 1 });
    expect(page.data[0]).toMatchObject({
      id,
      observer_id: observer.id,
      observer_name: "dlq-owner",
      entity_type: "Order",
      entity_id: "42",
      event_type: "UPDATE",
      action_index: 0,
      action_type: "webhook",
      attempts: 5,
      max_attempts: 5,
      error_code: "HTTP_STATUS",
      response_status_code: 500,
      status: "pending",
      retry_count: 0,
      last_retry_at: null,
    });
    expect((await (await call("GET", `/api/observers/dlq/${id}`)).json()).id).toBe(id);

    calls.wake = 0;
    const retried = await call("POST", `/api/observers/dlq/${id}/retry`);
    expect(retried.status).toBe(202);
    expect(calls.wake).toBe(1);
    expect((await (await call("GET", `/api/observers/dlq/${id}`)).json()).status).toBe("retrying");
    await problem(await call("POST", `/api/observers/dlq/${randomUUID()}/retry`), 404);

    expect((await call("DELETE", `/api/observers/dlq/${id}`)).status).toBe(204);
    await problem(await call("GET", `/api/observers/dlq/${id}`), 404);
    await problem(await call("DELETE", `/api/observers/dlq/not-a-uuid`), 404);
    await problem(await call("GET", "/api/observers/dlq?observer_id=nope"), 400);
  });

  it("confines a tenant key to its tenant's dead letters", async () => {
    const observer = await (
      await call("POST", "/api/observers", secretObserver("dlq-t7"), tenant7Token)
    ).json();
    const id = await insertDeadLetter(observer.id, 7);
    await problem(await call("GET", `/api/observers/dlq/${id}`, undefined, tenant8Token), 404);
    await problem(
      await call("POST", `/api/observers/dlq/${id}/retry`, undefined, tenant8Token),
      404,
    );
    await problem(await call("DELETE", `/api/observers/dlq/${id}`, undefined, tenant8Token), 404);
    const seen8 = await (await call("GET", "/api/observers/dlq", undefined, tenant8Token)).json();
    expect(seen8.data.map((d: { id: string }) => d.id)).not.toContain(id);
    expect((await call("GET", `/api/observers/dlq/${id}`, undefined, tenant7Token)).status).toBe(
      200,
    );
  });
});
