import * as v from "valibot";
import { expectSuccess, sendHttp } from "../net/http.ts";
import { renderTemplate, type TemplateContext } from "../templates/index.ts";
import { envName, secret, template } from "./fields.ts";
import {
  decodeFixed,
  decodeP256Point,
  encryptPushPayload,
  importVapidKeys,
  MAX_PAYLOAD_BYTES,
  vapidAuthorization,
} from "./push-crypto.ts";
import {
  SUBSCRIPTION_PATH,
  subscriptionFromEvent,
  subscriptionSchema,
} from "./push-subscription.ts";
import { requireSecret } from "./secrets.ts";
import { ActionFailure, type ActionRequest, type ActionResult } from "./types.ts";

/** RFC 8030 §5.3 urgencies. */
export const URGENCIES = ["very-low", "low", "normal", "high"] as const;

const isVapidSubject = (subject: string) =>
  URL.canParse(subject) && ["mailto:", "https:"].includes(new URL(subject).protocol);

/**
 * `{type: "push", provider: "web_push", ...}`: an encrypted Web Push message (RFC 8030/8291/8292).
 * The subscription is literal (`subscription`) or read from the event (`subscription_path`, e.g.
 * `after.push_subscription`, holding the subscription object or its JSON text).
 */
export const webPushConfigSchema = v.strictObject({
  type: v.literal("push"),
  provider: v.literal("web_push"),
  subscription: v.optional(subscriptionSchema),
  subscription_path: v.optional(
    v.pipe(
      v.string(),
      v.regex(SUBSCRIPTION_PATH, "must be a dotted path into after or before, e.g. after.push"),
    ),
  ),
  vapid_public_key: v.pipe(
    v.string(),
    v.check((key) => decodeP256Point(key) !== undefined, "must be a base64url P-256 public key"),
  ),
  vapid_private_key: v.optional(
    v.pipe(
      secret,
      v.check((key) => decodeFixed(key, 32) !== undefined, "must be a base64url 32-byte key"),
    ),
  ),
  vapid_private_key_env: v.optional(envName),
  vapid_subject: v.pipe(v.string(), v.check(isVapidSubject, "must be a mailto: or https: URL")),
  title_template: v.optional(template("text")),
  body_template: v.optional(template("text")),
  /** The whole payload as a JSON template; instead of title/body. */
  payload_template: v.optional(template("json")),
  ttl: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2_419_200)), 86_400),
  urgency: v.optional(v.picklist(URGENCIES)),
});
export type WebPushConfig = v.InferOutput<typeof webPushConfigSchema>;

/** Rules across fields that the object schema cannot express, each naming the field to fix. */
export function webPushConfigIssues(config: WebPushConfig): { key: string; message: string }[] {
  const issues: { key: string; message: string }[] = [];
  if ((config.subscription === undefined) === (config.subscription_path === undefined)) {
    issues.push({
      key: "subscription",
      message: "give exactly one of subscription and subscription_path",
    });
  }
  if ((config.vapid_private_key === undefined) === (config.vapid_private_key_env === undefined)) {
    issues.push({
      key: "vapid_private_key",
      message: "give exactly one of vapid_private_key and vapid_private_key_env",
    });
  }
  const titled = config.title_template !== undefined || config.body_template !== undefined;
  if (titled === (config.payload_template !== undefined)) {
    issues.push({
      key: "payload_template",
      message: "give payload_template, or title_template and/or body_template (not both)",
    });
  }
  return issues;
}

/** Per push service for a literal subscription; one read from the event is unknown until run. */
export function webPushDestination(config: WebPushConfig): string {
  return config.subscription ? `push:${new URL(config.subscription.endpoint).origin}` : "push:web";
}

/** Encrypts and sends one Web Push message; 404/410 mean the subscription is gone for good. */
export async function runWebPush(request: ActionRequest<WebPushConfig>): Promise<ActionResult> {
  const { config, environment, signal } = request;
  const subscription =
    config.subscription ?? subscriptionFromEvent(request.event, config.subscription_path ?? "");
  const plaintext = new TextEncoder().encode(renderPayload(request));
  if (plaintext.length > MAX_PAYLOAD_BYTES) {
    throw new ActionFailure(
      "permanent",
      "PAYLOAD_TOO_LARGE",
      `Web Push payload is ${plaintext.length} bytes; at most ${MAX_PAYLOAD_BYTES} fit`,
    );
  }
  const privateKey = requireSecret(
    config.vapid_private_key,
    config.vapid_private_key_env,
    request,
    "Web Push vapid_private_key",
  );
  const keys = await importVapidKeys(config.vapid_public_key, privateKey).catch((error) => {
    throw permanent(
      "INVALID_VAPID_KEY",
      `Web Push VAPID keys cannot be used: ${reason(error)}`,
      error,
    );
  });
  const body = await encryptPushPayload(
    plaintext,
    decodeP256Point(subscription.keys.p256dh) ?? new Uint8Array(),
    decodeFixed(subscription.keys.auth, 16) ?? new Uint8Array(),
  ).catch((error) => {
    throw permanent("INVALID_SUBSCRIPTION", `Web Push subscription keys: ${reason(error)}`, error);
  });
  const headers: Record<string, string> = {
    authorization: await vapidAuthorization(
      subscription.endpoint,
      config.vapid_subject,
      keys,
      environment.clock.now(),
    ),
    "content-encoding": "aes128gcm",
    "content-type": "application/octet-stream",
    ttl: String(config.ttl),
  };
  if (config.urgency !== undefined) headers.urgency = config.urgency;
  const response = await sendHttp(
    { url: subscription.endpoint, headers, body },
    environment,
    signal,
  );
  if (response.status === 404 || response.status === 410) {
    throw new ActionFailure(
      "permanent",
      "SUBSCRIPTION_GONE",
      `Web Push subscription has expired or been removed (HTTP ${response.status})`,
      { httpStatus: response.status, responseExcerpt: response.body },
    );
  }
  return expectSuccess(response, environment);
}

function renderPayload(request: ActionRequest<WebPushConfig>): string {
  const { config } = request;
  const context: TemplateContext = {
    event: request.event,
    observer: request.observer,
    deliveryId: request.deliveryId,
    attempt: request.attempt,
  };
  if (config.payload_template !== undefined) {
    return renderTemplate(config.payload_template, "json", context);
  }
  const payload: Record<string, string> = {};
  if (config.title_template !== undefined) {
    payload.title = renderTemplate(config.title_template, "text", context);
  }
  if (config.body_template !== undefined) {
    payload.body = renderTemplate(config.body_template, "text", context);
  }
  return JSON.stringify(payload);
}

function permanent(code: string, message: string, cause?: unknown): ActionFailure {
  return new ActionFailure("permanent", code, message, cause === undefined ? {} : { cause });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
