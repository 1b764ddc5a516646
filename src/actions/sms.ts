import * as v from "valibot";
import { sendHttp } from "../net/http.ts";
import { renderTemplate } from "../templates/index.ts";
import { expectProviderSuccess } from "./email-providers.ts";
import { envName, exactlyOne, httpUrl, secret, template } from "./fields.ts";
import { requireSecret } from "./secrets.ts";
import { type ActionDefinition, ActionFailure } from "./types.ts";

const DEFAULT_BASE_URL = "https://api.twilio.com";
/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
const E164 = /^\+[1-9]\d{1,14}$/;
/** Spacing people write into numbers (`+1 (415) 555-0100`), dropped before the E.164 check. */
const NUMBER_PUNCTUATION = /[\s().-]/g;
/** A Twilio alphanumeric sender id: up to 11 letters, digits and spaces, at least one letter. */
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

/** The number in E.164 form, or null when it is not a phone number. */
export function normalizePhoneNumber(text: string): string | null {
  const compact = text.trim().replace(NUMBER_PUNCTUATION, "");
  return E164.test(compact) ? compact : null;
}

const phoneNumber = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const number = normalizePhoneNumber(dataset.value);
    if (number !== null) return number;
    addIssue({ message: `${JSON.stringify(dataset.value)} is not an E.164 number (+14155550100)` });
    return NEVER;
  }),
);

const sender = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const number = normalizePhoneNumber(dataset.value);
    if (number !== null) return number;
    if (ALPHANUMERIC_SENDER.test(dataset.value)) return dataset.value;
    addIssue({
      message: `${JSON.stringify(dataset.value)} is neither an E.164 number nor an alphanumeric sender id (up to 11 letters and digits)`,
    });
    return NEVER;
  }),
);

const smsSchema = v.pipe(
  v.strictObject({
    type: v.literal("sms"),
    to: v.optional(phoneNumber),
    to_template: v.optional(template("text")),
    from: v.optional(sender),
    messaging_service_sid: v.optional(
      v.pipe(v.string(), v.regex(MESSAGING_SERVICE_SID, "must be MG followed by 32 hex digits")),
    ),
    message_template: template("text"),
    account_sid: v.optional(
      v.pipe(v.string(), v.regex(ACCOUNT_SID, "must be AC followed by 32 hex digits")),
    ),
    account_sid_env: v.optional(envName),
    auth_token: v.optional(secret),
    auth_token_env: v.optional(envName),
    base_url: v.optional(httpUrl),
  }),
  exactlyOne("to", "to_template"),
  exactlyOne("from", "messaging_service_sid"),
  exactlyOne("account_sid", "account_sid_env"),
  exactlyOne("auth_token", "auth_token_env"),
);

/** A validated `sms` action config. */
export type SmsConfig = v.InferOutput<typeof smsSchema>;

/** btoa over UTF-8 bytes: plain `btoa` throws on anything outside Latin-1. */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions */
function twilioErrorDetail(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const { code, message } = parsed as { code?: unknown; message?: unknown };
    if (typeof message !== "string") return undefined;
    return code === undefined || code === null
      ? message
      : `Twilio error ${String(code)}: ${message}`;
  } catch {
    return undefined;
  }
}

/** `sms`: sends a text message through Twilio's Messages API (or a compatible one). */
export const smsAction: ActionDefinition<SmsConfig> = {
  type: "sms",
  schema: smsSchema,
  destination(config) {
    return `sms:${new URL(config.base_url ?? DEFAULT_BASE_URL).origin}`;
  },
  defaultBaseUrl: () => DEFAULT_BASE_URL,
  async run(request) {
    const { config, environment, signal } = request;
    const accountSid = requireSecret(
      config.account_sid,
      config.account_sid_env,
      request,
      "sms account_sid",
    );
    const authToken = requireSecret(
      config.auth_token,
      config.auth_token_env,
      request,
      "sms auth_token",
    );
    const context = {
      event: request.event,
      observer: request.observer,
      deliveryId: request.deliveryId,
      attempt: request.attempt,
    };
    let to = config.to;
    if (to === undefined) {
      const rendered = renderTemplate(config.to_template ?? "", "text", context);
      to = normalizePhoneNumber(rendered) ?? undefined;
      if (to === undefined) {
        throw new ActionFailure(
          "permanent",
          "INVALID_RECIPIENT",
          `to_template rendered ${JSON.stringify(rendered)}, not an E.164 number`,
        );
      }
    }
    const form = new URLSearchParams({ To: to });
    if (config.from !== undefined) form.set("From", config.from);
    if (config.messaging_service_sid !== undefined) {
      form.set("MessagingServiceSid", config.messaging_service_sid);
    }
    form.set("Body", renderTemplate(config.message_template, "text", context));
    const base = (config.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    const response = await sendHttp(
      {
        url: `${base}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`,
        method: "POST",
        headers: {
          authorization: `Basic ${base64(`${accountSid}:${authToken}`)}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          // The same on every retry, so a gateway that dedups on it (Twilio uses this header for
          // its own retried requests) can drop a repeat after a lost response.
          "i-twilio-idempotency-token": request.deliveryId,
        },
        body: form.toString(),
      },
      environment,
      signal,
    );
    return expectProviderSuccess(response, environment, "sms", twilioErrorDetail);
  },
};
