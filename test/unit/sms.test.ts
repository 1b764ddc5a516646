import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { smsAction } from "../../src/actions/sms.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { useReceiver } from "../support/receiver.ts";

const DELIVERY_ID = "0b9e4f3a-6c1d-4e2b-8f70-91a2b3c4d5e6";
const SID = `AC${"0123456789abcdef".repeat(2)}`;
const order = insert({ id: 7, status: "shipped", phone: "+44 20 7946 0958" });

const receiver = useReceiver(() => ({ status: 201, body: '{"sid":"SM1","status":"queued"}' }));

function config(extra: Record<string, unknown> = {}) {
  return {
    type: "sms",
    to: "+14155550100",
    from: "+14155550199",
    message_template: "Order {{ id }} is {{ status }} & on its way",
    account_sid: SID,
    auth_token: "tok:en",
    base_url: receiver.url,
    ...extra,
  };
}

describe("sms (Twilio Messages API)", () => {
  it("posts a form to the account's Messages.json with Basic auth", async () => {
    await runAction(smsAction, config(), order);
    const [request] = receiver.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    const auth = request?.headers.authorization ?? "";
    expect(auth.startsWith("Basic ")).toBe(true);
    expect(Buffer.from(auth.slice(6), "base64").toString("utf8")).toBe(`${SID}:tok:en`);
    expect(request?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(request?.headers["i-twilio-idempotency-token"]).toBe(DELIVERY_ID);
    expect(Object.fromEntries(new URLSearchParams(request?.text))).toEqual({
      To: "+14155550100",
      From: "+14155550199",
      Body: "Order 7 is shipped & on its way",
    });
  });

  it("renders the recipient, normalises it to E.164, and can use a messaging service", async () => {
    const service = `MG${"f".repeat(32)}`;
    await runAction(
      smsAction,
      config({
        to: undefined,
        to_template: "{{ phone }}",
        from: undefined,
        messaging_service_sid: service,
        account_sid: undefined,
        account_sid_env: "OBSERVERS_SECRET_TWILIO_SID",
        auth_token: undefined,
        auth_token_env: "OBSERVERS_SECRET_TWILIO_TOKEN",
      }),
      order,
      {
        environment: testEnvironment({
          env: { OBSERVERS_SECRET_TWILIO_SID: SID, OBSERVERS_SECRET_TWILIO_TOKEN: "secret" },
        }),
      },
    );
    const form = new URLSearchParams(receiver.requests[0]?.text);
    expect(form.get("To")).toBe("+442079460958");
    expect(form.get("MessagingServiceSid")).toBe(service);
    expect(form.has("From")).toBe(false);
  });

  it("fails permanently when the rendered recipient is not E.164", async () => {
    const failure = await actionFailure(
      runAction(smsAction, config({ to: undefined, to_template: "{{ status }}" }), order),
    );
    expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_RECIPIENT" });
    expect(receiver.requests).toHaveLength(0);
  });

  it("reports Twilio's error code and message on a 400, permanently", async () => {
    receiver.reply(() => ({
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        code: 21211,
        message: "The 'To' number +14155550100 is not a valid phone number.",
        more_info: "https://www.twilio.com/docs/errors/21211",
        status: 400,
      }),
    }));
    const failure = await actionFailure(runAction(smsAction, config(), order));
    expect(failure).toMatchObject({ kind: "permanent", httpStatus: 400 });
    expect(failure.message).toContain("Twilio error 21211: The 'To' number");
  });

  it("treats 429 as transient", async () => {
    receiver.reply(() => ({ status: 429, body: '{"code":20429,"message":"Too Many Requests"}' }));
    const failure = await actionFailure(runAction(smsAction, config(), order));
    expect(failure).toMatchObject({ kind: "transient", httpStatus: 429 });
    expect(failure.message).toContain("20429");
  });

  it("fails permanently when the auth token variable is unset", async () => {
    const failure = await actionFailure(
      runAction(
        smsAction,
        config({ auth_token: undefined, auth_token_env: "OBSERVERS_SECRET_NOPE" }),
        order,
      ),
    );
    expect(failure).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
  });

  it("names the destination by API origin", () => {
    const parsed = v.parse(smsAction.schema, config({ base_url: undefined }));
    expect(smsAction.destination(parsed, testEnvironment())).toBe("sms:https://api.twilio.com");
  });
});

describe("sms config", () => {
  const rejects = (patch: Record<string, unknown>) => {
    const result = v.safeParse(smsAction.schema, { ...config(), ...patch });
    expect(result.success).toBe(false);
    return result.issues?.map((issue) => issue.message).join("\n") ?? "";
  };

  it("normalises literal numbers and accepts alphanumeric senders", () => {
    expect(
      v.parse(smsAction.schema, config({ to: "+1 (415) 555-0100", from: "ShopCo" })),
    ).toMatchObject({
      to: "+14155550100",
      from: "ShopCo",
    });
  });

  it("rejects numbers that are not E.164 and incomplete credentials", () => {
    expect(rejects({ to: "4155550100" })).toContain("E.164");
    expect(rejects({ to: "+0123456" })).toContain("E.164");
    expect(rejects({ to: "+1234567890123456" })).toContain("E.164");
    expect(rejects({ to_template: "{{ phone }}" })).toContain("exactly one of to and to_template");
    expect(rejects({ from: undefined })).toContain("messaging_service_sid");
    expect(rejects({ from: "12345678901234567" })).toContain("E.164");
    expect(rejects({ account_sid: "AC123" })).toContain("AC followed by 32 hex digits");
    expect(rejects({ auth_token: undefined })).toContain("auth_token_env");
    expect(rejects({ message_template: "" })).not.toBe("");
    expect(rejects({ extra: true })).not.toBe("");
  });
});
