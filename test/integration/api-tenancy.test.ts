/**
 * Authorization of every operation, table-driven from the app's own OpenAPI document so that a new
 * route is covered as soon as it exists: (a) other tenants' ids answer 404 wherever an operation
 * takes an id, (b) a read key cannot call any non-GET operation (403), (c) every operation but the
 * health probe needs a valid token (401). Then the failure throttle over HTTP, per client.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { AuthThrottle } from "../../src/api/auth-throttle.ts";
import { openApiDocument } from "../../src/api/openapi.ts";
import { type IpRange, parseTrustedProxies } from "../../src/net/client-address.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient } from "../support/api-client.ts";
import { fakeClock } from "../support/clock.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-tenancy-tests";
let db: TestDatabase;

// The app is built before the database exists, so that its document can name the tests; its SQL
// goes to the test database once `beforeAll` has made it.
const sql: SqlClient = {
  query: (text, params) => db.client.query(text, params),
  transaction: (fn) => db.client.transaction(fn),
  close: async () => {},
};
const app = createObserversApi({
  sql,
  runtime: stubRuntime(),
  adminToken: ADMIN,
  logger: silentLogger,
  // The wrong-token checks below fail dozens of times from one client: never throttle them here.
  authThrottle: new AuthThrottle({ freeFailures: Number.MAX_SAFE_INTEGER }),
});
const call = apiClient(app, ADMIN);

interface Operation {
  method: string;
  template: string;
  /** `METHOD template`, as the tests are named. */
  name: string;
  pathParams: string[];
  requiresBody: boolean;
  /** Declares `security: []`: callable without a token. */
  open: boolean;
  /** The success status the document declares (the lowest 2xx; 101 for the WebSocket upgrade). */
  success: number;
}

function operationsOf(document: Record<string, unknown>): Operation[] {
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths as Record<string, object>)) {
    for (const [method, raw] of Object.entries(item as Record<string, Record<string, unknown>>)) {
      const parameters = (raw.parameters ?? []) as { in: string; name: string }[];
      const statuses = Object.keys(raw.responses as object).map(Number);
      const security = raw.security as unknown[] | undefined;
      operations.push({
        method: method.toUpperCase(),
        template,
        name: `${method.toUpperCase()} ${template}`,
        pathParams: parameters.filter((p) => p.in === "path").map((p) => p.name),
        requiresBody: (raw.requestBody as { required?: boolean } | undefined)?.required === true,
        open: Array.isArray(security) && security.length === 0,
        success: Math.min(...statuses.filter((s) => s === 101 || (s >= 200 && s < 300))),
      });
    }
  }
  return operations;
}

const operations = operationsOf(openApiDocument(app));
/** Operations on what belongs to no tenant: every tenant-bound key gets 403 (tested below). */
const GLOBAL_ONLY = (op: Operation) => op.template.startsWith("/api/sources");
const withIds = operations.filter((op) => op.pathParams.length > 0 && !GLOBAL_ONLY(op));
/** POSTs whose body is a question: a read key may call them (test only without `send`). */
const READING = new Set([
  "POST /api/observers/{id}/test",
  "POST /api/observers/{id}/backtest",
  "POST /api/observers/validate",
]);
const writes = operations.filter(
  (op) => op.method !== "GET" && op.method !== "HEAD" && !READING.has(op.name),
);
const authenticated = operations.filter((op) => !op.open);

/**
 * A valid body for each operation that requires one (so that a 404 or 403 cannot be a 400 in
 * disguise). A new operation with a required body fails its tests until it is added here.
 */
const BODIES: Readonly<Record<string, unknown>> = {
  "POST /api/observers": {
    name: "from-the-table",
    entity_type: "Order",
    actions: [{ type: "log", message_template: "{{ id }} changed" }],
  },
  "PATCH /api/observers/{id}": { priority: 1 },
  "POST /api/observers/{id}/test": {
    event: {
      object_type: "Order",
      modification_type: "INSERT",
      object_data: { total: 1 },
      fk_customer_org: 7,
    },
  },
  "POST /api/observers/{id}/backtest": {
    since: "2026-01-01T00:00:00Z",
    until: "2026-01-02T00:00:00Z",
  },
  "POST /api/observers/{id}/schedule": {
    run_at: new Date(Date.now() + 3_600_000).toISOString(),
    payload: { note: "tenancy" },
  },
  "POST /api/observers/dlq/retry-all": {},
  "POST /api/observers/validate": { condition_expression: "total > 1" },
  "POST /api/keys": { name: "from-the-table", scope: "read" },
  "POST /api/jobs/cancel": {},
  "POST /api/observers/{id}/replay": {
    since: new Date(Date.now() - 3_600_000).toISOString(),
    until: new Date(Date.now() + 3_600_000).toISOString(),
    dry_run: true,
  },
  "POST /api/observers/deliveries/cancel": { entity_type: "Order", dry_run: true },
  "POST /api/sources": {
    name: "from-the-table",
    kind: "mysql",
    url_env: "OBSERVERS_SECRET_MYSQL_URL",
    tables: [{ table: "app.orders", entity_type: "Order" }],
  },
};

function bodyFor(op: Operation): unknown {
  if (op.name in BODIES) return BODIES[op.name];
  if (op.requiresBody) throw new Error(`add a valid sample body for ${op.name} to BODIES`);
  return undefined;
}

/** Tenant 7's resources: a fresh set per use, since some operations delete what they touch. */
interface Fixtures {
  observer: string;
  deadLetter: string;
  change: string;
  key: string;
  /** A pending builtin job of tenant 7's observer, and a failed one (for retry). */
  job: string;
  failedJob: string;
  /** A running replay of tenant 7's observer. */
  replay: string;
  /** A destination's health: shared by every tenant, so no tenant-bound key reaches it. */
  destination: string;
  /** A source (global: no tenant owns it). */
  source: string;
}

/** Operations on what no tenant owns (destinations): every tenant-bound key gets 404, the global admin succeeds. */
const SHARED = new Set(["POST /api/observers/destinations/{id}/reset"]);

async function seedTenant7(): Promise<Fixtures> {
  const observer = await insertObserver(db.sql, {
    name: `t7-${randomUUID()}`,
    actions: [{ type: "log", message_template: "{{ id }} changed" }],
    fk_customer_org: 7,
  });
  const [dlq] = await db.sql`
    INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id, action_index,
      action_type, event_id, object_type, modification_type, object_id, object_data,
      fk_customer_org, change_created_at, attempts, max_attempts, error_code, error_message)
    SELECT pk_observer, name, gen_random_uuid(), 0, 'log', gen_random_uuid(), 'Order', 'INSERT',
      '1', '{"total":1}'::jsonb, 7, now(), 3, 3, 'E_TEST', 'failed'
    FROM core.tb_observer WHERE id = ${observer}::uuid
    RETURNING id::text AS id`;
  const [change] = await db.sql`
    INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data,
      fk_customer_org)
    VALUES ('Order', 'INSERT', '1', '{"total":1}'::jsonb, 7)
    RETURNING id::text AS id`;
  const key = await insertApiKey(db.client, {
    name: `t7-key-${randomUUID()}`,
    scope: "read",
    fk_customer_org: "7",
  });
  const jobs = await db.sql`
    INSERT INTO core.tb_job (task, payload, status, fk_observer, fk_customer_org)
    SELECT 'report', '{}'::jsonb, status, pk_observer, 7
    FROM core.tb_observer, unnest(ARRAY['pending', 'failed']) AS status
    WHERE id = ${observer}::uuid
    RETURNING id::text AS id, status`;
  const [replay] = await db.sql`
    INSERT INTO core.tb_observer_replay (fk_observer, fk_customer_org, since, until)
    SELECT pk_observer, 7, now() - interval '1 hour', now() FROM core.tb_observer
    WHERE id = ${observer}::uuid
    RETURNING id::text AS id`;
  const [destination] = await db.sql`
    INSERT INTO core.tb_observer_destination (destination, state, consecutive_failures)
    VALUES (${`webhook:https://${randomUUID()}.example.com`}, 'open', 5)
    RETURNING id::text AS id`;
  return {
    observer,
    replay: String(replay?.id),
    destination: String(destination?.id),
    deadLetter: String(dlq?.id),
    change: String(change?.id),
    key: key.id,
    job: String(jobs.find((job) => job.status === "pending")?.id),
    failedJob: String(jobs.find((job) => job.status === "failed")?.id),
    source: String(
      (
        await db.sql`
        INSERT INTO core.tb_source (name, kind, url_env, start, tables)
        VALUES (${`s-${randomUUID()}`}, 'mysql', 'OBSERVERS_SECRET_X', 'now', '[]'::jsonb)
        RETURNING id::text AS id`
      )[0]?.id,
    ),
  };
}

/** Which of tenant 7's resources an operation's path parameter names, by the path's prefix. */
function fixtureFor(template: string, param: string, fixtures: Fixtures): string {
  if (param === "event_id") return fixtures.change;
  if (param === "replay_id") return fixtures.replay;
  if (param !== "id") throw new Error(`no fixture for {${param}} in ${template}`);
  if (template.startsWith("/api/observers/dlq/")) return fixtures.deadLetter;
  if (template.startsWith("/api/observers/destinations/")) return fixtures.destination;
  if (template.startsWith("/api/keys/")) return fixtures.key;
  if (template === "/api/jobs/{id}/retry") return fixtures.failedJob;
  if (template.startsWith("/api/jobs/")) return fixtures.job;
  if (template.startsWith("/api/observers/")) return fixtures.observer;
  if (template.startsWith("/api/sources/")) return fixtures.source;
  throw new Error(`no fixture for {id} in ${template}: add one to fixtureFor`);
}

function pathOf(op: Operation, fixtures: Fixtures): string {
  return op.template.replace(/\{([^}]+)\}/g, (_, param: string) =>
    fixtureFor(op.template, param, fixtures),
  );
}

async function problem(response: Response, status: number, what: string) {
  const text = await response.clone().text();
  expect(response.status, `${what}: ${text}`).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  return (await response.json()) as { code: string; detail: string };
}

const tokens = { t7: "", t8: "", read: "" };

beforeAll(async () => {
  db = await createTestDatabase("api_tenancy");
  tokens.t7 = (
    await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" })
  ).token;
  tokens.t8 = (
    await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" })
  ).token;
  tokens.read = (await insertApiKey(db.client, { name: "reader", scope: "read" })).token;
});
afterAll(() => db?.drop());

describe("the operation table", () => {
  it("covers the whole document, so no check passes vacuously", () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    expect(withIds.length).toBeGreaterThanOrEqual(10);
    expect(writes.length).toBeGreaterThanOrEqual(10);
    expect(authenticated.length).toBe(operations.length - 1);
    // Every operation has a success status, and the only open one is the health probe.
    for (const op of operations) expect(op.success, op.name).toBeLessThan(300);
    expect(operations.filter((op) => op.open).map((op) => op.name)).toEqual([
      "GET /api/observers/runtime/health",
    ]);
    // The routes the brief names are all there.
    for (const name of [
      "GET /api/observers/{id}",
      "GET /api/observers/dlq/{id}",
      "DELETE /api/keys/{id}",
      "GET /api/observers/events/{event_id}/explain",
      "POST /api/observers/{id}/test",
      "POST /api/observers/{id}/backtest",
    ]) {
      expect(withIds.map((op) => op.name)).toContain(name);
    }
  });

  it("answers the open health probe without a token", async () => {
    const response = await call("GET", "/api/observers/runtime/health", undefined, {
      token: null,
    });
    expect(response.status).toBe(200);
  });
});

describe("(a) another tenant's id answers 404, as if it did not exist", () => {
  it.each(withIds.map((op) => [op.name, op] as const))("%s", async (_, op) => {
    const fixtures = await seedTenant7();
    const path = pathOf(op, fixtures);
    const body = bodyFor(op);
    const refused = await problem(
      await call(op.method, path, body, { token: tokens.t8 }),
      404,
      `tenant 8 on ${op.name}`,
    );
    expect(refused.code).toBe("NOT_FOUND");
    // The owner succeeds with the very same request: the 404 was the tenant's doing.
    const owner = SHARED.has(op.name)
      ? await call(op.method, path, body)
      : await call(op.method, path, body, { token: tokens.t7 });
    if (SHARED.has(op.name)) {
      const t7 = await call(op.method, path, body, { token: tokens.t7 });
      expect(t7.status, `tenant 7 on ${op.name}`).toBe(404);
    }
    expect(owner.status, `tenant 7 on ${op.name}: ${await owner.clone().text()}`).toBe(op.success);
  });
});

describe("(a') what belongs to no tenant refuses every tenant-bound key (403)", () => {
  const globalOnly = operations.filter(GLOBAL_ONLY);
  it("covers the sources' routes", () => {
    expect(globalOnly.map((op) => op.name).sort()).toEqual([
      "DELETE /api/sources/{id}",
      "GET /api/sources",
      "GET /api/sources/{id}",
      "POST /api/sources",
    ]);
  });
  it.each(globalOnly.map((op) => [op.name, op] as const))("%s", async (_, op) => {
    const fixtures = await seedTenant7();
    const refused = await problem(
      await call(op.method, pathOf(op, fixtures), bodyFor(op), { token: tokens.t7 }),
      403,
      `tenant 7 on ${op.name}`,
    );
    expect(refused.code).toBe("FORBIDDEN");
    const [row] =
      await db.sql`SELECT count(*)::int AS n FROM core.tb_source WHERE id = ${fixtures.source}::uuid`;
    expect(row?.n).toBe(1);
  });
});

describe("(b) a read key cannot call a non-GET operation", () => {
  it.each(writes.map((op) => [op.name, op] as const))("%s", async (_, op) => {
    const fixtures = await seedTenant7();
    const before = await db.sql`SELECT
      (SELECT count(*) FROM core.tb_observer WHERE deleted_at IS NULL)::int AS observers,
      (SELECT count(*) FROM core.tb_observer_dlq WHERE status = 'pending')::int AS dead_letters,
      (SELECT count(*) FROM core.tb_api_key WHERE deleted_at IS NULL)::int AS keys,
      (SELECT count(*) FROM core.tb_observer WHERE priority <> 100)::int AS patched`;
    const refused = await problem(
      await call(op.method, pathOf(op, fixtures), bodyFor(op), { token: tokens.read }),
      403,
      `read key on ${op.name}`,
    );
    expect(refused.code).toBe("FORBIDDEN");
    const after = await db.sql`SELECT
      (SELECT count(*) FROM core.tb_observer WHERE deleted_at IS NULL)::int AS observers,
      (SELECT count(*) FROM core.tb_observer_dlq WHERE status = 'pending')::int AS dead_letters,
      (SELECT count(*) FROM core.tb_api_key WHERE deleted_at IS NULL)::int AS keys,
      (SELECT count(*) FROM core.tb_observer WHERE priority <> 100)::int AS patched`;
    expect(after).toEqual(before);
  });
});

describe("(b') a read key may test, backtest and validate, but not send", () => {
  it.each([...READING].map((name) => [name] as const))("%s", async (name) => {
    const op = operations.find((o) => o.name === name);
    if (!op) throw new Error(`${name} is not in the document`);
    const fixtures = await seedTenant7();
    const allowed = await call(op.method, pathOf(op, fixtures), bodyFor(op), {
      token: tokens.read,
    });
    expect(allowed.status, await allowed.clone().text()).toBe(200);
  });

  it("refuses send from a read key", async () => {
    const fixtures = await seedTenant7();
    const body = { ...(BODIES["POST /api/observers/{id}/test"] as object), send: true };
    const refused = await problem(
      await call("POST", `/api/observers/${fixtures.observer}/test`, body, { token: tokens.read }),
      403,
      "read key sending",
    );
    expect(refused.code).toBe("FORBIDDEN");
  });
});

describe("(c) every operation but the health probe needs a valid token", () => {
  it.each(authenticated.map((op) => [op.name, op] as const))("%s", async (_, op) => {
    const fixtures = await seedTenant7();
    const path = pathOf(op, fixtures);
    for (const [token, what] of [
      [null, "no token"],
      ["wrong-token-wrong-token-wrong", "a wrong token"],
      [`${ADMIN}x`, "the admin token with one more character"],
    ] as const) {
      const response = await call(op.method, path, bodyFor(op), { token });
      const refused = await problem(response, 401, `${what} on ${op.name}`);
      expect(refused.code).toBe("UNAUTHORIZED");
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
    }
    const basic = await call(op.method, path, bodyFor(op), {
      token: null,
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN}`)}` },
    });
    await problem(basic, 401, `Basic auth on ${op.name}`);
  });
});

describe("the failure throttle over HTTP", () => {
  const clock = fakeClock();
  const throttled = createObserversApi({
    sql,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    clientAddress: (c) => c.req.header("x-test-client"),
    authThrottle: new AuthThrottle({ freeFailures: 3, clock }),
  });
  const client = apiClient(throttled, ADMIN);
  const as = (address: string, token: string) =>
    client("GET", "/api/observers", undefined, { token, headers: { "x-test-client": address } });
  const WRONG = "not-a-valid-token-at-all";

  async function tooMany(response: Response, seconds: number) {
    const body = await problem(response, 429, "a throttled client");
    expect(body.code).toBe("TOO_MANY_REQUESTS");
    expect(body.detail).toContain(`retry in ${seconds} s`);
    expect(response.headers.get("retry-after")).toBe(String(seconds));
  }

  it("makes a client that keeps failing wait, except with a valid API key, and no one else", async () => {
    // Three free failures, and a fourth that is still checked but starts a 1 s wait.
    for (let i = 1; i <= 4; i++) {
      await problem(await as("A", WRONG), 401, `wrong token ${i}`);
    }
    // Now a wrong token from A gets 429, and so does the environment's admin token (an operator
    // may have chosen it by hand: it is the one a guesser could find)...
    await tooMany(await as("A", WRONG), 1);
    await tooMany(await as("A", ADMIN), 1);
    // ...but a valid API key from A is served: whoever shares A's address keeps working.
    expect((await as("A", tokens.read)).status).toBe(200);
    expect((await as("A", tokens.t7)).status).toBe(200);
    await tooMany(await as("A", WRONG), 1);
    // ...on every authenticated route...
    await tooMany(
      await client("POST", "/api/observers/runtime/reload", undefined, {
        headers: { "x-test-client": "A" },
      }),
      1,
    );
    // ...while B, with a valid token, is unaffected, and the health probe needs no token.
    expect((await as("B", ADMIN)).status).toBe(200);
    const health = await client("GET", "/api/observers/runtime/health", undefined, {
      token: null,
      headers: { "x-test-client": "A" },
    });
    expect(health.status).toBe(200);
    // A missing token is a 401 without consulting the throttle's count.
    await problem(
      await client("GET", "/api/observers", undefined, {
        token: null,
        headers: { "x-test-client": "B" },
      }),
      401,
      "no token",
    );

    // Refusals while waiting do not lengthen the wait.
    clock.advance(999);
    await tooMany(await as("A", ADMIN), 1);
    clock.advance(1);
    // Waited out: the next failure doubles the wait to 2 s.
    await problem(await as("A", WRONG), 401, "wrong token after the wait");
    await tooMany(await as("A", ADMIN), 2);
    clock.advance(1_500);
    await tooMany(await as("A", ADMIN), 1);
    clock.advance(500);
    // A valid token after the wait succeeds, but does not forget A's failures: one key must not
    // let its holder interleave guesses at the admin token. The next failure waits 4 s.
    expect((await as("A", ADMIN)).status).toBe(200);
    await problem(await as("A", WRONG), 401, "wrong token after a success");
    await tooMany(await as("A", WRONG), 4);
    await tooMany(await as("A", ADMIN), 4);
    expect((await as("A", tokens.t7)).status).toBe(200);
    // Served keys neither reset nor lengthen the wait.
    await tooMany(await as("A", WRONG), 4);
    clock.advance(4_000);
    expect((await as("A", ADMIN)).status).toBe(200);
  });

  it("counts B's failures apart from A's", async () => {
    for (let i = 1; i <= 4; i++) await problem(await as("C", WRONG), 401, `C wrong ${i}`);
    await tooMany(await as("C", ADMIN), 1);
    for (let i = 1; i <= 3; i++) await problem(await as("D", WRONG), 401, `D wrong ${i}`);
    expect((await as("D", ADMIN)).status).toBe(200);
    clock.advance(1_000);
    expect((await as("C", ADMIN)).status).toBe(200);
  });

  it("behind trusted proxies, counts each forwarded client apart, and nobody picks an address", async () => {
    const proxied = fakeClock();
    const behind = apiClient(
      createObserversApi({
        sql,
        runtime: stubRuntime(),
        adminToken: ADMIN,
        logger: silentLogger,
        clientAddress: (c) => c.req.header("x-test-peer"),
        trustedProxies: {
          ranges: (parseTrustedProxies("10.0.0.0/8") as { ranges: IpRange[] }).ranges,
          header: "x-forwarded-for",
        },
        authThrottle: new AuthThrottle({ freeFailures: 2, clock: proxied }),
      }),
      ADMIN,
    );
    const from = (peer: string, forwarded: string | null, token: string) =>
      behind("GET", "/api/observers", undefined, {
        token,
        headers: { "x-test-peer": peer, ...(forwarded ? { "x-forwarded-for": forwarded } : {}) },
      });
    // Client 198.51.100.1, behind the proxy 10.0.0.5, forges a left-hand entry: it still counts
    // as what the proxy saw.
    for (let i = 1; i <= 3; i++) {
      await problem(await from("10.0.0.5", `1.1.1.${i}, 198.51.100.1`, WRONG), 401, `X ${i}`);
    }
    await tooMany(await from("10.0.0.5", "7.7.7.7, 198.51.100.1", WRONG), 1);
    // Another client behind the same proxy is not locked out.
    expect((await from("10.0.0.5", "198.51.100.2", ADMIN)).status).toBe(200);
    // A peer that is not a trusted proxy cannot choose its address with the header.
    for (let i = 1; i <= 3; i++) {
      await problem(await from("203.0.113.5", `198.51.100.${10 + i}`, WRONG), 401, `Y ${i}`);
    }
    await tooMany(await from("203.0.113.5", "198.51.100.99", ADMIN), 1);
    // IPv6 clients count by /64: another address of the same /64 waits, another /64 does not.
    for (let i = 1; i <= 3; i++) {
      await problem(await from(`2001:db8:1:2::${i}`, null, WRONG), 401, `Z ${i}`);
    }
    await tooMany(await from("2001:db8:1:2:ffff::9", null, WRONG), 1);
    await tooMany(await from("10.0.0.5", "2001:db8:1:2::abcd", WRONG), 1);
    expect((await from("2001:db8:1:3::1", null, ADMIN)).status).toBe(200);
  });

  it("counts every client as one when the host gives no address", async () => {
    const shared = fakeClock();
    const anonymous = apiClient(
      createObserversApi({
        sql,
        runtime: stubRuntime(),
        adminToken: ADMIN,
        logger: silentLogger,
        authThrottle: new AuthThrottle({ freeFailures: 1, clock: shared }),
      }),
      ADMIN,
    );
    const get = (token: string, address: string) =>
      anonymous("GET", "/api/observers", undefined, {
        token,
        headers: { "x-test-client": address },
      });
    await problem(await get(WRONG, "E"), 401, "E wrong");
    await problem(await get(WRONG, "F"), 401, "F wrong");
    await tooMany(await get(ADMIN, "G"), 1);
    shared.advance(1_000);
    expect((await get(ADMIN, "G")).status).toBe(200);
  });
});

/**
 * A global (admin-owned) observer runs on every tenant's changes, but what it did is the admin's:
 * a tenant key neither sees its log rows, dead letters or counts, nor replays or deletes its dead
 * letters (404, as for an id that does not exist), even for the tenant's own changes. Tenant 9 is
 * used by nothing else in this file, so its numbers are exact.
 */
describe("a global observer's outcomes are not a tenant's", () => {
  let t9 = "";
  const seeded = { global: "", own: "", globalDead: "", ownDead: "" };

  async function logRow(observer: string, status: string): Promise<void> {
    await db.sql`
      INSERT INTO core.tb_observer_log (fk_observer, event_id, entity_type, event_type, status,
        action_index, action_type, attempt_number, max_attempts, duration_ms, error_message,
        fk_customer_org)
      SELECT pk_observer, gen_random_uuid(), 'Order', 'INSERT', ${status}, 0, 'webhook', 1, 3, 5,
        ${`${status} of ${observer}`}, 9
      FROM core.tb_observer WHERE id = ${observer}::uuid`;
  }

  async function deadLetter(observer: string): Promise<string> {
    const [row] = await db.sql`
      INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id, action_index,
        action_type, event_id, object_type, modification_type, object_id, object_data,
        fk_customer_org, change_created_at, attempts, max_attempts, error_code, error_message)
      SELECT pk_observer, name, gen_random_uuid(), 0, 'webhook', gen_random_uuid(), 'Order',
        'INSERT', '1', '{"total":1}'::jsonb, 9, now(), 3, 3, 'E_GLOBAL', 'failed'
      FROM core.tb_observer WHERE id = ${observer}::uuid
      RETURNING id::text AS id`;
    return String(row?.id);
  }

  const as9 = (method: string, path: string, body?: unknown) =>
    call(method, path, body, { token: t9 });
  async function json<T>(response: Response, status = 200): Promise<T> {
    expect(response.status, await response.clone().text()).toBe(status);
    return (await response.json()) as T;
  }
  async function dlqStatus(id: string): Promise<string | undefined> {
    const [row] = await db.sql`SELECT status FROM core.tb_observer_dlq WHERE id = ${id}::uuid`;
    return row?.status as string | undefined;
  }

  beforeAll(async () => {
    t9 = (await insertApiKey(db.client, { name: "t9", scope: "admin", fk_customer_org: "9" }))
      .token;
    const actions = [{ type: "log", message_template: "{{ id }} changed" }];
    seeded.global = await insertObserver(db.sql, { name: `global-${randomUUID()}`, actions });
    seeded.own = await insertObserver(db.sql, {
      name: `t9-${randomUUID()}`,
      actions,
      fk_customer_org: 9,
    });
    for (const status of ["success", "failed", "failed"]) await logRow(seeded.global, status);
    await logRow(seeded.own, "success");
    seeded.globalDead = await deadLetter(seeded.global);
    seeded.ownDead = await deadLetter(seeded.own);
  });

  it("GET /api/observers/logs lists only the tenant's observers' rows", async () => {
    type LogPage = { data: { observer_id: string }[]; total_count: number };
    const own = await json<LogPage>(await as9("GET", "/api/observers/logs"));
    expect(own.data.map((row) => row.observer_id)).toEqual([seeded.own]);
    expect(own.total_count).toBe(1);
    const filtered = await json<LogPage>(
      await as9("GET", `/api/observers/logs?observer_id=${seeded.global}`),
    );
    expect(filtered).toMatchObject({ data: [], total_count: 0 });
    // The admin sees the global observer's rows of tenant 9's changes.
    const all = await json<LogPage>(
      await call("GET", `/api/observers/logs?observer_id=${seeded.global}`),
    );
    expect(all.total_count).toBe(3);
    // And the observer's own listing is a 404, as before.
    expect((await as9("GET", `/api/observers/${seeded.global}/logs`)).status).toBe(404);
  });

  it("GET /api/observers/stats/summary and /stats count only what the key can see", async () => {
    type Summary = {
      executions: { total: number; successful: number; failed: number };
      dead_letters: { pending: number };
      observers: { total: number };
    };
    const summary = await json<Summary>(await as9("GET", "/api/observers/stats/summary"));
    expect(summary.executions).toMatchObject({ total: 1, successful: 1, failed: 0 });
    expect(summary.dead_letters.pending).toBe(1);
    expect(summary.observers.total).toBe(1);
    const stats = await json<{ observer_id: string }[]>(await as9("GET", "/api/observers/stats"));
    expect(stats.map((s) => s.observer_id)).toEqual([seeded.own]);
    expect((await as9("GET", `/api/observers/${seeded.global}/stats`)).status).toBe(404);
  });

  it("GET /api/observers/dlq and /dlq/stats list and count only the tenant's observers' items", async () => {
    const page = await json<{ data: { id: string }[]; total_count: number }>(
      await as9("GET", "/api/observers/dlq"),
    );
    expect(page.data.map((item) => item.id)).toEqual([seeded.ownDead]);
    expect(page.total_count).toBe(1);
    const byObserver = await json<{ total_count: number }>(
      await as9("GET", `/api/observers/dlq?observer_id=${seeded.global}`),
    );
    expect(byObserver.total_count).toBe(0);
    const stats = await json<{
      total_items: number;
      pending: number;
      by_error_code: Record<string, number>;
      by_observer: { observer_id: string }[];
    }>(await as9("GET", "/api/observers/dlq/stats"));
    expect(stats).toMatchObject({ total_items: 1, pending: 1, by_error_code: { E_GLOBAL: 1 } });
    expect(stats.by_observer.map((o) => o.observer_id)).toEqual([seeded.own]);
  });

  it("GET, DELETE and POST retry of a global observer's dead letter answer 404 and change nothing", async () => {
    const path = `/api/observers/dlq/${seeded.globalDead}`;
    for (const [method, suffix] of [
      ["GET", ""],
      ["DELETE", ""],
      ["POST", "/retry"],
    ] as const) {
      const refused = await problem(
        await as9(method, `${path}${suffix}`),
        404,
        `${method} ${suffix}`,
      );
      expect(refused.code).toBe("NOT_FOUND");
    }
    expect(await dlqStatus(seeded.globalDead)).toBe("pending");
    const [queued] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery d
      JOIN core.tb_observer_dlq q ON q.pk_observer_dlq = d.fk_observer_dlq
      WHERE q.id = ${seeded.globalDead}::uuid`;
    expect(queued?.n).toBe(0);
    // The admin reads it.
    expect((await call("GET", path)).status).toBe(200);
  });

  it("POST /api/observers/dlq/retry-all re-queues only the tenant's observers' items", async () => {
    const byGlobal = await json<{ items_retried: number }>(
      await as9("POST", "/api/observers/dlq/retry-all", { observer_id: seeded.global }),
      202,
    );
    expect(byGlobal.items_retried).toBe(0);
    const all = await json<{ items_retried: number; items_failed: number }>(
      await as9("POST", "/api/observers/dlq/retry-all", {}),
      202,
    );
    expect(all).toMatchObject({ items_retried: 1, items_failed: 0 });
    expect(await dlqStatus(seeded.ownDead)).toBe("retrying");
    expect(await dlqStatus(seeded.globalDead)).toBe("pending");
    // The admin may replay and delete it.
    expect((await call("POST", `/api/observers/dlq/${seeded.globalDead}/retry`)).status).toBe(202);
    expect((await call("DELETE", `/api/observers/dlq/${seeded.globalDead}`)).status).toBe(204);
  });
});
