import { type RetryConfig, retryConfigSchema } from "../executor/retry-policy.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import type { Ordering } from "../observers/schema.ts";
import { safeParseConfig } from "../validation.ts";
import { bigintValue, isoColumn } from "./common.ts";
import { redactActions } from "./redact.ts";

/** An action as responses show it: `{type, ...}` with every secret `[REDACTED]`. */
export type ActionView = JsonObject & { type: string };

/** An observer as the API returns it: every column but the internal key, secrets redacted. */
export interface Observer {
  /** The public id (UUID). */
  id: string;
  name: string;
  description: string | null;
  entity_type: string | null;
  event_type: string | null;
  condition_expression: string | null;
  /** For event_type SCHEDULE: the cron schedule and its time zone (docs/time.md). */
  schedule: string | null;
  timezone: string | null;
  actions: ActionView[];
  /** Actions run when one of its deliveries is dead-lettered (docs/delivery.md), secrets redacted. */
  on_dead_letter: ActionView[];
  /** The effective policy: what the row stores, defaults filled. */
  retry_config: RetryConfig;
  enabled: boolean;
  priority: number;
  timeout_ms: number;
  /** `unordered` or `per_entity` (docs/delivery.md). */
  ordering: Ordering;
  /** Paused: changes are matched and their deliveries held until resume (docs/delivery.md). */
  paused: boolean;
  paused_at: string | null;
  /** The tenant: a number, or its text when beyond 2^53; null for none. */
  fk_customer_org: number | string | null;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  updated_by: string | null;
  deleted_at: string | null;
}

/** An observer row as `OBSERVER_COLUMNS` reads it. */
export interface StoredObserverRow extends Record<string, unknown> {
  id: string;
  name: string;
  description: string | null;
  entity_type: string | null;
  event_type: string | null;
  condition_expression: string | null;
  schedule: string | null;
  timezone: string | null;
  actions: string;
  on_dead_letter: string | null;
  retry_config: string;
  enabled: boolean;
  priority: number;
  timeout_ms: number;
  ordering: string;
  paused_at: string | null;
  fk_customer_org: string | null;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  updated_by: string | null;
  deleted_at: string | null;
  /** The row version (`xmin`), for optimistic updates. */
  version: string;
}

/** The select (and RETURNING) list of an observer row. */
export const OBSERVER_COLUMNS = `id::text AS id, name, description, entity_type, event_type,
  condition_expression, schedule, timezone, actions::text AS actions, on_dead_letter::text AS on_dead_letter,
  retry_config::text AS retry_config, enabled,
  priority, timeout_ms, ordering, ${isoColumn("paused_at")}, fk_customer_org::text AS fk_customer_org, ${isoColumn("created_at")},
  ${isoColumn("updated_at")}, created_by, updated_by, ${isoColumn("deleted_at")},
  xmin::text AS version`;

/** The stored definition, secrets included: what a PATCH merges onto. */
export function storedDefinition(row: StoredObserverRow): Record<string, unknown> {
  return {
    name: row.name,
    description: row.description,
    entity_type: row.entity_type,
    event_type: row.event_type,
    condition_expression: row.condition_expression,
    schedule: row.schedule,
    timezone: row.timezone,
    actions: JSON.parse(row.actions) as unknown,
    on_dead_letter: row.on_dead_letter ? (JSON.parse(row.on_dead_letter) as unknown) : [],
    retry_config: JSON.parse(row.retry_config) as unknown,
    enabled: row.enabled,
    priority: row.priority,
    timeout_ms: row.timeout_ms,
    ordering: row.ordering,
  };
}

/** A row as the API's Observer JSON, secrets redacted. */
export function toObserver(row: StoredObserverRow): Observer {
  const actions = JSON.parse(row.actions) as JsonValue[];
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    entity_type: row.entity_type,
    event_type: row.event_type,
    condition_expression: row.condition_expression,
    schedule: row.schedule ?? null,
    timezone: row.timezone ?? null,
    // Stored actions passed validation: each is an object with a `type`.
    actions: redactActions(actions) as ActionView[],
    on_dead_letter: row.on_dead_letter
      ? (redactActions(JSON.parse(row.on_dead_letter) as JsonValue[]) as ActionView[])
      : [],
    retry_config: effectiveRetryConfig(JSON.parse(row.retry_config)),
    enabled: row.enabled,
    priority: Number(row.priority),
    timeout_ms: Number(row.timeout_ms),
    ordering: row.ordering === "per_entity" ? "per_entity" : "unordered",
    paused: row.paused_at !== null,
    paused_at: row.paused_at,
    fk_customer_org: bigintValue(row.fk_customer_org),
    created_at: row.created_at,
    updated_at: row.updated_at,
    created_by: row.created_by,
    updated_by: row.updated_by,
    deleted_at: row.deleted_at,
  };
}

/**
 * The policy the runtime applies to a stored `retry_config` (rows written by plain SQL may leave
 * fields out). A config no longer valid is shown as stored, so the problem stays visible.
 */
function effectiveRetryConfig(stored: unknown): RetryConfig {
  const result = safeParseConfig(retryConfigSchema, stored);
  return result.success ? result.output : (stored as RetryConfig);
}
