import * as v from "valibot";
import { actionConfigSchemaFor } from "../actions/config.ts";
import { defaultActionRegistry } from "../actions/registry.ts";
import type { ActionRegistry } from "../actions/types.ts";
import { parseCondition } from "../dsl/parser.ts";
import { EVENT_TYPES, type EventType } from "../events/types.ts";
import { retryConfigSchema } from "../executor/retry-policy.ts";
import { notArray } from "../validation.ts";

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

const eventType = v.pipe(
  v.nullable(
    v.pipe(
      v.string(),
      v.metadata({ enum: [...EVENT_TYPES] }),
      v.transform((value) => value.toUpperCase()),
      v.picklist(EVENT_TYPES, `must be one of ${EVENT_TYPES.join(", ")} (or null for all)`),
    ),
  ),
  v.description("INSERT, UPDATE, DELETE or CUSTOM (any case); null for every event type"),
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

const enabled = v.pipe(v.boolean(), v.description("Whether it matches changes"));

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

function buildSchemas(registry: ActionRegistry) {
  const actions = actionsOf(registry);
  /**
   * An observer as users write it (DESIGN section 3, FraiseQL-compatible): validated and
   * normalised, defaults filled.
   */
  const definition = objectOf({
    name,
    description: v.optional(description, null),
    entity_type: v.optional(entityType, null),
    event_type: v.optional(eventType, null),
    condition_expression: v.optional(condition, null),
    actions,
    retry_config: v.optional(retryConfigSchema, {}),
    enabled: v.optional(enabled, true),
    priority: v.optional(priority, DEFAULT_PRIORITY),
    timeout_ms: v.optional(timeoutMs, DEFAULT_TIMEOUT_MS),
  });
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
    actions: v.optional(actions),
    retry_config: v.optional(retryConfigSchema),
    enabled: v.optional(enabled),
    priority: v.optional(priority),
    timeout_ms: v.optional(timeoutMs),
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
type ObjectPart<S> = S extends { pipe: readonly [unknown, unknown, infer O] }
  ? O extends v.GenericSchema
    ? O
    : never
  : never;
/** What a client sends to create one. */
export type ObserverInput = v.InferInput<ObjectPart<ObserverDefinitionSchema>>;
/** What a client sends to change one. */
export type ObserverPatch = v.InferInput<ObjectPart<ObserverPatchSchema>>;
export type { EventType };
