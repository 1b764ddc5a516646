import { type ExplainResult, explainCondition } from "../dsl/explain.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { MatchableObserver } from "./matcher.ts";

/** Why an observer did or did not fire for an event: the first criterion that decided. */
export type MatchReason =
  | "fired"
  | "disabled"
  | "tenant"
  | "event_type"
  | "entity_type"
  | "condition_false"
  | "condition_error";

/** One observer against one event, as `createMatcher` would decide it, with the reason. */
export interface MatchExplanation {
  fired: boolean;
  reason: MatchReason;
  /** One sentence for people, e.g. `entity_type is "Order" but the change is a "User"`. */
  detail: string;
  /** The condition's explain tree; present when the condition was evaluated. */
  condition?: ExplainResult;
}

// The matcher reads "*" as "any", as FraiseQL's definitions wrote it.
const isAny = (value: string | null | undefined): boolean => value == null || value === "*";

/**
 * Decides one observer against one event exactly as `createMatcher` does (enabled, tenant, event
 * type, entity type, then the condition, which is evaluated only when every other criterion
 * passes), and says which criterion decided.
 */
export function explainMatch(observer: MatchableObserver, event: ChangeEvent): MatchExplanation {
  if (observer.enabled === false) {
    return { fired: false, reason: "disabled", detail: "the observer is disabled" };
  }
  if (observer.fk_customer_org != null) {
    const tenant = String(observer.fk_customer_org);
    if (event.tenant_id !== tenant) {
      return {
        fired: false,
        reason: "tenant",
        detail:
          event.tenant_id === null
            ? `the observer belongs to tenant ${tenant} but the change has no tenant`
            : `the observer belongs to tenant ${tenant} but the change is tenant ${event.tenant_id}'s`,
      };
    }
  }
  const eventType = observer.event_type?.toUpperCase();
  if (!isAny(eventType) && eventType !== event.event_type) {
    return {
      fired: false,
      reason: "event_type",
      detail: `event_type is ${JSON.stringify(observer.event_type)} but the change is ${/^[AEIOU]/.test(event.event_type) ? "an" : "a"} ${event.event_type}`,
    };
  }
  if (!isAny(observer.entity_type) && observer.entity_type !== event.entity_type) {
    return {
      fired: false,
      reason: "entity_type",
      detail: `entity_type is ${JSON.stringify(observer.entity_type)} but the change is a ${JSON.stringify(event.entity_type)}`,
    };
  }
  // The matcher compiles the trimmed source; explain the same text so both agree.
  const source = observer.condition_expression?.trim();
  if (!source) {
    return {
      fired: true,
      reason: "fired",
      detail: "every criterion matches and there is no condition",
    };
  }
  const condition = explainCondition(source, event);
  if (!condition.success) {
    const first = condition.issues[0];
    return {
      fired: false,
      reason: "condition_error",
      detail: first
        ? `the condition does not parse: at position ${first.position}: ${first.message}`
        : "the condition does not parse",
      condition,
    };
  }
  if (condition.result === null) {
    const message = condition.error?.message ?? "it could not be evaluated";
    return {
      fired: false,
      reason: "condition_error",
      detail: `the condition could not be evaluated for this change (at position ${condition.error?.position ?? 0}): ${message}`,
      condition,
    };
  }
  return condition.result
    ? {
        fired: true,
        reason: "fired",
        detail: "every criterion matches and the condition is true",
        condition,
      }
    : {
        fired: false,
        reason: "condition_false",
        detail: "the condition is false for this change",
        condition,
      };
}
