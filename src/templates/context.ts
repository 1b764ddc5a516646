import { imageOf, type Lookup, MISSING } from "../dsl/paths.ts";
import type { JsonValue } from "../json.ts";
import { EVENT_FIELDS, type PathStep, type TemplatePath } from "./path.ts";
import type { TemplateContext } from "./types.ts";

/** Reads one placeholder's value from a context. */
export type Reader = (context: TemplateContext) => Lookup;

type EventField = (typeof EVENT_FIELDS)[number];

/** The event with exactly its documented fields, whatever else the object carries. */
function eventObject(context: TemplateContext): JsonValue {
  const out: Record<string, JsonValue> = {};
  for (const field of EVENT_FIELDS) out[field] = eventField(context, field);
  return out;
}

function eventField(context: TemplateContext, field: EventField): JsonValue {
  // `changes` holds FieldChange interfaces, which are JSON but lack an index signature.
  return context.event[field] as JsonValue;
}

/** Follows steps through own properties only: event data may hold `__proto__` or `constructor`. */
function follow(start: Lookup, steps: readonly PathStep[]): Lookup {
  let current = start;
  for (const { key, index } of steps) {
    if (current === null || typeof current !== "object") return MISSING;
    if (Array.isArray(current)) {
      if (index < 0 || index >= current.length) return MISSING;
      current = current[index] as JsonValue;
    } else {
      if (!Object.hasOwn(current, key)) return MISSING;
      current = current[key] as JsonValue;
    }
    if (current === undefined) return MISSING;
  }
  return current;
}

/** The value a root names, with the fixed roots' field already chosen (so `rest` is what is left). */
function rootReader(path: TemplatePath): { read: Reader; rest: readonly PathStep[] } {
  const [field, ...rest] = path.steps;
  switch (path.root) {
    case "after":
      return { read: (c) => c.event.after, rest: path.steps };
    case "before":
      return { read: (c) => c.event.before, rest: path.steps };
    case "changes":
      return { read: (c) => c.event.changes as JsonValue, rest: path.steps };
    case "row":
      return { read: (c) => imageOf(c.event, "data"), rest: path.steps };
    case "event": {
      if (!field) return { read: eventObject, rest };
      const name = field.key as EventField;
      return { read: (c) => eventField(c, name), rest };
    }
    case "observer":
      if (!field) return { read: (c) => ({ id: c.observer.id, name: c.observer.name }), rest };
      return { read: field.key === "id" ? (c) => c.observer.id : (c) => c.observer.name, rest };
    case "delivery":
      if (!field) return { read: (c) => ({ id: c.deliveryId, attempt: c.attempt }), rest };
      return { read: field.key === "id" ? (c) => c.deliveryId : (c) => c.attempt, rest: rest };
    case "dead_letter":
      return { read: (c) => c.event.dead_letter ?? MISSING, rest: path.steps };
  }
}

/** Compiles a path into a reader once, so rendering does no parsing or lookups by name. */
export function compileReader(path: TemplatePath): Reader {
  const { read, rest } = rootReader(path);
  if (rest.length === 0) return read;
  return (c) => follow(read(c), rest);
}
