import type { ChangeEvent } from "../events/types.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import type { TemplateContext } from "../templates/index.ts";

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

function escapeValue(value: JsonValue): JsonValue {
  if (typeof value === "string") return escapeHtml(value);
  if (Array.isArray(value)) return value.map(escapeValue);
  if (value !== null && typeof value === "object") return escapeObject(value);
  return value;
}

function escapeObject(object: JsonObject): JsonObject {
  const escaped: JsonObject = {};
  for (const [key, value] of Object.entries(object)) escaped[key] = escapeValue(value);
  return escaped;
}

/**
 * The template context with every string the event carries HTML-escaped. Templates only have a
 * text mode, and row data is untrusted: escaping the values (not the template) lets an
 * `html_template` write markup while a customer name like `<a href=...>` stays inert text.
 */
export function htmlEscapedContext(context: TemplateContext): TemplateContext {
  const { event } = context;
  const escapedEvent: ChangeEvent = {
    ...event,
    entity_type: escapeHtml(event.entity_type),
    entity_id: event.entity_id === null ? null : escapeHtml(event.entity_id),
    tenant_id: event.tenant_id === null ? null : escapeHtml(event.tenant_id),
    before: event.before === null ? null : escapeObject(event.before),
    after: event.after === null ? null : escapeObject(event.after),
    changes:
      event.changes === null
        ? null
        : Object.fromEntries(
            Object.entries(event.changes).map(([key, change]) => [
              key,
              { old: escapeValue(change.old), new: escapeValue(change.new) },
            ]),
          ),
    source: event.source === null ? null : escapeObject(event.source),
  };
  return {
    ...context,
    event: escapedEvent,
    observer: { id: context.observer.id, name: escapeHtml(context.observer.name) },
  };
}
