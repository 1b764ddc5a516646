import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { emailAction } from "../../src/actions/email.ts";
import type { EmailMessage, EmailTransport } from "../../src/ports/email.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { useReceiver } from "../support/receiver.ts";

const DELIVERY_ID = "0b9e4f3a-6c1d-4e2b-8f70-91a2b3c4d5e6";
const order = insert({
  id: 7,
  status: "shipped",
  total: 120,
  buyer: "Buyer <buyer@example.com>",
  note: "<b>fragile</b> & heavy",
});

const receiver = useReceiver(() => ({ status: 200, body: '{"id":"msg_1"}' }));

function config(provider: string, extra: Record<string, unknown> = {}) {
  return {
    type: "email",
    provider,
    api_key: "key_123",
    base_url: receiver.url,
    from: "Shop <shop@example.com>",
    to: ["ops@example.com"],
    subject: "Order shipped",
    body_template: "Order {{ id }} is {{ status }}",
    ...extra,
  };
}

async function sentJson(provider: string, extra: Record<string, unknown> = {}) {
  await runAction(emailAction, config(provider, extra), order);
  const [request] = receiver.requests;
  if (!request) throw new Error("no request arrived");
  return { request, json: JSON.parse(request.text) as Record<string, unknown> };
}

describe("email over HTTP providers", () => {
  it("sends Resend's shape with Bearer auth and the delivery id as idempotency key", async () => {
    const { request, json } = await sentJson("resend", {
      cc: "a@example.com, b@example.com",
      bcc: ["audit@example.com"],
      reply_to: "support@example.com",
      html_template: "<p>{{ note }}</p>",
    });
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/emails");
    expect(request.headers.authorization).toBe("Bearer key_123");
    expect(request.headers["idempotency-key"]).toBe(DELIVERY_ID);
    expect(request.headers["content-type"]).toBe("application/json");
    expect(json).toEqual({
      from: "Shop <shop@example.com>",
      to: ["ops@example.com"],
      cc: ["a@example.com", "b@example.com"],
      bcc: ["audit@example.com"],
      reply_to: "support@example.com",
      subject: "Order shipped",
      text: "Order 7 is shipped",
      // Row values are escaped in HTML bodies; the template's own markup is kept.
      html: "<p>&lt;b&gt;fragile&lt;/b&gt; &amp; heavy</p>",
    });
  });

  it("sends Postmark's shape with the server token header", async () => {
    const { request, json } = await sentJson("postmark", {
      to: 'ops@example.com, "Doe, Jane" <jane@example.com>',
      cc: "cc@example.com",
      message_stream: "outbound",
    });
    expect(request.path).toBe("/email");
    expect(request.headers["x-postmark-server-token"]).toBe("key_123");
    expect(request.headers.accept).toBe("application/json");
    expect(request.headers.authorization).toBeUndefined();
    expect(json).toEqual({
      From: "Shop <shop@example.com>",
      To: 'ops@example.com, "Doe, Jane" <jane@example.com>',
      Cc: "cc@example.com",
      Subject: "Order shipped",
      TextBody: "Order 7 is shipped",
      MessageStream: "outbound",
    });
  });

  it("sends SendGrid's v3 shape with personalizations and content parts", async () => {
    receiver.reply(() => ({ status: 202 }));
    const { request, json } = await sentJson("sendgrid", {
      cc: ["Carol <carol@example.com>"],
      bcc: "audit@example.com",
      reply_to: "support@example.com",
      html_template: "<p>{{ status }}</p>",
    });
    expect(request.path).toBe("/v3/mail/send");
    expect(request.headers.authorization).toBe("Bearer key_123");
    expect(json).toEqual({
      personalizations: [
        {
          to: [{ email: "ops@example.com" }],
          cc: [{ email: "carol@example.com", name: "Carol" }],
          bcc: [{ email: "audit@example.com" }],
        },
      ],
      from: { email: "shop@example.com", name: "Shop" },
      reply_to: { email: "support@example.com" },
      subject: "Order shipped",
      content: [
        { type: "text/plain", value: "Order 7 is shipped" },
        { type: "text/html", value: "<p>shipped</p>" },
      ],
    });
  });

  it("honours subject_template and to_template beside literal cc (FraiseQL ignored them)", async () => {
    const { json } = await sentJson("resend", {
      to: undefined,
      to_template: "{{ buyer }}, sales@example.com",
      cc: ["sales@example.com", "boss@example.com"],
      subject: undefined,
      subject_template: "Order {{ id }}: {{ status }}",
    });
    expect(json.to).toEqual(["Buyer <buyer@example.com>", "sales@example.com"]);
    // An address already in `to` is not sent a second copy through cc.
    expect(json.cc).toEqual(["boss@example.com"]);
    expect(json.subject).toBe("Order 7: shipped");
  });

  it("reads a JSON array rendered by to_template", async () => {
    const event = insert({ recipients: ["a@example.com", "b@example.com"] });
    await runAction(
      emailAction,
      config("resend", { to: undefined, to_template: "{{ recipients }}" }),
      event,
    );
    expect(JSON.parse(receiver.requests[0]?.text ?? "{}").to).toEqual([
      "a@example.com",
      "b@example.com",
    ]);
  });

  it("fails permanently when to_template renders something that is not an address", async () => {
    const bad = await actionFailure(
      runAction(emailAction, config("resend", { to_template: "{{ status }}" }), order),
    );
    expect(bad).toMatchObject({ kind: "permanent", code: "INVALID_RECIPIENT" });
    expect(bad.message).toContain("shipped");
    const empty = await actionFailure(
      runAction(
        emailAction,
        config("resend", { to: undefined, to_template: "{{ missing }}" }),
        order,
      ),
    );
    expect(empty).toMatchObject({ kind: "permanent", code: "INVALID_RECIPIENT" });
    expect(receiver.requests).toHaveLength(0);
  });

  it.each([429, 503])("treats HTTP %i as transient", async (status) => {
    receiver.reply(() => ({ status, body: '{"message":"slow down"}' }));
    const failure = await actionFailure(runAction(emailAction, config("resend"), order));
    expect(failure).toMatchObject({ kind: "transient", httpStatus: status });
  });

  it("treats 422 as permanent and keeps the provider's explanation", async () => {
    receiver.reply(() => ({
      status: 422,
      headers: { "content-type": "application/json" },
      body: '{"ErrorCode":300,"Message":"Invalid \'To\' address"}',
    }));
    const failure = await actionFailure(runAction(emailAction, config("postmark"), order));
    expect(failure).toMatchObject({ kind: "permanent", httpStatus: 422 });
    expect(failure.message).toContain("Invalid 'To' address (ErrorCode 300)");
  });

  it("reads the API key from the environment, and fails permanently when it is unset", async () => {
    const fromEnv = config("resend", {
      api_key: undefined,
      api_key_env: "OBSERVERS_SECRET_RESEND_KEY",
    });
    await runAction(emailAction, fromEnv, order, {
      environment: testEnvironment({ env: { OBSERVERS_SECRET_RESEND_KEY: "re_env" } }),
    });
    expect(receiver.requests[0]?.headers.authorization).toBe("Bearer re_env");
    const missing = await actionFailure(runAction(emailAction, fromEnv, order));
    expect(missing).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    expect(missing.message).toContain("OBSERVERS_SECRET_RESEND_KEY");
  });

  it("names the destination by provider origin", () => {
    const parsed = v.parse(emailAction.schema, config("resend"));
    expect(emailAction.destination(parsed, testEnvironment())).toBe(`email:${receiver.url}`);
    const defaulted = v.parse(emailAction.schema, config("sendgrid", { base_url: undefined }));
    expect(emailAction.destination(defaulted, testEnvironment())).toBe(
      "email:https://api.sendgrid.com",
    );
  });
});

describe("to_template: one recipient per value", () => {
  // Row values that would add (or split) recipients if the rendered text were split on commas.
  const ADDING: [string, string][] = [
    ["a comma", "buyer@example.com, evil@example.com"],
    ["a semicolon", "buyer@example.com; evil@example.com"],
    ["a trailing list", "Buyer <buyer@example.com>,evil@example.com"],
    ["group syntax", "team: buyer@example.com, evil@example.com;"],
    ["a second angle address", "Buyer <buyer@example.com> <evil@example.com>"],
    ["an array in a string", '["buyer@example.com","evil@example.com"]'],
    ["an unclosed quote", '"Buyer <buyer@example.com>, evil@example.com'],
    ["a header after CRLF", "buyer@example.com\r\nBcc: evil@example.com"],
  ];
  const NOT_AN_ADDRESS: [string, string][] = [
    ["a newline", "buyer@example.com\nevil@example.com"],
    ["two addresses without a separator", "buyer@example.com evil@example.com"],
  ];

  const send = (provider: string, toTemplate: string, row: Record<string, unknown>) =>
    runAction(
      emailAction,
      config(provider, { to: undefined, cc: undefined, to_template: toTemplate }),
      insert({ id: 7, status: "shipped", ...row }),
    );

  describe.each(["resend", "postmark", "sendgrid"])("%s", (provider) => {
    it.each(ADDING)("refuses a value with %s, sending nothing", async (_case, value) => {
      for (const template of ["{{ buyer }}", "{{ buyer }}, ops@example.com"]) {
        const failure = await actionFailure(send(provider, template, { buyer: value }));
        expect(failure).toMatchObject({ kind: "permanent", code: "RECIPIENT_NOT_ONE_ADDRESS" });
        expect(failure.message).toContain("{{ buyer }}");
      }
      expect(receiver.requests).toHaveLength(0);
    });

    it.each(NOT_AN_ADDRESS)("refuses a value with %s as not an address", async (_case, value) => {
      const failure = await actionFailure(send(provider, "{{ buyer }}", { buyer: value }));
      expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_RECIPIENT" });
      expect(receiver.requests).toHaveLength(0);
    });

    it("refuses a display name that adds a recipient, and keeps one with a quoted comma", async () => {
      const named = "{{ name }} <{{ email }}>";
      const failure = await actionFailure(
        send(provider, named, { name: "Eve, evil@example.com", email: "buyer@example.com" }),
      );
      expect(failure).toMatchObject({ code: "RECIPIENT_NOT_ONE_ADDRESS" });
      expect(failure.message).toContain("{{ name }}");
      expect(receiver.requests).toHaveLength(0);

      receiver.reply(() => ({ status: 200, body: '{"id":"msg_1","MessageID":"m"}' }));
      await send(provider, `"{{ name }}" <{{ email }}>`, {
        name: "Doe, Jane",
        email: "jane@example.com",
      });
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0]?.text).toContain("jane@example.com");
      expect(receiver.requests[0]?.text).toContain("Doe, Jane");
    });
  });

  it("lists several recipients from literal commas and array values, one per item", async () => {
    const { json } = await sentJson("resend", {
      to: undefined,
      to_template: "{{ buyer }}, {{ team }},sales@example.com",
    });
    expect(json.to).toEqual(["Buyer <buyer@example.com>", "sales@example.com"]);
    receiver.requests.length = 0;
    await runAction(
      emailAction,
      config("resend", { to: undefined, to_template: "{{ list }}, ops@example.com" }),
      insert({ list: ["a@example.com", "B <b@example.com>"] }),
    );
    expect(JSON.parse(receiver.requests[0]?.text ?? "{}").to).toEqual([
      "a@example.com",
      "B <b@example.com>",
      "ops@example.com",
    ]);
    // An array item is one recipient too.
    const failure = await actionFailure(
      runAction(
        emailAction,
        config("resend", { to: undefined, to_template: "{{ list }}" }),
        insert({ list: ["a@example.com", "b@example.com, evil@example.com"] }),
      ),
    );
    expect(failure).toMatchObject({ kind: "permanent", code: "RECIPIENT_NOT_ONE_ADDRESS" });
  });
});

describe("email over SMTP", () => {
  const smtpConfig = {
    type: "email",
    from_env: "OBSERVERS_SECRET_MAIL_FROM",
    to: "ops@example.com",
    subject_template: "Order {{ id }}\r\nBcc: evil@example.com",
    body_template: "Total {{ total }}",
  };

  it("fails permanently without a transport (Workers have no TCP SMTP)", async () => {
    const failure = await actionFailure(runAction(emailAction, smtpConfig, order));
    expect(failure).toMatchObject({ kind: "permanent", code: "UNSUPPORTED_ON_RUNTIME" });
    expect(failure.message).toContain("HTTP provider");
  });

  it("hands the transport one message, with a one-line subject", async () => {
    const sent: EmailMessage[] = [];
    const email: EmailTransport = {
      async send(message) {
        sent.push(message);
        return { messageId: "<1@example.com>", response: "250 2.0.0 Ok: queued as ABC\r\nmore" };
      },
    };
    const environment = testEnvironment({
      email,
      env: { OBSERVERS_SECRET_MAIL_FROM: "shop@example.com" },
    });
    const result = await runAction(emailAction, smtpConfig, order, { environment });
    expect(result.message).toBe("250 2.0.0 Ok: queued as ABC");
    expect(sent).toEqual([
      {
        from: "shop@example.com",
        to: ["ops@example.com"],
        cc: [],
        bcc: [],
        replyTo: null,
        subject: "Order 7 Bcc: evil@example.com",
        text: "Total 120",
        html: null,
      },
    ]);
    expect(emailAction.destination(v.parse(emailAction.schema, smtpConfig), environment)).toBe(
      "email:smtp",
    );
  });
});

describe("email config", () => {
  const valid = {
    type: "email",
    from: "shop@example.com",
    to: "ops@example.com",
    subject: "Hi",
    body_template: "Body",
  };
  const rejects = (patch: Record<string, unknown>) => {
    const result = v.safeParse(emailAction.schema, { ...valid, ...patch });
    expect(result.success).toBe(false);
    return result.issues?.map((issue) => issue.message).join("\n") ?? "";
  };

  it("accepts a minimal SMTP config and defaults the provider", () => {
    expect(v.parse(emailAction.schema, valid)).toMatchObject({
      provider: "smtp",
      to: ["ops@example.com"],
    });
  });

  it("rejects what cannot be sent", () => {
    expect(rejects({ subject: undefined })).toContain("subject");
    expect(rejects({ subject_template: "{{ id }}" })).toContain("subject");
    expect(rejects({ to: "not-an-address" })).toContain("not an email address");
    expect(rejects({ to: ["ops@example.com", "bob@"] })).toContain('"bob@"');
    expect(rejects({ to: undefined })).toContain("to_template");
    expect(rejects({ from: undefined })).toContain("from_env");
    expect(rejects({ reply_to: "a@b" })).toContain("not an email address");
    expect(rejects({ subject: "two\nlines" })).toContain("one line");
    expect(rejects({ body_template: undefined })).not.toBe("");
    expect(rejects({ bogus: 1 })).not.toBe("");
    expect(rejects({ provider: "mailgun" })).toContain("must be one of");
    expect(rejects({ provider: "resend" })).toContain("api_key");
    expect(rejects({ provider: "resend", api_key: "k", api_key_env: "K" })).toContain("api_key");
    expect(rejects({ api_key: "k" })).toContain("only to HTTP providers");
    expect(rejects({ provider: "resend", api_key: "k", message_stream: "x" })).toContain(
      "postmark",
    );
  });
});
