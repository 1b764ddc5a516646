/**
 * No secret leaves the server: the Bun server as a process against real PostgreSQL, with actions
 * whose secrets come from its environment and from their config, and a receiver that echoes every
 * credential back (the Authorization header in a 500 body, an API key quoted in a provider's error
 * message, the whole URL). After real deliveries and a `POST /{id}/test` with `send: true`, not one
 * secret (nor its base64 inside a Basic header) appears in a log row, a dead-letter row, an API
 * response, a WebSocket message or a line the server printed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { connectLive, type LiveClient } from "../support/live-client.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const HOOK_PATH_TOKEN = "pT7qW2eR9tY4uI6oP1aS3dF8gH5jK0lZ";
const HOOK_QUERY_TOKEN = "qK4mN8bV2cX6zL1aS9dF3gH7jK5lP0oI";
const SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LITERAL_BEARER = "lit_Q8wE4rT6yU2iO0pA9sD7fG5hJ3kL1zX";
const EMAIL_KEY = "re_7dK2mP9xQ4vB8nL3cT6wY1zR5hJ0aS";
const TWILIO_TOKEN = "b7e1c9d24f0a63e85b9c17d2a4f06e3c";
const TWILIO_SID = `AC${"a1".repeat(16)}`;
const BASIC = Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString("base64");
const SECRETS = [
  HOOK_PATH_TOKEN,
  HOOK_QUERY_TOKEN,
  SIGNING_SECRET,
  LITERAL_BEARER,
  EMAIL_KEY,
  TWILIO_TOKEN,
];

/** A receiver as careless as they come: it echoes what it got, credentials included. */
const receiver = useReceiver((request) => {
  const auth = String(request.headers.authorization ?? "");
  if (request.path.startsWith("/emails")) {
    // Resend's error shape: the action quotes `message` in its error text.
    return {
      status: 401,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "invalid_api_key", message: `API key ${auth} is invalid` }),
    };
  }
  return {
    status: 500,
    headers: { "content-type": "text/plain" },
    body: `echo ${request.path} authorization=${auth} headers=${JSON.stringify(request.headers)}`,
  };
});

let db: TestDatabase;
let server: ServerProcess;
let live: LiveClient;

beforeAll(async () => {
  db = await createTestDatabase("e2e_secret_exposure");
  await createOrdersTable(db.sql);
  server = await startServer({
    DATABASE_URL: db.url,
    OBSERVERS_POLL_INTERVAL_MS: "100",
    LOG_LEVEL: "debug",
    OBSERVERS_ALLOWED_BASE_URLS: new URL(receiver.url).origin,
    OBSERVERS_SECRET_HOOK_URL: `${receiver.url}/hook/${HOOK_PATH_TOKEN}?key=${HOOK_QUERY_TOKEN}`,
    OBSERVERS_SECRET_HOOK_SIGNING: SIGNING_SECRET,
    OBSERVERS_SECRET_EMAIL_KEY: EMAIL_KEY,
    OBSERVERS_SECRET_TWILIO_TOKEN: TWILIO_TOKEN,
  });
});
afterAll(async () => {
  live?.socket.close();
  await server?.stop();
  await db?.drop();
});

const once = { max_attempts: 1 };
/** The observers (a function: the receiver's URL is known only once it listens). */
const observers = () => [
  {
    name: "webhook-secrets",
    entity_type: "Order",
    retry_config: once,
    actions: [
      {
        type: "webhook",
        url_env: "OBSERVERS_SECRET_HOOK_URL",
        signing_secret_env: "OBSERVERS_SECRET_HOOK_SIGNING",
        headers: { authorization: `Bearer ${LITERAL_BEARER}` },
      },
    ],
  },
  {
    name: "email-secrets",
    entity_type: "Order",
    retry_config: once,
    actions: [
      {
        type: "email",
        provider: "resend",
        base_url: receiver.url,
        api_key_env: "OBSERVERS_SECRET_EMAIL_KEY",
        to: "ops@example.com",
        from: "noreply@example.com",
        subject: "order",
        body_template: "order {{ after.id }}",
      },
    ],
  },
  {
    name: "sms-secrets",
    entity_type: "Order",
    retry_config: once,
    actions: [
      {
        type: "sms",
        to: "+14155550100",
        from: "+14155550199",
        message_template: "order {{ after.id }}",
        account_sid: TWILIO_SID,
        auth_token_env: "OBSERVERS_SECRET_TWILIO_TOKEN",
        base_url: receiver.url,
      },
    ],
  },
];

function expectNoSecret(where: string, text: string): void {
  for (const secret of SECRETS) {
    expect(text, `${where} holds a secret`).not.toContain(secret);
    expect(text, `${where} holds the start of a secret`).not.toContain(secret.slice(0, 12));
  }
  expect(text, `${where} holds Basic credentials`).not.toContain(BASIC.slice(4, 40));
}

describe("a server whose receivers echo every credential", () => {
  it("keeps every secret out of logs, dead letters, responses, live messages and its output", async () => {
    const ids: string[] = [];
    for (const observer of observers()) {
      const response = await server.api("/api/observers", {
        method: "POST",
        body: JSON.stringify(observer),
      });
      expect(response.status).toBe(201);
      const text = await response.text();
      expectNoSecret("the created observer", text);
      ids.push((JSON.parse(text) as { id: string }).id);
    }
    live = connectLive(server.url, { token: server.token, params: { payload: "full" } });
    await live.ready();

    await db.sql`INSERT INTO public.orders (status, total) VALUES ('placed', 120)`;
    const dead = await eventually(async () => {
      const rows = await db.sql`SELECT row_to_json(q)::text AS row FROM core.tb_observer_dlq q`;
      return rows.length === 3 ? rows.map((r) => String(r.row)) : undefined;
    }, "three dead letters");
    await live.waitFor(3, (m) => m.type === "execution");

    // The receiver did get every secret and echoed it: only the server's scrubbing keeps it in.
    const received = JSON.stringify(receiver.requests.map((r) => [r.path, r.headers]));
    for (const secret of [HOOK_PATH_TOKEN, HOOK_QUERY_TOKEN, LITERAL_BEARER, EMAIL_KEY, BASIC]) {
      expect(received).toContain(secret);
    }

    const logs = await db.sql`SELECT row_to_json(l)::text AS row FROM core.tb_observer_log l`;
    expect(logs.length).toBeGreaterThanOrEqual(3);
    const logText = logs.map((r) => String(r.row)).join("\n");
    expectNoSecret("tb_observer_log", logText);
    expect(logText).toContain("[REDACTED]");
    expectNoSecret("tb_observer_dlq", dead.join("\n"));
    // The email action's error quotes the provider's message, which quoted the key.
    expect(dead.join("\n")).toContain("API key Bearer [REDACTED] is invalid");

    for (const path of [
      "/api/observers/logs?page_size=100",
      "/api/observers/dlq?page_size=100",
      ...ids.map((id) => `/api/observers/${id}/logs`),
      ...ids.map((id) => `/api/observers/${id}`),
    ]) {
      const response = await server.api(path);
      expect(response.status, path).toBe(200);
      expectNoSecret(path, await response.text());
    }

    const [event] = await db.sql`SELECT id::text AS id FROM core.tb_entity_change_log LIMIT 1`;
    for (const id of ids) {
      const response = await server.api(`/api/observers/${id}/test`, {
        method: "POST",
        body: JSON.stringify({ event_id: event?.id, send: true }),
      });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(JSON.parse(text).sent).toHaveLength(1);
      expectNoSecret(`POST /api/observers/${id}/test`, text);
    }

    expectNoSecret("the live messages", JSON.stringify(live.messages));
    expectNoSecret("the server's output", server.output());
  });
});
