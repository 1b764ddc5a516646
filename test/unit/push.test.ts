import {
  createECDH,
  createPublicKey,
  createVerify,
  generateKeyPairSync,
  randomBytes,
  verify,
} from "node:crypto";
import { createRequire } from "node:module";
import * as v from "valibot";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { pushAction } from "../../src/actions/push.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { type Receiver, type ReceiverHandler, startReceiver } from "../support/receiver.ts";

const ece = createRequire(import.meta.url)("http_ece") as {
  decrypt(
    body: Buffer,
    params: { version: string; privateKey: unknown; authSecret: Buffer },
  ): Buffer;
};

const receivers: Receiver[] = [];
async function receiver(handler: ReceiverHandler): Promise<Receiver> {
  const started = await startReceiver(handler);
  receivers.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function jwtParts(jwt: string) {
  const [header = "", payload = "", signature = ""] = jwt.split(".");
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>,
    signed: `${header}.${payload}`,
    signature: Buffer.from(signature, "base64url"),
  };
}

const event = insert({ id: 42, status: "shipped" });

describe("push: FCM HTTP v1", () => {
  let privatePem = "";
  let publicPem = "";
  beforeAll(() => {
    const pair = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    privatePem = pair.privateKey;
    publicPem = pair.publicKey;
  });

  /** One server playing Google's token endpoint (/token) and FCM; `send` answers FCM. */
  async function fcm(send: (call: number) => { status: number; body?: unknown }) {
    let tokens = 0;
    let sends = 0;
    const server = await receiver((request) => {
      if (request.path === "/token") {
        tokens++;
        const body = { access_token: `tok-${tokens}`, expires_in: 3600, token_type: "Bearer" };
        return { status: 200, body: JSON.stringify(body) };
      }
      const reply = send(++sends);
      return { status: reply.status, body: JSON.stringify(reply.body ?? {}) };
    });
    const account = JSON.stringify({
      type: "service_account",
      project_id: "demo-project",
      client_email: "observer@demo-project.iam.gserviceaccount.com",
      private_key: privatePem,
      token_uri: `${server.url}/token`,
    });
    const config = {
      type: "push",
      provider: "fcm",
      service_account: account,
      device_token: "device-abc",
      title_template: "Order shipped",
      body_template: "Your order is on its way",
      data: { order: "42" },
      base_url: server.url,
    };
    const byPath = (path: string) => server.requests.filter((r) => r.path === path);
    return { server, config, tokenCalls: () => byPath("/token"), sendCalls: () => byPath(SEND) };
  }
  const SEND = "/v1/projects/demo-project/messages:send";

  it("authenticates with a signed JWT, sends the message, and reuses the token", async () => {
    const { config, tokenCalls, sendCalls, server } = await fcm(() => ({
      status: 200,
      body: { name: "projects/demo-project/messages/1" },
    }));
    const first = await runAction(pushAction, config, event);
    await runAction(pushAction, config, event);
    expect(first.httpStatus).toBe(200);
    expect(tokenCalls()).toHaveLength(1);
    expect(sendCalls()).toHaveLength(2);

    const form = new URLSearchParams(tokenCalls()[0]?.text);
    expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:jwt-bearer");
    const jwt = jwtParts(form.get("assertion") ?? "");
    expect(jwt.header).toEqual({ alg: "RS256", typ: "JWT" });
    expect(createVerify("RSA-SHA256").update(jwt.signed).verify(publicPem, jwt.signature)).toBe(
      true,
    );
    expect(jwt.claims).toMatchObject({
      iss: "observer@demo-project.iam.gserviceaccount.com",
      aud: `${server.url}/token`,
      scope: "https://www.googleapis.com/auth/firebase.messaging",
    });
    expect(Number(jwt.claims.exp) - Number(jwt.claims.iat)).toBe(3600);

    for (const call of sendCalls()) {
      expect(call.headers.authorization).toBe("Bearer tok-1");
      expect(JSON.parse(call.text)).toEqual({
        message: {
          token: "device-abc",
          notification: { title: "Order shipped", body: "Your order is on its way" },
          data: { order: "42" },
        },
      });
    }
  });

  it("drops the cached token after a 401 and re-authenticates on the next attempt", async () => {
    const { config, tokenCalls, sendCalls } = await fcm((call) =>
      call === 2
        ? { status: 401, body: { error: { status: "UNAUTHENTICATED" } } }
        : { status: 200 },
    );
    await runAction(pushAction, config, event);
    const error = await actionFailure(runAction(pushAction, config, event));
    expect(error.kind).toBe("transient");
    expect(error.httpStatus).toBe(401);
    await runAction(pushAction, config, event);
    expect(tokenCalls()).toHaveLength(2);
    expect(sendCalls().map((c) => c.headers.authorization)).toEqual([
      "Bearer tok-1",
      "Bearer tok-1",
      "Bearer tok-2",
    ]);
  });

  it("fails permanently for an unregistered token and transiently for a 503", async () => {
    const unregistered = {
      error: {
        code: 404,
        status: "NOT_FOUND",
        details: [
          {
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            errorCode: "UNREGISTERED",
          },
        ],
      },
    };
    const { config } = await fcm((call) =>
      call === 1 ? { status: 404, body: unregistered } : { status: 503 },
    );
    const gone = await actionFailure(runAction(pushAction, config, event));
    expect(gone).toMatchObject({ kind: "permanent", code: "SUBSCRIPTION_GONE", httpStatus: 404 });
    const busy = await actionFailure(runAction(pushAction, config, event));
    expect(busy).toMatchObject({ kind: "transient", httpStatus: 503 });
  });

  it("reads the service account from the environment and sends to a topic", async () => {
    const { config, sendCalls } = await fcm(() => ({ status: 200 }));
    const { service_account, device_token, ...rest } = config;
    const environment = testEnvironment({ env: { OBSERVERS_SECRET_FCM_SA: service_account } });
    const topicConfig = {
      ...rest,
      service_account_env: "OBSERVERS_SECRET_FCM_SA",
      topic: "orders",
    };
    await runAction(pushAction, topicConfig, event, { environment });
    expect(JSON.parse(sendCalls()[0]?.text ?? "")).toMatchObject({ message: { topic: "orders" } });
    void device_token;
  });

  it("renders the device token, title, body and data from the event", async () => {
    const { config, sendCalls } = await fcm(() => ({ status: 200 }));
    const { device_token, ...rest } = config;
    const templated = {
      ...rest,
      device_token_template: "{{ after.device }}",
      title_template: "Order {{ after.id }} {{ after.status }}",
      body_template: "Observer {{ observer.name }}",
      data: { order: "{{ after.id }}", kind: "order" },
    };
    const row = insert({ id: 7, status: "shipped", device: "device-xyz" });
    await runAction(pushAction, templated, row);
    expect(JSON.parse(sendCalls()[0]?.text ?? "")).toEqual({
      message: {
        token: "device-xyz",
        notification: { title: "Order 7 shipped", body: "Observer order-shipped" },
        data: { order: "7", kind: "order" },
      },
    });
    const empty = await actionFailure(runAction(pushAction, templated, insert({ id: 8 })));
    expect(empty).toMatchObject({ kind: "permanent", code: "MISSING_DEVICE_TOKEN" });
    void device_token;
  });

  it("treats invalid_grant as permanent and other token failures as transient", async () => {
    let tokenReply: { status: number; body: Record<string, string> } = {
      status: 400,
      body: { error: "invalid_grant", error_description: "bad key" },
    };
    const server = await receiver(() => ({
      status: tokenReply.status,
      body: JSON.stringify(tokenReply.body),
    }));
    const config = {
      type: "push",
      provider: "fcm",
      project_id: "demo-project",
      service_account: JSON.stringify({
        client_email: "x@example.iam.gserviceaccount.com",
        private_key: privatePem,
        token_uri: `${server.url}/token`,
      }),
      device_token: "device-abc",
      body_template: "hi",
      base_url: server.url,
    };
    const denied = await actionFailure(runAction(pushAction, config, event));
    expect(denied).toMatchObject({ kind: "permanent", code: "AUTH_FAILED" });
    tokenReply = { status: 500, body: { error: "backend" } };
    const down = await actionFailure(runAction(pushAction, config, event));
    expect(down).toMatchObject({ kind: "transient", code: "TOKEN_REQUEST_FAILED" });
  });

  it("validates the config", () => {
    const base = { type: "push", provider: "fcm", service_account_env: "SA", body_template: "x" };
    const issues = (config: unknown) =>
      v.safeParse(pushAction.schema, config).issues?.map((i) => v.getDotPath(i)) ?? [];
    expect(issues({ ...base, device_token: "a" })).toEqual([]);
    expect(issues({ ...base, device_token: "a", topic: "t" })).toEqual(["device_token"]);
    expect(issues({ ...base, device_token: "a", service_account: "{}" })).toContain(
      "service_account",
    );
    expect(issues({ ...base, provider: "apns", device_token: "a" })).toEqual(["provider"]);
    expect(issues({ ...base, device_token: "a", data: { "google.x": "y" } })).toEqual(["data"]);
  });
});

describe("push: Web Push", () => {
  const vapid = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const vapidJwk = vapid.privateKey.export({ format: "jwk" });
  const vapidPublic = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(vapidJwk.x ?? "", "base64url"),
    Buffer.from(vapidJwk.y ?? "", "base64url"),
  ]).toString("base64url");
  const subscriber = createECDH("prime256v1");
  subscriber.generateKeys();
  const authSecret = randomBytes(16);

  /** Push services are https-only; the test server is not, so the fetch downgrades the scheme. */
  const environment = testEnvironment({
    fetch: (input, init) => fetch(String(input).replace(/^https:/, "http:"), init),
  });

  async function pushService(status = 201) {
    const server = await receiver(() => ({ status }));
    const endpoint = `${server.url.replace("http:", "https:")}/push/sub-1`;
    const subscription = {
      endpoint,
      expirationTime: null,
      keys: {
        p256dh: subscriber.getPublicKey().toString("base64url"),
        auth: authSecret.toString("base64url"),
      },
    };
    const config = {
      type: "push",
      provider: "web_push",
      subscription,
      vapid_public_key: vapidPublic,
      vapid_private_key: vapidJwk.d,
      vapid_subject: "mailto:ops@example.com",
      title_template: "Order shipped",
      body_template: "On its way",
    };
    return { server, config, subscription };
  }

  function decrypt(body: Buffer): unknown {
    const plain = ece.decrypt(body, { version: "aes128gcm", privateKey: subscriber, authSecret });
    return JSON.parse(plain.toString("utf8"));
  }

  it("encrypts the payload for the subscriber and signs VAPID", async () => {
    const { server, config } = await pushService();
    const before = Math.floor(Date.now() / 1000);
    const result = await runAction(pushAction, { ...config, urgency: "high" }, event, {
      environment,
    });
    expect(result.httpStatus).toBe(201);
    const [request] = server.requests;
    expect(request?.path).toBe("/push/sub-1");
    expect(request?.headers["content-encoding"]).toBe("aes128gcm");
    expect(request?.headers.ttl).toBe("86400");
    expect(request?.headers.urgency).toBe("high");
    const body = request?.body ?? Buffer.alloc(0);
    expect(body.readUInt32BE(16)).toBe(4096);
    expect(body[20]).toBe(65);
    expect(decrypt(body)).toEqual({ title: "Order shipped", body: "On its way" });

    const match = /^vapid t=([^,]+), k=(.+)$/.exec(request?.headers.authorization ?? "");
    expect(match?.[2]).toBe(vapidPublic);
    const jwt = jwtParts(match?.[1] ?? "");
    expect(jwt.header).toEqual({ alg: "ES256", typ: "JWT" });
    const key = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: String(vapidJwk.x), y: String(vapidJwk.y) },
      format: "jwk",
    });
    const signed = Buffer.from(jwt.signed);
    expect(verify("sha256", signed, { key, dsaEncoding: "ieee-p1363" }, jwt.signature)).toBe(true);
    expect(jwt.claims.aud).toBe(server.url.replace("http:", "https:"));
    expect(jwt.claims.sub).toBe("mailto:ops@example.com");
    const exp = Number(jwt.claims.exp);
    expect(exp).toBeGreaterThan(before);
    expect(exp).toBeLessThanOrEqual(before + 24 * 3600 + 5);
  });

  it("reads the subscription from the event row and sends a JSON payload", async () => {
    const { server, config, subscription } = await pushService();
    const { subscription: _, title_template, body_template, ...rest } = config;
    const withPath = {
      ...rest,
      subscription_path: "after.push_subscription",
      payload_template: '{"kind": "order", "id": {{ after.id }}, "note": "{{ after.note }}"}',
      ttl: 60,
    };
    const row = insert({
      id: 7,
      note: 'say "hi"',
      push_subscription: JSON.stringify(subscription),
    });
    await runAction(pushAction, withPath, row, { environment });
    expect(server.requests[0]?.headers.ttl).toBe("60");
    expect(decrypt(server.requests[0]?.body ?? Buffer.alloc(0))).toEqual({
      kind: "order",
      id: 7,
      note: 'say "hi"',
    });

    const missing = await actionFailure(runAction(pushAction, withPath, event, { environment }));
    expect(missing).toMatchObject({ kind: "permanent", code: "INVALID_SUBSCRIPTION" });
    void [title_template, body_template];
  });

  it("reports an expired subscription (410) as permanent SUBSCRIPTION_GONE", async () => {
    const { config } = await pushService(410);
    const error = await actionFailure(runAction(pushAction, config, event, { environment }));
    expect(error).toMatchObject({ kind: "permanent", code: "SUBSCRIPTION_GONE", httpStatus: 410 });
  });

  it("refuses payloads too large for one record, and a missing key variable", async () => {
    const { config } = await pushService();
    const big = { ...config, body_template: "x".repeat(4000) };
    const large = await actionFailure(runAction(pushAction, big, event, { environment }));
    expect(large).toMatchObject({ kind: "permanent", code: "PAYLOAD_TOO_LARGE" });
    const { vapid_private_key, ...viaEnv } = config;
    const envConfig = { ...viaEnv, vapid_private_key_env: "OBSERVERS_SECRET_VAPID_PRIVATE" };
    const missing = await actionFailure(runAction(pushAction, envConfig, event, { environment }));
    expect(missing).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    const env = testEnvironment({
      ...environment,
      env: { OBSERVERS_SECRET_VAPID_PRIVATE: vapid_private_key },
    });
    await runAction(pushAction, envConfig, event, { environment: env });
  });

  it("validates the config", async () => {
    const { config } = await pushService();
    const issues = (c: unknown) =>
      v.safeParse(pushAction.schema, c).issues?.map((i) => v.getDotPath(i)) ?? [];
    expect(issues(config)).toEqual([]);
    const http = { ...config.subscription, endpoint: "http://push.example.com/x" };
    expect(issues({ ...config, subscription: http })).toEqual(["subscription.endpoint"]);
    expect(issues({ ...config, subscription_path: "after.sub" })).toEqual(["subscription"]);
    expect(issues({ ...config, payload_template: "{}" })).toEqual(["payload_template"]);
    expect(issues({ ...config, vapid_subject: "ops@example.com" })).toEqual(["vapid_subject"]);
    expect(issues({ ...config, vapid_private_key: "c2hvcnQ" })).toEqual(["vapid_private_key"]);
    expect(pushAction.destination(v.parse(pushAction.schema, config), environment)).toMatch(
      /^push:https:\/\/127\.0\.0\.1:\d+$/,
    );
  });
});
