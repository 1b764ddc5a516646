import * as v from "valibot";
import { lookupSegments, MISSING } from "../dsl/paths.ts";
import type { ChangeEvent } from "../events/types.ts";
import { httpUrl } from "./fields.ts";
import { decodeFixed, decodeP256Point } from "./push-crypto.ts";
import { ActionFailure } from "./types.ts";

/** `after.push_subscription`: a row image, then keys (digits index arrays). */
export const SUBSCRIPTION_PATH = /^(after|before)(\.[A-Za-z0-9_]+)+$/;

const isHttps = (url: string) => new URL(url).protocol === "https:";

/** A browser's `PushSubscription.toJSON()`: endpoint and keys (other fields are ignored). */
export const subscriptionSchema = v.object({
  endpoint: v.pipe(httpUrl, v.check(isHttps, "must be an https:// URL")),
  keys: v.object({
    p256dh: v.pipe(
      v.string(),
      v.check((key) => decodeP256Point(key) !== undefined, "must be a base64url P-256 public key"),
    ),
    auth: v.pipe(
      v.string(),
      v.check((key) => decodeFixed(key, 16) !== undefined, "must be a base64url 16-byte secret"),
    ),
  }),
});
export type PushSubscription = v.InferOutput<typeof subscriptionSchema>;

/**
 * The subscription at `path` (`after.push_subscription`) in the event: a subscription object, or
 * its JSON text as a text column holds it. Anything else is a permanent `INVALID_SUBSCRIPTION`.
 */
export function subscriptionFromEvent(event: ChangeEvent, path: string): PushSubscription {
  const [image, ...segments] = path.split(".");
  const root = image === "before" ? event.before : event.after;
  let value: unknown = lookupSegments(root, segments);
  if (value === MISSING || value === null) throw invalid(`the event has no ${path}`);
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (error) {
      throw invalid(`${path} is not JSON`, error);
    }
  }
  const result = v.safeParse(subscriptionSchema, value);
  if (result.success) return result.output;
  const [issue] = result.issues;
  throw invalid(`${[path, v.getDotPath(issue)].filter(Boolean).join(".")} ${issue.message}`);
}

function invalid(message: string, cause?: unknown): ActionFailure {
  const details = cause === undefined ? {} : { cause };
  return new ActionFailure("permanent", "INVALID_SUBSCRIPTION", `Web Push: ${message}`, details);
}
