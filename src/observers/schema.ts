import * as v from "valibot";
import { actionConfigSchemaFor } from "../actions/config.ts";
import { defaultActionRegistry } from "../actions/registry.ts";
import type { ActionRegistry } from "../actions/types.ts";
import { parseCondition } from "../dsl/parser.ts";
import { EVENT_TYPES, type EventType } from "../events/types.ts";
import { retryConfigSchema } from "../executor/retry-policy.ts";
import { notArray } from "../validation.ts";
import { isTimezone, SCHEDULE_EVENT_TYPE, scheduleIssue } from "./schedule.ts";

/** Longest observer name accepted (FraiseQL's column is VARCHAR(255)). */
export const MAX_OBSERVER_NAME_LENGTH = 255;
/** Default per-action timeout when an observer sets none. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Longest per-action timeout an observer may ask for (a delivery's lease must outlast it). */
export const MAX_TIMEOUT_MS = 15 * 60_000;
export const DEFAULT_PRIORITY = 100;
/** The range of `priority`: PostgreSQL's INTEGER (FraiseQL's column). */
export const MIN_PRIORITY = -2_147_483_648;
export const MAX_PRIORITY = 2_147_483_647;
/** Most actions one observer may list. */
export const MAX_ACTIONS = 32;

function codePointCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/*
 * Each field's documentation sits in its schema (`v.metadata`, placed before any transformation):
 * the API's OpenAPI document is generated from these schemas (src/api/schemas/observers.ts), so
 * what is documented is what is validated.
 */

const name = v.pipe(
  v.string(),
  v.metadata({
    description: "Unique per tenant among live observers",
    examples: ["order-shipped"],
    // Characters are code points, as PostgreSQL's length() and JSON Schema's maxLength count them.
    maxLength: MAX_OBSERVER_NAME_LENGTH,
  }),
  v.trim(),
  v.nonEmpty("must not be empty"),
  // valibot's maxLength counts UTF-16 units: an emoji would count twice.
  v.check(
    (text) => codePointCount(text) <= MAX_OBSERVER_NAME_LENGTH,
    `must be at most ${MAX_OBSERVER_NAME_LENGTH} characters`,
  ),
);

const description = v.pipe(v.nullable(v.string()), v.description("Free text for people"));

const entityType = v.pipe(
  v.nullable(v.pipe(v.string(), v.trim(), v.nonEmpty("must not be empty (use null for all)"))),
  v.metadata({
    description: "The entity (object_type) to watch; null for every entity",
    examples: ["Order"],
  }),
);

/** What an observer's `event_type` may be: a kind of change, or SCHEDULE (docs/time.md). */
export const OBSERVER_EVENT_TYPES = [...EVENT_TYPES, SCHEDULE_EVENT_TYPE] as const;

const eventType = v.pipe(
  v.nullable(
    v.pipe(
      v.string(),
      v.metadata({ enum: [...OBSERVER_EVENT_TYPES] }),
      v.transform((value) => value.toUpperCase()),
      v.picklist(
        OBSERVER_EVENT_TYPES,
        `must be one of ${OBSERVER_EVENT_TYPES.join(", ")} (or null for every change)`,
      ),
    ),
  ),
  v.description(
    "INSERT, UPDATE, DELETE or CUSTOM (any case); null for every event type; SCHEDULE for a scheduled observer (with `schedule`)",
  ),
);

const schedule = v.pipe(
  v.nullable(
    v.pipe(
      v.string(),
      v.trim(),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const issue = scheduleIssue(dataset.value);
        if (issue !== null) addIssue({ message: issue });
      }),
    ),
  ),
  v.metadata({
    description:
      "For event_type SCHEDULE: a cron schedule, 5 fields (minute hour day month weekday) or 6 with seconds first (docs/time.md)",
    examples: ["0 9 * * 1-5", "*/10 * * * * *"],
  }),
);

const timezone = v.pipe(
  v.nullable(
    v.pipe(
      v.string(),
      v.trim(),
      v.check(isTimezone, "must be an IANA time zone, such as Europe/Paris or UTC"),
    ),
  ),
  v.metadata({
    description: "The IANA time zone the schedule is read in; null for UTC",
    examples: ["Europe/Paris"],
  }),
);

const condition = v.pipe(
  v.nullable(
    v.pipe(
      v.string(),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed || dataset.value.trim() === "") return;
        const parsed = parseCondition(dataset.value);
        if (parsed.success) return;
        for (const issue of parsed.issues) {
          addIssue({ message: `at position ${issue.position}: ${issue.message}` });
        }
      }),
    ),
  ),
  v.metadata({
    description: "A condition in the DSL (docs/conditions.md); null or empty fires on every change",
    examples: ["status == 'shipped' && changed(status)"],
  }),
);

const actionsOf = (registry: ActionRegistry) =>
  v.pipe(
    v.array(actionConfigSchemaFor(registry)),
    v.description(
      "What to do when it fires, in order; each action's fields depend on its `type` (ActionConfig)",
    ),
    v.minLength(1, "must list at least one action"),
    v.maxLength(MAX_ACTIONS, `must list at most ${MAX_ACTIONS} actions`),
  );

const onDeadLetterOf = (registry: ActionRegistry) =>
  v.pipe(
    v.array(actionConfigSchemaFor(registry)),
    v.description(
      "Actions run when one of this observer's deliveries is dead-lettered (docs/delivery.md), with the failure in the event (`dead_letter`); a failing one never runs on_dead_letter again",
    ),
    v.maxLength(MAX_ACTIONS, `must list at most ${MAX_ACTIONS} actions`),
  );

/** Timing fields an on_dead_letter action cannot take: it runs as soon as the dead letter is written. */
const UNTIMED_FIELDS = ["delay_ms", "run_at_template", "debounce"] as const;

/** What is wrong with `on_dead_letter`'s actions beyond their own schemas, by path. */
export function onDeadLetterIssues(
  actions: readonly Record<string, unknown>[],
): { path: (string | number)[]; message: string }[] {
  return actions.flatMap((action, index) =>
    UNTIMED_FIELDS.filter((key) => action[key] !== undefined).map((key) => ({
      path: ["on_dead_letter", index, key],
      message: `an on_dead_letter action runs when the dead letter is written: it takes no ${key}`,
    })),
  );
}

const enabled = v.pipe(v.boolean(), v.description("Whether it matches changes"));

/** Delivery order: `unordered` (default, fastest) or `per_entity` (docs/delivery.md). */
export const ORDERINGS = ["unordered", "per_entity"] as const;
export type Ordering = (typeof ORDERINGS)[number];
const ordering = v.pipe(
  v.picklist(ORDERINGS, 'must be "unordered" or "per_entity"'),
  v.description(
    "`per_entity`: the deliveries of one entity reach each action in commit order, a retrying one holding back later ones of the same entity; `unordered` (default): no order, fastest",
  ),
);

const priority = v.pipe(
  v.number(),
  v.description("Lower runs first"),
  v.safeInteger("must be an integer"),
  v.minValue(MIN_PRIORITY, `must be at least ${MIN_PRIORITY}`),
  v.maxValue(MAX_PRIORITY, `must be at most ${MAX_PRIORITY}`),
);

const timeoutMs = v.pipe(
  v.number(),
  v.description("Per-action timeout, in milliseconds"),
  v.safeInteger("must be an integer"),
  v.minValue(1, "must be at least 1"),
  v.maxValue(MAX_TIMEOUT_MS, `must be at most ${MAX_TIMEOUT_MS} (15 minutes)`),
);

/** A JSON object of these fields and no other (valibot alone would take an array for an object). */
const objectOf = <T extends v.ObjectEntries>(entries: T) =>
  v.pipe(v.unknown(), notArray(), v.strictObject(entries));

/** The fields the schedule rules read. */
interface ObserverShape {
  event_type: string | null;
  entity_type: string | null;
  condition_expression: string | null;
  schedule: string | null;
  timezone: string | null;
  actions: Record<string, unknown>[];
}

/**
 * What is wrong with an observer's schedule fields, by path: SCHEDULE needs a `schedule` and
 * watches no entity (no `entity_type`, no condition); only SCHEDULE takes `schedule`/`timezone`;
 * a tick has no change, so its actions take `delay_ms` but no `debounce` or `run_at_template`.
 */
export function scheduleRuleIssues(
  d: ObserverShape,
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (d.event_type !== SCHEDULE_EVENT_TYPE) {
    if (d.schedule != null)
      issues.push({ path: ["schedule"], message: "needs event_type SCHEDULE" });
    if (d.timezone != null)
      issues.push({ path: ["timezone"], message: "needs event_type SCHEDULE" });
    return issues;
  }
  if (d.schedule == null) {
    issues.push({ path: ["schedule"], message: "is required for event_type SCHEDULE" });
  }
  if (d.entity_type != null) {
    issues.push({
      path: ["entity_type"],
      message: "must be null for event_type SCHEDULE (a schedule watches no entity)",
    });
  }
  if (d.condition_expression != null && d.condition_expression.trim() !== "") {
    issues.push({
      path: ["condition_expression"],
      message: "must be null for event_type SCHEDULE (every tick fires)",
    });
  }
  d.actions.forEach((action, index) => {
    for (const key of ["debounce", "run_at_template"]) {
      if (action[key] === undefined) continue;
      issues.push({
        path: ["actions", index, key],
        message: `a scheduled observer's action takes delay_ms, not ${key} (a tick has no change to read)`,
      });
    }
  });
  return issues;
}

/** A path as valibot issues carry it, from keys. */
function issuePath(
  value: unknown,
  keys: (string | number)[],
): [v.IssuePathItem, ...v.IssuePathItem[]] {
  const items: v.IssuePathItem[] = [];
  let input = value;
  for (const key of keys) {
    const next = (input as Record<string | number, unknown>)?.[key];
    items.push(
      typeof key === "number"
        ? { type: "array", origin: "value", input: input as unknown[], key, value: next }
        : {
            type: "object",
            origin: "value",
            input: input as Record<string, unknown>,
            key,
            value: next,
          },
    );
    input = next;
  }
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

function buildSchemas(registry: ActionRegistry) {
  const actions = actionsOf(registry);
  const onDeadLetter = onDeadLetterOf(registry);
  /**
   * An observer as users write it (DESIGN section 3, FraiseQL-compatible): validated and
   * normalised, defaults filled.
   */
  const definition = v.pipe(
    v.unknown(),
    notArray(),
    v.strictObject({
      name,
      description: v.optional(description, null),
      entity_type: v.optional(entityType, null),
      event_type: v.optional(eventType, null),
      condition_expression: v.optional(condition, null),
      schedule: v.optional(schedule, null),
      timezone: v.optional(timezone, null),
      actions,
      on_dead_letter: v.optional(onDeadLetter, []),
      retry_config: v.optional(retryConfigSchema, {}),
      enabled: v.optional(enabled, true),
      priority: v.optional(priority, DEFAULT_PRIORITY),
      timeout_ms: v.optional(timeoutMs, DEFAULT_TIMEOUT_MS),
      ordering: v.optional(ordering, "unordered"),
    }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const issues = [
        ...scheduleRuleIssues(dataset.value as ObserverShape),
        ...onDeadLetterIssues(dataset.value.on_dead_letter as Record<string, unknown>[]),
      ];
      for (const issue of issues) {
        addIssue({ message: issue.message, path: issuePath(dataset.value, issue.path) });
      }
    }),
  );
  /**
   * A PATCH: any subset of the same fields, each validated (and normalised) as above, nothing
   * filled in. The store merges it onto the stored definition and validates the whole again.
   */
  const patch = objectOf({
    name: v.optional(name),
    description: v.optional(description),
    entity_type: v.optional(entityType),
    event_type: v.optional(eventType),
    condition_expression: v.optional(condition),
    schedule: v.optional(schedule),
    timezone: v.optional(timezone),
    actions: v.optional(actions),
    on_dead_letter: v.optional(onDeadLetter),
    retry_config: v.optional(retryConfigSchema),
    enabled: v.optional(enabled),
    priority: v.optional(priority),
    timeout_ms: v.optional(timeoutMs),
    ordering: v.optional(ordering),
  });
  return { definition, patch };
}

type ObserverSchemas = ReturnType<typeof buildSchemas>;
export type ObserverDefinitionSchema = ObserverSchemas["definition"];
export type ObserverPatchSchema = ObserverSchemas["patch"];

const cache = new WeakMap<ActionRegistry, ObserverSchemas>();

function schemasFor(registry: ActionRegistry): ObserverSchemas {
  let schemas = cache.get(registry);
  if (!schemas) {
    schemas = buildSchemas(registry);
    cache.set(registry, schemas);
  }
  return schemas;
}

/**
 * An observer (DESIGN section 3) whose actions are of `registry`'s types, validated and
 * normalised, defaults filled (cached per registry). The condition is parsed here, so a broken
 * one is refused at create time with positions instead of failing on every event.
 */
export function observerDefinitionSchemaFor(registry: ActionRegistry): ObserverDefinitionSchema {
  return schemasFor(registry).definition;
}

/** A partial update of such an observer: every field optional, none filled in, no other field. */
export function observerPatchSchemaFor(registry: ActionRegistry): ObserverPatchSchema {
  return schemasFor(registry).patch;
}

/** An observer whose actions are built-in ones. */
export const observerDefinitionSchema: ObserverDefinitionSchema =
  observerDefinitionSchemaFor(defaultActionRegistry);

/** A validated observer definition (what the store keeps and the runtime runs). */
export type ObserverDefinition = v.InferOutput<ObserverDefinitionSchema>;
/** The object schema inside `objectOf`'s pipe (its input type is the one clients write). */
type ObjectPart<S> = S extends { pipe: readonly [unknown, unknown, infer O, ...unknown[]] }
  ? O extends v.GenericSchema
    ? O
    : never
  : never;
/** What a client sends to create one. */
export type ObserverInput = v.InferInput<ObjectPart<ObserverDefinitionSchema>>;
/** What a client sends to change one. */
export type ObserverPatch = v.InferInput<ObjectPart<ObserverPatchSchema>>;
export type { EventType };
