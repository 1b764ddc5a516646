import { ConfigError, type ConfigIssue } from "../errors.ts";
import { modificationTypesOf } from "../events/normalize.ts";
import { EVENT_TYPES, type EventType } from "../events/types.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { TenantScope } from "../store/common.ts";
import { type LiveReadFilter, readLivePositions } from "../store/live.ts";
import { getObserver } from "../store/observers.ts";
import { decodeCursor, isAfter, type LiveCursor } from "./cursor.ts";
import type { PayloadMode } from "./messages.ts";
import { changeTopic, executionTopic, type TopicFilter } from "./topics.ts";

/** A subscriber's filters, checked once when it subscribes. */
export interface LiveSubscription extends TopicFilter {
  eventType: EventType | null;
  payload: PayloadMode;
  /** Replay from here first (`since`), or null to start live. */
  since: LiveCursor | null;
  changeTopic: string;
  executionTopic: string;
  /** The same selection, for reading a backlog from the tables. */
  changes: LiveReadFilter;
  executions: LiveReadFilter;
}

/** The query parameters of `WS /api/observers/ws`. */
export const SUBSCRIPTION_PARAMETERS = [
  "entity_type",
  "event_type",
  "observer_id",
  "payload",
  "since",
  "token",
] as const;

/**
 * Reads a subscription from the upgrade request's query (DESIGN section 5): `entity_type`,
 * `event_type`, `observer_id` (its executions, and changes of its entity and event type),
 * `payload=meta|full`, `since=<cursor>`. The caller's tenant scope bounds everything, and an
 * `observer_id` the caller may not see is a `NotFoundError`. Every problem is one `ConfigError`.
 */
export async function parseSubscription(
  sql: SqlExecutor,
  query: Readonly<Record<string, string | undefined>>,
  scope: TenantScope,
): Promise<LiveSubscription> {
  const issues: ConfigIssue[] = [];
  for (const name of Object.keys(query)) {
    if (!(SUBSCRIPTION_PARAMETERS as readonly string[]).includes(name)) {
      issues.push({ path: name, message: `unknown parameter ${JSON.stringify(name)}` });
    }
  }
  let entityType = query.entity_type?.trim() || null;
  if (entityType !== null && entityType.length > 255) {
    issues.push({ path: "entity_type", message: "must be at most 255 characters" });
  }
  let eventType: EventType | null = null;
  if (query.event_type) {
    const upper = query.event_type.toUpperCase();
    if ((EVENT_TYPES as readonly string[]).includes(upper)) eventType = upper as EventType;
    else issues.push({ path: "event_type", message: `must be one of ${EVENT_TYPES.join(", ")}` });
  }
  const payload = query.payload ?? "meta";
  if (payload !== "meta" && payload !== "full") {
    issues.push({ path: "payload", message: 'must be "meta" or "full"' });
  }
  let since: LiveCursor | null = null;
  if (query.since) {
    try {
      since = decodeCursor(query.since);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues.push(...error.issues);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  if (since !== null) {
    // Every cursor this database's feed sent is behind the tables' end; one ahead of it comes
    // from another (or a restored) database, and waiting for it would wait forever.
    const end = await readLivePositions(sql);
    if (isAfter(since.changes, end.changes) || isAfter(since.executions, end.executions)) {
      throw new ConfigError([
        {
          path: "since",
          message: "is ahead of this database's tables: not a cursor this server sent",
        },
      ]);
    }
  }

  const observerId = query.observer_id || null;
  if (observerId !== null) {
    // Not found for other tenants' observers, like every other endpoint.
    const observer = await getObserver(sql, observerId, scope);
    entityType ??= observer.entity_type === "*" ? null : observer.entity_type;
    eventType ??= (observer.event_type as EventType | null) ?? null;
  }
  const filter: TopicFilter = {
    tenant: scope.tenant ?? null,
    entityType,
    eventType,
    observerId,
  };
  const modificationTypes = eventType === null ? null : modificationTypesOf(eventType);
  return {
    ...filter,
    eventType,
    payload: payload as PayloadMode,
    since,
    changeTopic: changeTopic(filter, payload as PayloadMode),
    executionTopic: executionTopic(filter),
    changes: { tenant: filter.tenant, entityType, modificationTypes },
    executions: { tenant: filter.tenant, entityType, modificationTypes, observerId },
  };
}
