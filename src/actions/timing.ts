/**
 * Time, for every action (docs/time.md): `delay_ms`, `run_at_template`, `debounce` and
 * `rate_limit_per_second` (docs/delivery.md; read by src/runtime/destination-health.ts) are fields
 * every action accepts, built-in or a host's own. They are validated here once
 * (`actionTimingSchema`, composed into every action's config by `actionConfigSchemaFor`), stripped
 * before an action's own schema sees its config (`withoutTiming`), read by ingest to decide when a
 * delivery is due (`planTiming`), and checked again when it runs (`timingFailure`): a
 * `run_at_template` that does not render an instant, or a debounce key that renders empty, ends
 * the delivery in the dead-letter queue with that reason.
 */
import * as v from "valibot";
import type { ChangeEvent } from "../events/types.ts";
import { renderTemplate, type TemplateContext } from "../templates/index.ts";
import { notArray } from "../validation.ts";
import { template } from "./fields.ts";

/** Longest `delay_ms`: 30 days. */
export const MAX_DELAY_MS = 30 * 24 * 60 * 60_000;
/** Longest debounce `window_ms`: 1 day. */
export const MAX_DEBOUNCE_WINDOW_MS = 24 * 60 * 60_000;
/** Longest debounce `max_wait_ms`: 7 days. */
export const MAX_DEBOUNCE_WAIT_MS = 7 * 24 * 60 * 60_000;
/** `max_wait_ms` when not given: ten windows (at most `MAX_DEBOUNCE_WAIT_MS`). */
export const DEFAULT_DEBOUNCE_WAITS = 10;
/** The debounce key when `key_template` is not given: one pending delivery per entity. */
export const DEFAULT_DEBOUNCE_KEY_TEMPLATE = "{{ event.entity_id }}";
/** Longest rendered debounce key, in characters. */
export const MAX_DEBOUNCE_KEY_LENGTH = 512;
/** Highest `rate_limit_per_second` (docs/delivery.md). */
export const MAX_RATE_LIMIT_PER_SECOND = 10_000;
/** The names of the fields, reserved in every action's config. */
export const TIMING_FIELDS = [
  "delay_ms",
  "run_at_template",
  "debounce",
  "rate_limit_per_second",
] as const;

/** Dead-letter codes of a delivery whose timing cannot be worked out from its change. */
export const INVALID_RUN_AT = "INVALID_RUN_AT";
export const INVALID_DEBOUNCE_KEY = "INVALID_DEBOUNCE_KEY";

const integerMs = (min: number, max: number, what: string) =>
  v.pipe(
    v.number(),
    v.safeInteger("must be an integer"),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max} (${what})`),
  );

const debounceSchema = v.pipe(
  v.unknown(),
  notArray(),
  v.strictObject({
    window_ms: v.pipe(
      integerMs(1, MAX_DEBOUNCE_WINDOW_MS, "1 day"),
      v.description(
        "Changes with the same key arriving within this many milliseconds of the last one collapse into one delivery of the last change",
      ),
    ),
    key_template: v.optional(
      v.pipe(
        template("text"),
        v.metadata({
          description: `What makes changes "the same" (per observer and action); default ${DEFAULT_DEBOUNCE_KEY_TEMPLATE}`,
          examples: ["{{ event.entity_id }}", "{{ after.customer_id }}"],
        }),
      ),
    ),
    max_wait_ms: v.optional(
      v.pipe(
        integerMs(1, MAX_DEBOUNCE_WAIT_MS, "7 days"),
        v.description(
          "The longest a pending delivery is pushed back by a steady stream of changes, counted from the first; default ten windows",
        ),
      ),
    ),
  }),
  v.forward(
    v.check(
      (d) => d.max_wait_ms === undefined || d.max_wait_ms >= d.window_ms,
      "must be at least window_ms",
    ),
    ["max_wait_ms"],
  ),
);

/** The timing fields, as every action accepts them (each optional). */
export const actionTimingEntries = {
  delay_ms: v.optional(
    v.pipe(
      integerMs(0, MAX_DELAY_MS, "30 days"),
      v.description("Run the action this many milliseconds after the change"),
    ),
  ),
  run_at_template: v.optional(
    v.pipe(
      template("text"),
      v.metadata({
        description:
          "Run the action at the instant this template renders (RFC 3339; without an offset, UTC); a past instant runs at once",
        examples: ["{{ after.remind_at }}"],
      }),
    ),
  ),
  debounce: v.optional(debounceSchema),
  rate_limit_per_second: v.optional(
    v.pipe(
      v.number(),
      v.finite("must be a finite number"),
      v.gtValue(0, "must be greater than 0"),
      v.minValue(0.001, "must be at least 0.001 (one delivery in about 17 minutes)"),
      v.maxValue(MAX_RATE_LIMIT_PER_SECOND, `must be at most ${MAX_RATE_LIMIT_PER_SECOND}`),
      v.description(
        "Deliveries of this action per second, at most, across every server on the database; deliveries over the rate wait (not an attempt, not a failure)",
      ),
    ),
  ),
};

/** The timing fields of one action config, validated together. */
export const actionTimingSchema = v.pipe(
  v.strictObject(actionTimingEntries),
  v.forward(
    v.check(
      (t) => t.delay_ms === undefined || t.run_at_template === undefined,
      "give delay_ms or run_at_template, not both",
    ),
    ["run_at_template"],
  ),
  v.forward(
    v.check(
      (t) =>
        t.debounce === undefined || (t.delay_ms === undefined && t.run_at_template === undefined),
      "debounce decides when the delivery runs: it cannot be combined with delay_ms or run_at_template",
    ),
    ["debounce"],
  ),
);

/** The timing fields as validated. */
export type ActionTimingFields = v.InferOutput<typeof actionTimingSchema>;

/** Splits a config into its timing fields (only those present) and the rest. */
export function splitTiming(config: Record<string, unknown>): {
  timing: Record<string, unknown> | null;
  rest: Record<string, unknown>;
} {
  if (!hasTiming(config)) return { timing: null, rest: config };
  const timing: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if ((TIMING_FIELDS as readonly string[]).includes(key)) timing[key] = value;
    else rest[key] = value;
  }
  return { timing, rest };
}

function hasTiming(config: object): boolean {
  return (
    "delay_ms" in config ||
    "run_at_template" in config ||
    "debounce" in config ||
    "rate_limit_per_second" in config
  );
}

/** The config an action's own schema validates: without the timing fields (itself when none). */
export function withoutTiming<T extends object>(config: T): T {
  if (!hasTiming(config)) return config;
  return splitTiming(config as Record<string, unknown>).rest as T;
}

/** What ingest needs of an action's timing, read once per observer version. */
export interface ActionTiming {
  delayMs: number;
  runAt: string | null;
  debounce: { windowMs: number; maxWaitMs: number; keyTemplate: string } | null;
}

/** The timing of a stored action config, or null when it has none (the common case). */
export function actionTimingOf(action: unknown): ActionTiming | null {
  if (typeof action !== "object" || action === null || !hasTiming(action)) return null;
  const { delay_ms, run_at_template, debounce } = action as Record<string, unknown>;
  const delayMs = typeof delay_ms === "number" && delay_ms > 0 ? delay_ms : 0;
  const runAt = typeof run_at_template === "string" ? run_at_template : null;
  let bounce: ActionTiming["debounce"] = null;
  if (typeof debounce === "object" && debounce !== null) {
    const d = debounce as Record<string, unknown>;
    const windowMs = typeof d.window_ms === "number" && d.window_ms > 0 ? d.window_ms : 0;
    if (windowMs > 0) {
      const maxWaitMs =
        typeof d.max_wait_ms === "number" && d.max_wait_ms >= windowMs
          ? d.max_wait_ms
          : Math.min(Math.max(windowMs * DEFAULT_DEBOUNCE_WAITS, windowMs), MAX_DEBOUNCE_WAIT_MS);
      const keyTemplate =
        typeof d.key_template === "string" ? d.key_template : DEFAULT_DEBOUNCE_KEY_TEMPLATE;
      bounce = { windowMs, maxWaitMs, keyTemplate };
    }
  }
  if (delayMs === 0 && runAt === null && bounce === null) return null;
  return { delayMs, runAt, debounce: bounce };
}

/** When one delivery is due, as ingest writes it. */
export interface PlannedTiming {
  /** Due this many milliseconds after ingest. */
  delayMs?: number;
  /** Due at this instant (ISO 8601). */
  dueAt?: string;
  /** Debounced: the key (tenant-prefixed), the window and the cap. */
  debounce?: { key: string; windowMs: number; maxWaitMs: number };
}

/** What templates read when timing is worked out (no delivery exists yet). */
function templateContext(event: ChangeEvent, observer: { id: string; name: string }) {
  return { event, observer, deliveryId: "", attempt: 1 } satisfies TemplateContext;
}

/**
 * When a delivery of `timing` for `event` is due. An instant or key that cannot be worked out
 * makes it due now: `timingFailure` dead-letters it with the reason when it is claimed.
 */
export function planTiming(
  timing: ActionTiming,
  event: ChangeEvent,
  observer: { id: string; name: string },
): PlannedTiming | null {
  if (timing.debounce) {
    const key = debounceKey(timing.debounce.keyTemplate, event, observer);
    if (typeof key !== "string") return null;
    return {
      debounce: {
        // Per tenant: a global observer never collapses one tenant's change into another's.
        key: `${event.tenant_id ?? ""}/${key}`,
        windowMs: timing.debounce.windowMs,
        maxWaitMs: timing.debounce.maxWaitMs,
      },
    };
  }
  if (timing.runAt !== null) {
    const at = runAtOf(timing.runAt, event, observer);
    return typeof at === "number" ? { dueAt: new Date(at).toISOString() } : null;
  }
  return timing.delayMs > 0 ? { delayMs: timing.delayMs } : null;
}

/**
 * Why a claimed delivery of `action` cannot run, or null: its `run_at_template` does not render
 * an instant (`INVALID_RUN_AT`), its debounce key renders empty or too long
 * (`INVALID_DEBOUNCE_KEY`). Only actions with timing fields pay for the check.
 */
export function timingFailure(
  action: unknown,
  event: ChangeEvent,
  observer: { id: string; name: string },
): { code: string; message: string } | null {
  const timing = actionTimingOf(action);
  if (timing === null) return null;
  if (timing.debounce) {
    const key = debounceKey(timing.debounce.keyTemplate, event, observer);
    return typeof key === "string" ? null : { code: INVALID_DEBOUNCE_KEY, message: key.error };
  }
  if (timing.runAt !== null) {
    const at = runAtOf(timing.runAt, event, observer);
    return typeof at === "number" ? null : { code: INVALID_RUN_AT, message: at.error };
  }
  return null;
}

function debounceKey(
  source: string,
  event: ChangeEvent,
  observer: { id: string; name: string },
): string | { error: string } {
  let key: string;
  try {
    key = renderTemplate(source, "text", templateContext(event, observer));
  } catch (error) {
    return { error: `debounce.key_template could not be rendered: ${String(error)}` };
  }
  if (key.trim() === "") {
    return { error: "debounce.key_template rendered an empty key for this change" };
  }
  if (key.length > MAX_DEBOUNCE_KEY_LENGTH) {
    return {
      error: `debounce.key_template rendered a key of ${key.length} characters (at most ${MAX_DEBOUNCE_KEY_LENGTH})`,
    };
  }
  return key;
}

function runAtOf(
  source: string,
  event: ChangeEvent,
  observer: { id: string; name: string },
): number | { error: string } {
  let text: string;
  try {
    text = renderTemplate(source, "text", templateContext(event, observer));
  } catch (error) {
    return { error: `run_at_template could not be rendered: ${String(error)}` };
  }
  const at = parseInstant(text);
  if (at !== undefined) return at;
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return {
    error: `run_at_template rendered ${JSON.stringify(shown)}, which is not an instant (RFC 3339, such as 2030-01-01T09:00:00Z)`,
  };
}

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

/**
 * An RFC 3339 date-time (PostgreSQL's JSON form of `timestamptz` included: `T` or a space,
 * any number of fractional digits) as epoch milliseconds; without an offset it is read as UTC.
 * Undefined for anything else, including impossible dates (February 30th).
 */
export function parseInstant(text: string): number | undefined {
  const m = INSTANT.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const ms = Number((m[7] ?? "0").padEnd(3, "0").slice(0, 3));
  const local = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (new Date(local).getUTCDate() !== d) return undefined;
  const sign = m[9] === "-" ? -1 : 1;
  const offsetH = Number(m[10] ?? 0);
  const offsetM = Number(m[11] ?? 0);
  if (offsetH > 23 || offsetM > 59) return undefined;
  const at = local - sign * (offsetH * 60 + offsetM) * 60_000;
  return Number.isFinite(at) ? at : undefined;
}
