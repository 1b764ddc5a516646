/** The observers file `export` writes: definition fields only, defaults left out. */
import { stringify as stringifyYaml } from "yaml";
import { DEFAULT_RETRY_CONFIG } from "../../src/executor/retry-policy.ts";
import { isJsonObject } from "../../src/json.ts";
import { DEFAULT_PRIORITY, DEFAULT_TIMEOUT_MS } from "../../src/observers/schema.ts";
import type { ServerObserver } from "./observers-io.ts";

/** The definition fields, in the order files show them. */
export const DEFINITION_FIELDS = [
  "name",
  "description",
  "entity_type",
  "event_type",
  "condition_expression",
  "enabled",
  "priority",
  "timeout_ms",
  "ordering",
  "retry_config",
  "actions",
] as const;

/** Fields of the API's observers that are not part of a definition. */
const SERVER_ONLY = new Set([
  "id",
  "fk_customer_org",
  "created_at",
  "updated_at",
  "created_by",
  "updated_by",
  "deleted_at",
  "warnings",
  // Paused is a state of the server's observer, not part of its definition.
  "paused",
  "paused_at",
  "held",
]);

/** An observer as `export` writes it: definition fields only, defaults left out. */
export function exportedObserver(observer: ServerObserver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: observer.name };
  if (observer.description !== null) out.description = observer.description;
  if (observer.entity_type !== null) out.entity_type = observer.entity_type;
  if (observer.event_type !== null) out.event_type = observer.event_type;
  if (observer.condition_expression !== null)
    out.condition_expression = observer.condition_expression;
  if (!observer.enabled) out.enabled = false;
  if (observer.priority !== DEFAULT_PRIORITY) out.priority = observer.priority;
  if (observer.timeout_ms !== DEFAULT_TIMEOUT_MS) out.timeout_ms = observer.timeout_ms;
  if (observer.ordering !== undefined && observer.ordering !== "unordered") {
    out.ordering = observer.ordering;
  }
  const retry: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(observer.retry_config)) {
    const fallback =
      key === "max_delay_ms"
        ? Math.max(
            DEFAULT_RETRY_CONFIG.max_delay_ms,
            Number(observer.retry_config.initial_delay_ms ?? 0),
          )
        : (DEFAULT_RETRY_CONFIG as Record<string, unknown>)[key];
    if (value !== fallback) retry[key] = value;
  }
  if (Object.keys(retry).length > 0) out.retry_config = retry;
  // Definition fields this CLI does not know by name (added to the schema later) go as they are.
  for (const [key, value] of Object.entries(observer)) {
    if (
      !(key in out) &&
      !SERVER_ONLY.has(key) &&
      !(DEFINITION_FIELDS as readonly string[]).includes(key) &&
      // No on_dead_letter actions is the default.
      !(key === "on_dead_letter" && Array.isArray(value) && value.length === 0)
    ) {
      out[key] = value;
    }
  }
  // `type` first, as people write actions (the stored JSON orders keys its own way).
  out.actions = observer.actions.map((action) =>
    isJsonObject(action) ? { type: action.type ?? null, ...action } : action,
  );
  return out;
}

/** The file text of `observers` in `format`. */
export function renderFile(observers: readonly ServerObserver[], format: "yaml" | "json"): string {
  const document = { observers: observers.map(exportedObserver) };
  if (format === "json") return `${JSON.stringify(document, null, 2)}\n`;
  return stringifyYaml(document, { lineWidth: 0 });
}
