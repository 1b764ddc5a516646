/**
 * API keys over HTTP (`POST|GET /api/keys`, `DELETE /api/keys/{id}`): a created token works at
 * once and is never listed, revoking stops it, only admin keys manage keys, a tenant-bound admin
 * key manages its own tenant's keys only, and bad bodies are 400s naming the field.
 */
import { createHash, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { AuthThrottle } from "../../src/api/auth-throttle.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-key-tests-0123";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
let readToken: string;
let tenant7: { id: string; token: string };
let tenant8: { id: string; token: string };
const observers = { t7: "", t8: "", global: "" };

beforeAll(async () => {
  db = await createTestDatabase("api_keys");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    // Revoked and wrong tokens are part of these tests: never throttle them.
    authThrottle: new AuthThrottle({ freeFailures: Number.MAX_SAFE_INTEGER }),
  });
  call = apiClient(app, ADMIN);
  readToken = (await insertApiKey(db.client, { name: "reader", scope: "read" })).token;
  tenant7 = await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" });
  tenant8 = await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" });
  observers.t7 = await insertObserver(db.sql, {
    name: "t7-observer",
    actions: [{ type: "log", message_template: "{{ id }} changed" }],
    fk_customer_org: 7,
  });
  observers.t8 = await insertObserver(db.sql, {
    name: "t8-observer",
    actions: [{ type: "log", message_template: "{{ id }} changed" }],
    fk_customer_org: 8,
  });
  observers.global = await insertObserver(db.sql, {
    name: "global-observer",
    actions: [{ type: "log", message_template: "{{ id }} changed" }],
  });
});
afterAll(() => db?.drop());

interface KeyView {
  id: string;
  name: string;
  scope: string;
  fk_customer_org: number | string | null;
  token_prefix: string;
  created_at: string;
  last_used_at: string | null;
}
interface KeyPage {
  data: KeyView[];
  page: number;
  page_size: number;
  total_count: number;
  total_pages: number;
}

async function create(body: unknown, token = ADMIN): Promise<{ id: string; token: string }> {
  const response = await call("POST", "/api/keys", body, { token });
  expect(response.status).toBe(201);
  const created = (await response.json()) as { id: string; token: string };
  expect(response.headers.get("location")).toBe(`/api/keys/${created.id}`);
  return created;
}

async function list(token = ADMIN, query = "?page_size=100"): Promise<KeyPage> {
  const response = await call("GET", `/api/keys${query}`, undefined, { token });
  expect(response.status).toBe(200);
  return (await response.json()) as KeyPage;
}

async function observerIds(token: string): Promise<string[]> {
  const response = await call("GET", "/api/observers?page_size=100", undefined, { token });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { id: string }[] }).data.map((o) => o.id).sort();
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

describe("creating, listing and revoking", () => {
  it("creates a key whose token works at once, lists it without its token, and revokes it", async () => {
    const created = await create({ name: "deploy-bot", scope: "admin" });
    expect(Object.keys(created).sort()).toEqual(["id", "token"]);
    expect(created.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.token).toMatch(/^obs_[A-Za-z0-9_-]{43}$/);

    // The token authenticates immediately, as an unscoped admin.
    expect(await observerIds(created.token)).toEqual(
      [observers.t7, observers.t8, observers.global].sort(),
    );
    const write = await call("POST", "/api/observers/runtime/reload", undefined, {
      token: created.token,
    });
    expect(write.status).toBe(200);

    const response = await call("GET", "/api/keys?page_size=100");
    expect(response.status).toBe(200);
    const text = await response.clone().text();
    expect(text).not.toContain(created.token);
    expect(text).not.toContain(sha256(created.token));
    expect(text).not.toContain("token_sha256");
    const page = (await response.json()) as KeyPage;
    const listed = page.data.find((k) => k.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      name: "deploy-bot",
      scope: "admin",
      fk_customer_org: null,
      token_prefix: created.token.slice(0, 8),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      // It was used above.
      last_used_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    for (const key of page.data) {
      expect(Object.keys(key).sort()).toEqual([
        "created_at",
        "fk_customer_org",
        "id",
        "last_used_at",
        "name",
        "scope",
        "token_prefix",
      ]);
    }
    // The database holds the hash, never the token.
    const [row] =
      await db.sql`SELECT token_sha256 FROM core.tb_api_key WHERE id = ${created.id}::uuid`;
    expect(row?.token_sha256).toBe(sha256(created.token));

    const revoked = await call("DELETE", `/api/keys/${created.id}`);
    expect(revoked.status).toBe(204);
    expect(await revoked.text()).toBe("");
    const refused = await problem(
      await call("GET", "/api/observers", undefined, { token: created.token }),
      401,
    );
    expect(refused.code).toBe("UNAUTHORIZED");
    expect((await list()).data.map((k) => k.id)).not.toContain(created.id);
    // Revoking twice, an unknown id, or a non-UUID: 404.
    await problem(await call("DELETE", `/api/keys/${created.id}`), 404);
    await problem(await call("DELETE", `/api/keys/${randomUUID()}`), 404);
    await problem(await call("DELETE", "/api/keys/not-a-uuid"), 404);
  });

  it("creates read keys that can read but not write", async () => {
    const created = await create({ name: "dashboard", scope: "read" });
    expect((await list()).data.find((k) => k.id === created.id)?.scope).toBe("read");
    expect(await observerIds(created.token)).toHaveLength(3);
    const body = await problem(
      await call("POST", "/api/observers/runtime/reload", undefined, { token: created.token }),
      403,
    );
    expect(body.code).toBe("FORBIDDEN");
  });

  it("binds a key to the tenant the admin token names", async () => {
    const asNumber = await create({ name: "for-8", scope: "admin", fk_customer_org: 8 });
    const asText = await create({ name: "for-7", scope: "read", fk_customer_org: "7" });
    const unbound = await create({ name: "unbound", scope: "read", fk_customer_org: null });
    const keys = new Map((await list()).data.map((k) => [k.id, k]));
    expect(keys.get(asNumber.id)?.fk_customer_org).toBe(8);
    expect(keys.get(asText.id)?.fk_customer_org).toBe(7);
    expect(keys.get(unbound.id)?.fk_customer_org).toBeNull();
    expect(await observerIds(asNumber.token)).toEqual([observers.t8]);
    expect(await observerIds(asText.token)).toEqual([observers.t7]);
    expect(await observerIds(unbound.token)).toHaveLength(3);
  });

  it("lists newest first and paginates", async () => {
    const names = ["page-1", "page-2", "page-3"];
    for (const name of names) await create({ name, scope: "read" });
    const all = await list();
    expect(all.total_count).toBe(all.data.length);
    const first = await list(ADMIN, "?page_size=2");
    expect(first).toMatchObject({
      page: 1,
      page_size: 2,
      total_count: all.total_count,
      total_pages: Math.ceil(all.total_count / 2),
    });
    expect(first.data.map((k) => k.name)).toEqual(["page-3", "page-2"]);
    const second = await list(ADMIN, "?page_size=2&page=2");
    expect(second.data.map((k) => k.name)).toEqual(all.data.slice(2, 4).map((k) => k.name));
    const bad = await problem(await call("GET", "/api/keys?page_size=0"), 400);
    expect(bad.issues?.map((i) => i.path)).toEqual(["page_size"]);
  });
});

describe("scopes", () => {
  it("GET /api/keys/self tells any key its scope and tenant", async () => {
    const self = async (token: string) => {
      const response = await call("GET", "/api/keys/self", undefined, { token });
      expect(response.status).toBe(200);
      return response.json();
    };
    expect(await self(ADMIN)).toEqual({
      key_id: null,
      name: "admin",
      scope: "admin",
      fk_customer_org: null,
    });
    expect(await self(tenant7.token)).toEqual({
      key_id: tenant7.id,
      name: "key:t7",
      scope: "admin",
      fk_customer_org: "7",
    });
    expect(await self(readToken)).toMatchObject({ scope: "read", fk_customer_org: null });
    await problem(await call("GET", "/api/keys/self", undefined, { token: "obs_nope" }), 401);
  });

  it("answers 403 to a read key on every /api/keys operation", async () => {
    const target = await create({ name: "target", scope: "read" });
    for (const [method, path, body] of [
      ["POST", "/api/keys", { name: "by-reader", scope: "admin" }],
      ["GET", "/api/keys", undefined],
      ["DELETE", `/api/keys/${target.id}`, undefined],
    ] as const) {
      const refused = await problem(await call(method, path, body, { token: readToken }), 403);
      expect(refused.code).toBe("FORBIDDEN");
    }
    // Nothing happened: the target still works and no key was created.
    expect((await list()).data.map((k) => k.id)).toContain(target.id);
    expect((await list()).data.map((k) => k.name)).not.toContain("by-reader");
    expect(await observerIds(target.token)).toHaveLength(3);
  });

  it("confines a tenant-bound admin key to its own tenant's keys", async () => {
    // Created with no tenant named, with its own, and with null: all bound to tenant 7.
    const implicit = await create({ name: "t7-implicit", scope: "read" }, tenant7.token);
    const explicit = await create(
      { name: "t7-explicit", scope: "admin", fk_customer_org: 7 },
      tenant7.token,
    );
    const nulled = await create(
      { name: "t7-null", scope: "read", fk_customer_org: null },
      tenant7.token,
    );
    const text = await create(
      { name: "t7-text", scope: "read", fk_customer_org: "7" },
      tenant7.token,
    );
    // Leading zeros name the same tenant.
    const padded = await create(
      { name: "t7-padded", scope: "read", fk_customer_org: "007" },
      tenant7.token,
    );
    const keys = new Map((await list()).data.map((k) => [k.id, k]));
    for (const created of [implicit, explicit, nulled, text, padded]) {
      expect(keys.get(created.id)?.fk_customer_org).toBe(7);
      expect(await observerIds(created.token)).toEqual([observers.t7]);
    }

    // Another tenant: 403, and nothing created.
    for (const fk_customer_org of [8, "8", 70, "0", "0008"]) {
      const refused = await problem(
        await call(
          "POST",
          "/api/keys",
          { name: "escape", scope: "admin", fk_customer_org },
          { token: tenant7.token },
        ),
        403,
      );
      expect(refused.code).toBe("FORBIDDEN");
    }
    expect((await list()).data.map((k) => k.name)).not.toContain("escape");

    // It lists its tenant's keys only.
    const seen = await list(tenant7.token);
    expect(seen.data.length).toBeGreaterThanOrEqual(6);
    expect(seen.total_count).toBe(seen.data.length);
    expect(new Set(seen.data.map((k) => k.fk_customer_org))).toEqual(new Set([7]));
    expect(seen.data.map((k) => k.id)).toContain(tenant7.id);
    expect(seen.data.map((k) => k.id)).not.toContain(tenant8.id);
    expect(new Set((await list(tenant8.token)).data.map((k) => k.fk_customer_org))).toEqual(
      new Set([8]),
    );

    // Another tenant's key, or an unbound one: 404, and they keep working.
    const unbound = await create({ name: "unbound-target", scope: "read" });
    for (const id of [tenant8.id, unbound.id]) {
      const missing = await problem(
        await call("DELETE", `/api/keys/${id}`, undefined, { token: tenant7.token }),
        404,
      );
      expect(missing.code).toBe("NOT_FOUND");
    }
    expect(await observerIds(tenant8.token)).toEqual([observers.t8]);
    expect(await observerIds(unbound.token)).toHaveLength(3);

    // Its own tenant's key: revoked.
    expect(
      (await call("DELETE", `/api/keys/${implicit.id}`, undefined, { token: tenant7.token }))
        .status,
    ).toBe(204);
    await problem(await call("GET", "/api/observers", undefined, { token: implicit.token }), 401);
  });

  it("lets a tenant-bound admin key revoke itself", async () => {
    const self = await create({ name: "self-revoking", scope: "admin" }, tenant7.token);
    expect(
      (await call("DELETE", `/api/keys/${self.id}`, undefined, { token: self.token })).status,
    ).toBe(204);
    await problem(await call("GET", "/api/keys", undefined, { token: self.token }), 401);
  });
});

describe("validation", () => {
  async function issues(body: unknown): Promise<{ path: string; message: string }[]> {
    const response = await problem(await call("POST", "/api/keys", body), 400);
    expect(response.code).toBe("INVALID_CONFIG");
    return response.issues ?? [];
  }

  it("answers 400 naming each bad field", async () => {
    expect((await issues({ scope: "admin" })).map((i) => i.path)).toEqual(["name"]);
    expect(await issues({ name: "   ", scope: "admin" })).toEqual([
      { path: "name", message: "must not be empty" },
    ]);
    expect(await issues({ name: "x".repeat(256), scope: "admin" })).toEqual([
      { path: "name", message: "must be at most 255 characters" },
    ]);
    expect(await issues({ name: "bad-scope", scope: "owner" })).toEqual([
      { path: "scope", message: 'must be "admin" or "read"' },
    ]);
    expect((await issues({ name: "no-scope" })).map((i) => i.path)).toEqual(["scope"]);
    expect(await issues({ name: "extra", scope: "read", colour: "red" })).toEqual([
      { path: "colour", message: 'unknown field "colour"' },
    ]);
    expect(
      (await issues({ name: "bad-tenant", scope: "read", fk_customer_org: "seven" })).map(
        (i) => i.path,
      ),
    ).toEqual(["fk_customer_org"]);
    expect(
      (await issues({ name: "neg-tenant", scope: "read", fk_customer_org: -1 })).map((i) => i.path),
    ).toEqual(["fk_customer_org"]);
    // Beyond a BIGINT: a 400, not a failed insert.
    expect(
      await issues({ name: "huge-tenant", scope: "read", fk_customer_org: "9999999999999999999" }),
    ).toEqual([{ path: "fk_customer_org", message: "must be at most 9223372036854775807" }]);
    const largest = await create({
      name: "largest-tenant",
      scope: "read",
      fk_customer_org: "9223372036854775807",
    });
    const listed = (await list()).data.find((k) => k.id === largest.id);
    expect(listed?.fk_customer_org).toBe("9223372036854775807");
    expect((await issues({ scope: "nope", token: "chosen" })).map((i) => i.path).sort()).toEqual([
      "name",
      "scope",
      "token",
    ]);
    expect(await issues([])).toHaveLength(1);
    // None of them was created.
    const names = (await list()).data.map((k) => k.name);
    for (const name of [
      "bad-scope",
      "extra",
      "bad-tenant",
      "neg-tenant",
      "no-scope",
      "huge-tenant",
    ]) {
      expect(names).not.toContain(name);
    }
  });

  it("answers 400 for malformed JSON and 415 for a body that is not JSON", async () => {
    const malformed = await problem(await call("POST", "/api/keys", '{"name": '), 400);
    expect(malformed.code).toBe("MALFORMED_JSON");
    const wrongType = await call("POST", "/api/keys", "name=x&scope=read", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect((await problem(wrongType, 415)).code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });
});
