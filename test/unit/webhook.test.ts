import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import type { ActionEnvironment } from "../../src/actions/types.ts";
import { webhookAction } from "../../src/actions/webhook.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { actionFailure, runAction, testEnvironment, testObserver } from "../support/actions.ts";
import { changeEvent, insert, update } from "../support/events.ts";
import { useReceiver } from "../support/receiver.ts";

const SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B = "whsec_QWxsIHdvcmsgYW5kIG5vIHBsYXkgbWFrZXMgSmFjaw==";
const DELIVERY = "0b9e4f3a-6c1d-4e2b-8f70-91a2b3c4d5e6";

const receiver = useReceiver(() => ({ status: 204 }));

/** An environment whose clock reads `ms`. */
function at(ms: number, env: Record<string, string> = {}): ActionEnvironment {
  return testEnvironment({ clock: { ...systemClock, now: () => ms }, env });
}

async function deliver(config: Record<string, unknown>, options = {}) {
  const event = insert({ id: 7, status: "new" });
  const result = await runAction(
    webhookAction,
    { type: "webhook", url: `${receiver.url}/hook`, ...config },
    event,
    options,
  );
  const request = receiver.requests.at(-1);
  if (!request) throw new Error("nothing was delivered");
  return { result, request, event };
}

function headersOf(request: { headers: Record<string, unknown> }): Record<string, string> {
  return request.headers as Record<string, string>;
}

describe("webhook delivery", () => {
  it("sends the DESIGN §6 body, exact bigints and Standard Webhooks ids", async () => {
    const event = changeEvent(
      "UPDATE",
      {},
      {
        object_data: '{"id": 7, "big": 9007199254740993, "status": "paid"}',
        object_data_before: '{"id": 7, "big": 9007199254740993, "status": "new"}',
        tenant_id: "acme",
      },
    );
    const result = await runAction(webhookAction, { type: "webhook", url: receiver.url }, event, {
      environment: at(1_700_000_123_456),
      attempt: 2,
    });
    expect(result).toMatchObject({ message: "HTTP 204", httpStatus: 204 });
    const [request] = receiver.requests;
    expect(request?.method).toBe("POST");
    expect(request?.text).toContain('"big":9007199254740993');
    expect(JSON.parse(request?.text ?? "")).toEqual({
      id: DELIVERY,
      event_id: event.id,
      observer: { id: testObserver.id, name: testObserver.name },
      entity_type: "Order",
      entity_id: "42",
      event_type: "UPDATE",
      op: "u",
      before: { id: 7, big: 9007199254740992, status: "new" },
      after: { id: 7, big: 9007199254740992, status: "paid" },
      changes: { status: { old: "new", new: "paid" } },
      tenant_id: event.tenant_id,
      timestamp: event.timestamp,
      attempt: 2,
    });
    expect(request?.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "fraiseql-observers",
      "webhook-id": DELIVERY,
      "webhook-timestamp": "1700000123",
    });
    expect(request?.headers["webhook-signature"]).toBeUndefined();
    expect(request?.headers["x-fraiseql-signature-256"]).toBeUndefined();
  });

  it("renders body_template as JSON that data cannot break out of", async () => {
    const event = update({ note: 'x"}, "admin": true, "y": {"\\', total: 150 }, { total: 1 });
    await runAction(
      webhookAction,
      {
        type: "webhook",
        url: receiver.url,
        body_template: '{"note": "{{ note }}", "amount": {{ total }}, "by": "{{ observer.name }}"}',
      },
      event,
    );
    const body = JSON.parse(receiver.requests[0]?.text ?? "");
    expect(body).toEqual({
      note: 'x"}, "admin": true, "y": {"\\',
      amount: 150,
      by: testObserver.name,
    });
  });

  it("renders a text body when the user declares a non-JSON Content-Type", async () => {
    const { request } = await deliver({
      headers: { "Content-Type": "text/plain; charset=utf-8", "X-Team": "ops" },
      body_template: "status={{ status }} id={{ id }}",
    });
    expect(request.text).toBe("status=new id=7");
    expect(request.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(request.headers["x-team"]).toBe("ops");
  });

  it("sends PUT and PATCH, normalising the method's case", async () => {
    expect((await deliver({ method: "put" })).request.method).toBe("PUT");
    expect((await deliver({ method: "PATCH" })).request.method).toBe("PATCH");
  });

  it("keeps webhook-id across attempts while the timestamp follows the clock", async () => {
    await deliver({ signing_secret: SECRET_A }, { attempt: 1, environment: at(1_000_000_000_000) });
    await deliver({ signing_secret: SECRET_A }, { attempt: 2, environment: at(1_000_000_060_999) });
    const [first, second] = receiver.requests;
    expect(first?.headers["webhook-id"]).toBe(DELIVERY);
    expect(second?.headers["webhook-id"]).toBe(DELIVERY);
    expect(first?.headers["webhook-timestamp"]).toBe("1000000000");
    expect(second?.headers["webhook-timestamp"]).toBe("1000000060");
    expect(JSON.parse(second?.text ?? "").attempt).toBe(2);
    expect(first?.headers["webhook-signature"]).not.toBe(second?.headers["webhook-signature"]);
  });
});

describe("webhook signatures", () => {
  it("verify with the standardwebhooks library", async () => {
    const { request } = await deliver({ signing_secret: SECRET_A });
    expect(request.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(SECRET_A).verify(request.text, headersOf(request))).toMatchObject({
      id: DELIVERY,
    });
    expect(() => new Webhook(SECRET_B).verify(request.text, headersOf(request))).toThrow();
  });

  it("sign with every secret while rotating", async () => {
    const { request } = await deliver({ signing_secret: [SECRET_A, SECRET_B] });
    expect(String(request.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    for (const secret of [SECRET_A, SECRET_B]) {
      expect(() => new Webhook(secret).verify(request.text, headersOf(request))).not.toThrow();
    }
  });

  it("use FraiseQL's scheme with a plain-text secret", async () => {
    const { request } = await deliver(
      { signing_secret: "not base64!", signature_scheme: "fraiseql" },
      { environment: at(1_700_000_000_500) },
    );
    const mac = createHmac("sha256", "not base64!").update(`1700000000.${request.text}`);
    expect(request.headers["x-fraiseql-signature-256"]).toBe(
      `t=1700000000,v1=${mac.digest("hex")}`,
    );
    expect(request.headers["webhook-signature"]).toBeUndefined();
    expect(request.headers["webhook-id"]).toBe(DELIVERY);
  });

  it("send both schemes, one entry per secret", async () => {
    const { request } = await deliver({
      signing_secret: [SECRET_A, SECRET_B],
      signature_scheme: "both",
    });
    const ts = String(request.headers["webhook-timestamp"]);
    const expected = [SECRET_A, SECRET_B].map(
      (s) => `v1=${createHmac("sha256", s).update(`${ts}.${request.text}`).digest("hex")}`,
    );
    expect(request.headers["x-fraiseql-signature-256"]).toBe(`t=${ts},${expected.join(",")}`);
    expect(() => new Webhook(SECRET_B).verify(request.text, headersOf(request))).not.toThrow();
  });

  it("read several secrets from signing_secret_env", async () => {
    const environment = at(Date.now(), {
      OBSERVERS_SECRET_HOOK_SECRETS: ` ${SECRET_A}  ${SECRET_B} `,
    });
    const { request } = await deliver(
      { signing_secret_env: "OBSERVERS_SECRET_HOOK_SECRETS" },
      { environment },
    );
    for (const secret of [SECRET_A, SECRET_B]) {
      expect(() => new Webhook(secret).verify(request.text, headersOf(request))).not.toThrow();
    }
  });

  it("never send unsigned: a missing or invalid env secret fails permanently", async () => {
    const missing = await actionFailure(
      deliver({ signing_secret_env: "OBSERVERS_SECRET_HOOK_SECRET" }),
    );
    expect(missing).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    expect(missing.message).toContain("OBSERVERS_SECRET_HOOK_SECRET");
    const blank = await actionFailure(
      deliver(
        { signing_secret_env: "OBSERVERS_SECRET_HOOK_SECRET" },
        { environment: at(0, { OBSERVERS_SECRET_HOOK_SECRET: " " }) },
      ),
    );
    expect(blank).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    const invalid = await actionFailure(
      deliver(
        { signing_secret_env: "OBSERVERS_SECRET_HOOK_SECRET" },
        { environment: at(0, { OBSERVERS_SECRET_HOOK_SECRET: "not base64!" }) },
      ),
    );
    expect(invalid).toMatchObject({ kind: "permanent", code: "INVALID_SECRET" });
    expect(invalid.message).not.toContain("not base64!");
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("webhook outcomes", () => {
  it("fails permanently on 4xx and transiently on 503, honouring Retry-After", async () => {
    receiver.reply(() => ({ status: 422, body: "unprocessable" }));
    const rejected = await actionFailure(deliver({}));
    expect(rejected).toMatchObject({ kind: "permanent", httpStatus: 422 });
    receiver.reply(() => ({ status: 503, headers: { "retry-after": "7" } }));
    const unavailable = await actionFailure(deliver({}));
    expect(unavailable).toMatchObject({ kind: "transient", httpStatus: 503, retryAfterMs: 7000 });
  });

  it("fails permanently when url_env is unset, and resolves it when set", async () => {
    const config = { type: "webhook", url_env: "OBSERVERS_SECRET_HOOK_URL" };
    const unset = await actionFailure(runAction(webhookAction, config, insert({ id: 1 })));
    expect(unset).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    const environment = at(Date.now(), { OBSERVERS_SECRET_HOOK_URL: `${receiver.url}/from-env` });
    await runAction(webhookAction, config, insert({ id: 1 }), { environment });
    expect(receiver.requests[0]?.path).toBe("/from-env");
  });

  it("names its destination by origin", () => {
    const parse = (c: object) => v.parse(webhookAction.schema, { type: "webhook", ...c });
    const env = at(0, { OBSERVERS_SECRET_HOOK_URL: "https://hooks.example.com:8443/a?b" });
    expect(webhookAction.destination(parse({ url: "https://x.example/a/b" }), env)).toBe(
      "webhook:https://x.example",
    );
    expect(webhookAction.destination(parse({ url_env: "OBSERVERS_SECRET_HOOK_URL" }), env)).toBe(
      "webhook:https://hooks.example.com:8443",
    );
    expect(webhookAction.destination(parse({ url_env: "OBSERVERS_SECRET_OTHER" }), env)).toBe(
      "webhook:OBSERVERS_SECRET_OTHER",
    );
  });
});

describe("webhook config", () => {
  const base = { type: "webhook", url: "https://example.com/hook" };
  const messages = (config: object) => {
    const result = v.safeParse(webhookAction.schema, { ...base, ...config });
    return result.success ? [] : result.issues.map((issue) => issue.message);
  };

  it("fills defaults and accepts FraiseQL's nulls", () => {
    expect(v.parse(webhookAction.schema, { ...base, headers: null, body_template: null })).toEqual({
      ...base,
      method: "POST",
      headers: {},
      body_template: null,
      signature_scheme: "standard",
    });
  });

  it("rejects what cannot be sent safely", () => {
    expect(messages({ headers: { "x-a": "1\r\nx-b: 2" } })).toEqual([
      "header x-a contains CR, LF or NUL",
    ]);
    expect(messages({ headers: { "Webhook-Id": "forged" } })[0]).toMatch(/cannot be overridden/);
    expect(messages({ headers: { "X-FraiseQL-Signature-256": "t=1" } })).toHaveLength(1);
    expect(messages({ headers: { "x-a": "1", "X-A": "2" } })[0]).toMatch(/twice/);
    expect(messages({ method: "GET" })).toEqual(["must be POST, PUT or PATCH"]);
    expect(messages({ url_env: "OBSERVERS_SECRET_HOOK_URL" })).toEqual([
      "give exactly one of url and url_env",
    ]);
    expect(messages({ signing_secret: SECRET_A, signing_secret_env: "S" })).toHaveLength(1);
    expect(messages({ signing_secret: [] })).toHaveLength(1);
    expect(messages({ body_template: "" })).toHaveLength(1);
    expect(messages({ surprise: true })).toHaveLength(1);
    expect(messages({ signature_scheme: "v2" })).toHaveLength(1);
  });

  it("checks literal secrets against the scheme, without echoing them", () => {
    const [message] = messages({ signing_secret: [SECRET_A, "not base64!"] });
    expect(message).toMatch(/base64/);
    expect(message).not.toContain("not base64!");
    expect(messages({ signing_secret: "not base64!", signature_scheme: "fraiseql" })).toEqual([]);
    expect(messages({ signing_secret: "whsec_", signature_scheme: "both" })).toHaveLength(1);
  });

  it("validates body_template as JSON unless the Content-Type says otherwise", () => {
    expect(messages({ body_template: "status={{ status }}" }).length).toBeGreaterThan(0);
    expect(
      messages({ body_template: "status={{ status }}", headers: { "content-type": "text/csv" } }),
    ).toEqual([]);
    expect(
      messages({
        body_template: '{"s": "{{ status }}"}',
        headers: { "content-type": "application/cloudevents+json" },
      }),
    ).toEqual([]);
  });
});
