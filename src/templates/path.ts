/** The names a placeholder path may start with; any other name reads a field of the row. */
export const TEMPLATE_ROOTS = [
  "event",
  "after",
  "before",
  "changes",
  "observer",
  "delivery",
  "dead_letter",
] as const;

/** Where a placeholder path starts reading: a named root, or the row (FraiseQL's `{{ key }}`). */
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number] | "row";

/** The fields of `{{ event.* }}`: the change event as observers see it. */
export const EVENT_FIELDS = [
  "id",
  "sequence",
  "entity_type",
  "entity_id",
  "event_type",
  "op",
  "before",
  "after",
  "changes",
  "tenant_id",
  "timestamp",
  "transaction_id",
  "source",
] as const;

/**
 * The fields of `{{ dead_letter.* }}`: the failure an `on_dead_letter` action reports
 * (docs/delivery.md); missing in every other action's event.
 */
export const DEAD_LETTER_FIELDS = [
  "dead_letter_id",
  "observer",
  "action_index",
  "action_type",
  "delivery_id",
  "attempts",
  "max_attempts",
  "error_code",
  "error_message",
  "http_status",
  "failed_at",
] as const;

/** The fields of each root whose shape is fixed: naming another is a mistake caught at parse time. */
const FIXED_FIELDS: Partial<Record<TemplateRoot, readonly string[]>> = {
  event: EVENT_FIELDS,
  observer: ["id", "name"],
  delivery: ["id", "attempt"],
  dead_letter: DEAD_LETTER_FIELDS,
};

/** One step down: an object key, which is also an array index when it is all digits. */
export interface PathStep {
  readonly key: string;
  /** The array index `key` spells, or -1 when it spells none (then arrays yield nothing). */
  readonly index: number;
}

/** A parsed placeholder path. */
export interface TemplatePath {
  readonly root: TemplateRoot;
  /** For `event`, `observer` and `delivery`, the first step is the (checked) field name. */
  readonly steps: readonly PathStep[];
}

/** Why a path does not parse, and where (an offset in the template source). */
export interface PathError {
  readonly error: string;
  readonly position: number;
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /[0-9]+/y;

function match(pattern: RegExp, text: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0];
}

function step(key: string): PathStep {
  const index = /^[0-9]+$/.test(key) ? Number(key) : -1;
  return { key, index: Number.isSafeInteger(index) ? index : -1 };
}

/**
 * Parses `after.items[0].sku` (or `after.items.0.sku`). `offset` is where `text` starts in the
 * template source, so that errors point into the source.
 */
export function parseTemplatePath(text: string, offset: number): TemplatePath | PathError {
  const first = match(IDENTIFIER, text, 0);
  if (first === undefined) return { error: "expected a field name", position: offset };
  const keys = [first];
  let at = first.length;
  while (at < text.length) {
    const char = text[at];
    if (char === ".") {
      const key = match(IDENTIFIER, text, at + 1) ?? match(DIGITS, text, at + 1);
      if (key === undefined) {
        return {
          error: "expected a field name or an array index after '.'",
          position: offset + at,
        };
      }
      keys.push(key);
      at += 1 + key.length;
    } else if (char === "[") {
      const digits = match(DIGITS, text, at + 1);
      if (digits === undefined || text[at + 1 + digits.length] !== "]") {
        return { error: "expected an array index and ']' after '['", position: offset + at };
      }
      keys.push(digits);
      at += 2 + digits.length;
    } else {
      return { error: `unexpected '${char}'`, position: offset + at };
    }
  }
  const root = (TEMPLATE_ROOTS as readonly string[]).includes(first)
    ? (first as TemplateRoot)
    : "row";
  const steps = (root === "row" ? keys : keys.slice(1)).map(step);
  const fields = FIXED_FIELDS[root];
  const field = steps[0];
  if (fields && field && !fields.includes(field.key)) {
    const where = offset + first.length + 1;
    return {
      error: `${root} has no field '${field.key}' (it has ${fields.join(", ")})`,
      position: where,
    };
  }
  return { root, steps };
}
