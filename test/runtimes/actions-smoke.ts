// Runs real actions through the executor on every runtime (Node, Bun, Deno, workerd), against an
// in-process fake of each remote service: HMAC signing, Web Push encryption (ECDH, HKDF, AES-GCM),
// RS256 and ES256 JWTs, templates, the SSRF guard, Retry-After and timers, all on Web APIs only.
// The results are compared by test/unit/runtimes.test.ts.
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import {
  createExecutor,
  createUpstashCacheStore,
  defaultActionRegistry,
  type ExecutionOutcome,
  normalizeChangeEvent,
  silentLogger,
  systemClock,
} from "../../src/index.ts";

const b64url = (bytes: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

async function keys() {
  const vapid = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]);
  const subscriber = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]);
  const rsa = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign"],
  );
  const pkcs8 = btoa(
    String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey("pkcs8", rsa.privateKey))),
  );
  return {
    vapidPublic: b64url(await crypto.subtle.exportKey("raw", vapid.publicKey)),
    vapidPrivate: (await crypto.subtle.exportKey("jwk", vapid.privateKey)).d as string,
    p256dh: b64url(await crypto.subtle.exportKey("raw", subscriber.publicKey)),
    auth: b64url(crypto.getRandomValues(new Uint8Array(16))),
    pem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join("\n")}\n-----END PRIVATE KEY-----\n`,
  };
}

/** The remote services, faked: answers by host, and remembers each request's headers and body. */
function fakeServices() {
  const seen = new Map<string, { headers: Headers; body: string }>();
  const fetchFake = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    seen.set(`${url.host}${url.pathname}`, {
      headers: request.headers,
      body: await request.text(),
    });
    if (url.pathname === "/busy")
      return new Response("later", { status: 503, headers: { "retry-after": "7" } });
    if (url.host === "oauth2.example.com")
      return Response.json({ access_token: "smoke-token", expires_in: 3600 });
    if (url.host === "upstash.example.com") return Response.json({ result: 1 });
    if (url.host === "fcm.example.com") return Response.json({ name: "projects/p/messages/1" });
    return new Response(null, { status: url.host === "push.example.com" ? 201 : 204 });
  };
  return { seen, fetch: fetchFake as typeof fetch };
}

const summary = (o: ExecutionOutcome) => ({
  status: o.status,
  disposition: o.disposition,
  code: o.errorCode,
  http: o.httpStatus,
});

/** What running one delivery of each kind yields, as plain JSON. */
export async function actionsSmoke(): Promise<Record<string, unknown>> {
  const k = await keys();
  const services = fakeServices();
  const environment = {
    fetch: services.fetch,
    env: { OBSERVERS_SECRET_HOOK: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
    policy: DEFAULT_ACTION_POLICY,
    clock: systemClock,
    logger: silentLogger,
    allowPrivateTargets: false,
    cache: createUpstashCacheStore({
      url: "https://upstash.example.com",
      token: "t",
      fetch: services.fetch,
    }),
  };
  const executor = createExecutor({ registry: defaultActionRegistry, environment });
  const event = normalizeChangeEvent({
    id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
    object_type: "Order",
    modification_type: "UPDATE",
    object_id: "42",
    object_data: { id: 42, status: "shipped", note: 'say "hi"}' },
    object_data_before: { id: 42, status: "paid", note: 'say "hi"}' },
    created_at: "2026-11-27T10:00:00Z",
  });
  const observer = { id: "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", name: "smoke", tenant: null };
  const account = JSON.stringify({
    client_email: "smoke@p.iam.gserviceaccount.com",
    private_key: k.pem,
    token_uri: "https://oauth2.example.com/token",
    project_id: "p",
  });
  const actions: Record<string, Record<string, unknown>> = {
    webhook: {
      type: "webhook",
      url: "https://hooks.example.com/orders",
      signing_secret_env: "OBSERVERS_SECRET_HOOK",
      body_template: '{"order": {{ after.id }}, "note": "{{ after.note }}"}',
    },
    retry: { type: "webhook", url: "https://hooks.example.com/busy" },
    forbidden: { type: "webhook", url: "http://169.254.169.254/latest/meta-data" },
    webPush: {
      type: "push",
      provider: "web_push",
      subscription: {
        endpoint: "https://push.example.com/sub/1",
        keys: { p256dh: k.p256dh, auth: k.auth },
      },
      vapid_public_key: k.vapidPublic,
      vapid_private_key: k.vapidPrivate,
      vapid_subject: "mailto:ops@example.com",
      title_template: "Order {{ after.id }}",
    },
    fcm: {
      type: "push",
      provider: "fcm",
      service_account: account,
      base_url: "https://fcm.example.com",
      device_token: "device-1",
      title_template: "Order {{ after.id }} {{ after.status }}",
    },
    cache: { type: "cache", key_pattern: "order:{{ after.id }}" },
  };
  const names = Object.keys(actions);
  const outcomes = await executor.executeAll(
    names.map((name, i) => ({
      id: `00000000-0000-4000-8000-00000000000${i}`,
      event,
      observer,
      action: actions[name],
      attempt: 1,
    })),
  );
  const result: Record<string, unknown> = {};
  names.forEach((name, i) => {
    result[name] = summary(outcomes[i] as ExecutionOutcome);
  });
  const hook = services.seen.get("hooks.example.com/orders");
  const busy = outcomes[1] as ExecutionOutcome;
  const push = services.seen.get("push.example.com/sub/1");
  const fcm = services.seen.get("fcm.example.com/v1/projects/p/messages:send");
  result.facts = {
    hookBody: hook ? JSON.parse(hook.body) : null,
    hookSigned: /^v1,[A-Za-z0-9+/]+=*$/.test(hook?.headers.get("webhook-signature") ?? ""),
    retryAfterHonoured: (busy.nextAttemptAt ?? 0) - busy.startedAt >= 7000,
    pushEncrypted: push?.headers.get("content-encoding") === "aes128gcm" && push.body.length > 86,
    pushVapid: (push?.headers.get("authorization") ?? "").startsWith("vapid t="),
    fcmAuthorised: fcm?.headers.get("authorization") === "Bearer smoke-token",
    fcmTitle: fcm ? JSON.parse(fcm.body).message.notification.title : null,
  };
  return result;
}
