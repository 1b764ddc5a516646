import type { ConfigIssue } from "../errors.ts";
import { isJsonObject, type JsonValue } from "../json.ts";

/** What a secret reads as in every API response. */
export const REDACTED = "[REDACTED]";

/**
 * Action fields holding credentials. `webhook_url` is Slack's: its path is the token. Fields
 * naming an environment variable (`*_env`) are not secrets and stay visible.
 */
const SECRET_FIELDS = new Set([
  "signing_secret",
  "signing_secrets",
  "api_key",
  "auth_token",
  "service_account",
  "vapid_private_key",
  "password",
  "webhook_url",
]);

/** Header values carry credentials (`Authorization`, API keys) too often to show any. */
const SECRET_MAPS = new Set(["headers"]);

function mask(value: JsonValue): JsonValue {
  return Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
}

/** A copy of `actions` with every secret value replaced by `[REDACTED]`. */
export function redactActions(actions: readonly JsonValue[]): JsonValue[] {
  return actions.map((action) => {
    if (!isJsonObject(action)) return action;
    const copy: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(action)) {
      if (value === null) copy[key] = value;
      else if (SECRET_FIELDS.has(key)) copy[key] = mask(value);
      else if (SECRET_MAPS.has(key) && isJsonObject(value)) {
        copy[key] = Object.fromEntries(Object.keys(value).map((name) => [name, REDACTED]));
      } else copy[key] = value;
    }
    return copy;
  });
}

/**
 * Places where a client sent back the `[REDACTED]` placeholder instead of a secret (it read an
 * observer and wrote it back): storing it would silently break the action.
 */
export function redactedPlaceholders(actions: unknown): ConfigIssue[] {
  if (!Array.isArray(actions)) return [];
  const issues: ConfigIssue[] = [];
  const message =
    `is the ${REDACTED} placeholder: send the secret itself, ` +
    "or leave actions out of the PATCH to keep the stored ones";
  actions.forEach((action, index) => {
    if (!isJsonObject(action)) return;
    for (const [key, value] of Object.entries(action)) {
      if (SECRET_FIELDS.has(key)) {
        const values = Array.isArray(value) ? value : [value];
        if (values.includes(REDACTED)) issues.push({ path: `actions.${index}.${key}`, message });
      } else if (SECRET_MAPS.has(key) && isJsonObject(value)) {
        for (const [name, member] of Object.entries(value)) {
          if (member === REDACTED)
            issues.push({ path: `actions.${index}.${key}.${name}`, message });
        }
      }
    }
  });
  return issues;
}
