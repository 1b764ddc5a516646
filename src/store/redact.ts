import { hasPlaceholder, mapSecrets, REDACTED, redactUrl } from "../actions/secret-fields.ts";
import type { ConfigIssue } from "../errors.ts";
import { isJsonObject, type JsonValue } from "../json.ts";

export { REDACTED } from "../actions/secret-fields.ts";

/**
 * A copy of `actions` as responses show them: every secret value `[REDACTED]`, and in every URL
 * the user info, query, fragment and token-like path segments (see `redactUrl`).
 */
export function redactActions(actions: readonly JsonValue[]): JsonValue[] {
  return actions.map((action) =>
    isJsonObject(action)
      ? mapSecrets(action, (value, kind) => (kind === "url" ? redactUrl(value) : REDACTED))
      : action,
  );
}

/**
 * Places where a client sent back the `[REDACTED]` placeholder instead of a secret or a full URL
 * (it read an observer and wrote it back): storing it would silently break the action.
 */
export function redactedPlaceholders(actions: unknown, field = "actions"): ConfigIssue[] {
  if (!Array.isArray(actions)) return [];
  const issues: ConfigIssue[] = [];
  actions.forEach((action, index) => {
    if (!isJsonObject(action)) return;
    mapSecrets(action, (value, kind, path) => {
      const at = `${field}.${index}.${path}`;
      if (hasPlaceholder(value) && !issues.some((issue) => issue.path === at)) {
        const what =
          kind === "url"
            ? "is a URL read back with its secret parts as the [REDACTED] placeholder: send the full URL"
            : `is the ${REDACTED} placeholder: send the secret itself`;
        issues.push({
          path: at,
          message: `${what}, or leave ${field} out of the PATCH to keep the stored ones`,
        });
      }
      return value;
    });
  });
  return issues;
}
