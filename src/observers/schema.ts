import * as v from "valibot";
import { actionConfigSchema } from "../actions/config.ts";
import { parseCondition } from "../dsl/parser.ts";
import { EVENT_TYPES, type EventType } from "../events/types.ts";
import { retryConfigSchema } from "../executor/retry-policy.ts";

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

function codePointCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

const condition = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed || dataset.value.trim() === "") return;
    const parsed = parseCondition(dataset.value);
    if (parsed.success) return;
    for (const issue of parsed.issues) {
      addIssue({ message: `at position ${issue.position}: ${issue.message}` });
    }
  }),
);

const eventType = v.pipe(
  v.string(),
  v.transform((value) => value.toUpperCase()),
  v.picklist(EVENT_TYPES, `must be one of ${EVENT_TYPES.join(", ")} (or null for all)`),
);

const entityType = v.pipe(v.string(), v.trim(), v.nonEmpty("must not be empty (use null for all)"));

/**
 * An observer as users write it (DESIGN section 3, FraiseQL-compatible): validated and normalised,
 * defaults filled. The condition is parsed here, so a broken one is refused at create time with
 * positions instead of failing on every event (FraiseQL stored it and failed at run time).
 */
export const observerDefinitionSchema = v.strictObject({
  name: v.pipe(
    v.string(),
    v.trim(),
    v.nonEmpty("must not be empty"),
    // Characters are code points, as PostgreSQL's length() and JSON Schema's maxLength count them
    // (valibot's maxLength counts UTF-16 units: an emoji would count twice).
    v.check(
      (name) => codePointCount(name) <= MAX_OBSERVER_NAME_LENGTH,
      `must be at most ${MAX_OBSERVER_NAME_LENGTH} characters`,
    ),
  ),
  description: v.optional(v.nullable(v.string()), null),
  entity_type: v.optional(v.nullable(entityType), null),
  event_type: v.optional(v.nullable(eventType), null),
  condition_expression: v.optional(v.nullable(condition), null),
  actions: v.pipe(
    v.array(actionConfigSchema),
    v.minLength(1, "must list at least one action"),
    v.maxLength(32, "must list at most 32 actions"),
  ),
  retry_config: v.optional(retryConfigSchema, {}),
  enabled: v.optional(v.boolean(), true),
  priority: v.optional(
    v.pipe(
      v.number(),
      v.safeInteger("must be an integer"),
      v.minValue(MIN_PRIORITY, `must be at least ${MIN_PRIORITY}`),
      v.maxValue(MAX_PRIORITY, `must be at most ${MAX_PRIORITY}`),
    ),
    DEFAULT_PRIORITY,
  ),
  timeout_ms: v.optional(
    v.pipe(
      v.number(),
      v.safeInteger("must be an integer"),
      v.minValue(1, "must be at least 1"),
      v.maxValue(MAX_TIMEOUT_MS, `must be at most ${MAX_TIMEOUT_MS} (15 minutes)`),
    ),
    DEFAULT_TIMEOUT_MS,
  ),
});

/** A validated observer definition (what the store keeps and the runtime runs). */
export type ObserverDefinition = v.InferOutput<typeof observerDefinitionSchema>;
export type { EventType };
