/**
 * What a read key sees of URLs and push subscriptions: credentials (in a URL stored with SQL: the
 * API refuses them), query strings and token-like path segments `[REDACTED]`, push `keys.auth`
 * too; the stored values stay whole. Writing a read
 * observer back is refused with a 400 naming each redacted field, and never stored.
 */
import { createECDH, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-url-redaction";
const HOOK_TOKEN = "aZ3xK9mQ2pL7vR4tW8yN1bC6";
const QUERY_TOKEN = "q-secret-value-42";
const USER_PASSWORD = "hunter2-but-longer";
const PUSH_TOKEN = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH";
let db: TestDatabase;
let admin: ReturnType<typeof apiClient>;
let reader: ReturnType<typeof apiClient>;

const subscriber = createECDH("prime256v1");
subscriber.generateKeys();
const vapid = createECDH("prime256v1");
vapid.generateKeys();
const AUTH = randomBytes(16).toString("base64url");

const observer = {
  name: "urls",
  entity_type: "Order",
  actions: [
    {
      type: "webhook",
      url: `https://hooks.example.com/in/${HOOK_TOKEN}?token=${QUERY_TOKEN}`,
    },
    { type: "webhook", url: "https://example.com/hooks/order-created" },
    {
      type: "push",
      provider: "web_push",
      subscription: {
        endpoint: `https://fcm.googleapis.com/fcm/send/${PUSH_TOKEN}`,
        keys: { p256dh: subscriber.getPublicKey().toString("base64url"), auth: AUTH },
      },
      vapid_public_key: vapid.getPublicKey().toString("base64url"),
      vapid_private_key: vapid.getPrivateKey().toString("base64url"),
      vapid_subject: "mailto:ops@example.com",
      title_template: "Order shipped",
    },
  ],
};

beforeAll(async () => {
  db = await createTestDatabase("api_url_redaction");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
  });
  admin = apiClient(app, ADMIN);
  const readToken = (await insertApiKey(db.client, { name: "reader", scope: "read" })).token;
  reader = apiClient(app, readToken);
});
afterAll(() => db?.drop());

describe("observers as read keys see them", () => {
  it("hide URL credentials, queries, token segments and push keys.auth; the database keeps them", async () => {
    const created = await admin("POST", "/api/observers", observer);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // The API refuses credentials in URLs (400); one written with SQL, or stored before, still
    // has them hidden.
    const withUser = `https://ops:${USER_PASSWORD}@hooks.example.com/in/${HOOK_TOKEN}?token=${QUERY_TOKEN}`;
    await db.sql`UPDATE core.tb_observer SET actions = jsonb_set(actions, '{0,url}', to_jsonb(${withUser}::text))
      WHERE id = ${id}::uuid`;
    const read = await reader("GET", `/api/observers/${id}`);
    expect(read.status).toBe(200);
    const body = (await read.json()) as { actions: Record<string, unknown>[] };
    const text = JSON.stringify(body);
    for (const secret of [HOOK_TOKEN, QUERY_TOKEN, USER_PASSWORD, PUSH_TOKEN, AUTH]) {
      expect(text).not.toContain(secret);
    }
    expect(body.actions[0]?.url).toBe(
      "https://[REDACTED]@hooks.example.com/in/[REDACTED]?[REDACTED]",
    );
    expect(body.actions[1]?.url).toBe("https://example.com/hooks/order-created");
    expect(body.actions[2]?.subscription).toEqual({
      endpoint: "https://fcm.googleapis.com/fcm/send/[REDACTED]",
      keys: { p256dh: observer.actions[2]?.subscription?.keys.p256dh, auth: "[REDACTED]" },
    });
    const listed = await (await reader("GET", "/api/observers")).text();
    expect(listed).not.toContain(HOOK_TOKEN);
    expect(listed).not.toContain(AUTH);

    const [row] = await db.sql`SELECT actions::text AS actions FROM core.tb_observer`;
    for (const secret of [HOOK_TOKEN, QUERY_TOKEN, USER_PASSWORD, PUSH_TOKEN, AUTH]) {
      expect(String(row?.actions)).toContain(secret);
    }
  });

  it("refuse a redacted URL or keys.auth written back, naming each field, and store nothing", async () => {
    const created = (await (
      await admin("POST", "/api/observers", { ...observer, name: "write-back" })
    ).json()) as { id: string; actions: unknown[] };
    const stored = async () =>
      String(
        (
          await db.sql`SELECT actions::text AS actions FROM core.tb_observer WHERE id = ${created.id}`
        )[0]?.actions,
      );
    const before = await stored();
    const response = await admin("PATCH", `/api/observers/${created.id}`, {
      actions: created.actions,
    });
    const body = await problem(response, 400);
    expect(body.code).toBe("INVALID_CONFIG");
    const issues = body.issues as { path: string; message: string }[];
    const placeholders = issues.filter((issue) => issue.message.includes("placeholder"));
    expect(placeholders.map((issue) => issue.path).sort()).toEqual([
      "actions.0.url",
      "actions.2.subscription.endpoint",
      "actions.2.subscription.keys.auth",
      "actions.2.vapid_private_key",
    ]);
    expect(placeholders.find((i) => i.path === "actions.0.url")?.message).toContain(
      "send the full URL",
    );
    expect(await stored()).toBe(before);
  });
});
