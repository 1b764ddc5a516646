import { type ActionTiming, actionTimingOf } from "../actions/timing.ts";
import { createMatcher, type MatchableObserver, type Matcher } from "../matcher/matcher.ts";
import { SCHEDULE_EVENT_TYPE } from "../observers/schedule.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { loadObservers } from "../store/observer-rows.ts";

/** An observer as ingest needs it: what to match on, and how many actions to deliver. */
export interface LoadedObserver extends MatchableObserver {
  pk: string;
  id: string;
  name: string;
  /** The row's version: configuration parsed from it is cached under it. */
  version: string;
  /** Each action's JSON text, as a claim would read it. */
  actions: string[];
  /** Each action's timing (`delay_ms`, `run_at_template`, `debounce`), null for most. */
  timings: (ActionTiming | null)[];
  retryConfig: string;
  timeoutMs: number;
  /** Deliveries of one entity reach each action in commit order (docs/delivery.md). */
  perEntity: boolean;
  /** Paused: its deliveries are created due but never leased at creation (the claim holds them). */
  paused: boolean;
}

/** The enabled observers at one revision, indexed. */
export interface ObserverSet {
  revision: string;
  matcher: Matcher<LoadedObserver>;
  /** Enabled SCHEDULE observers: they fire on their ticks, outside the matcher. */
  scheduled: number;
  /** Names of the `per_entity` observers (NATS mode warns that it orders less strictly). */
  perEntity?: string[];
}

/** An empty set: nothing matches until the first load. */
export const EMPTY_OBSERVER_SET: ObserverSet = {
  revision: "",
  matcher: createMatcher<LoadedObserver>([]),
  scheduled: 0,
};

/** Loads the enabled observers and indexes them. */
export async function loadObserverSet(sql: SqlExecutor, logger: Logger): Promise<ObserverSet> {
  const { revision, observers } = await loadObservers(sql);
  // A scheduled observer fires on its ticks (src/store/schedules.ts), never on a change.
  const watching = observers.filter((row) => row.event_type !== SCHEDULE_EVENT_TYPE);
  const loaded = watching.map((row): LoadedObserver => {
    let actions: string[] = [];
    let timings: (ActionTiming | null)[] = [];
    try {
      const parsed: unknown = JSON.parse(row.actions);
      if (Array.isArray(parsed)) {
        actions = parsed.map((action) => JSON.stringify(action));
        timings = parsed.map(actionTimingOf);
      }
    } catch {}
    if (actions.length === 0) {
      logger.log("warn", "observer has no actions and will never deliver", {
        observer: row.name,
        observer_id: row.id,
      });
    }
    return {
      pk: row.pk_observer,
      id: row.id,
      name: row.name,
      version: row.version,
      actions,
      timings,
      retryConfig: row.retry_config,
      timeoutMs: row.timeout_ms,
      perEntity: row.ordering === "per_entity",
      paused: row.paused === true,
      entity_type: row.entity_type,
      event_type: row.event_type,
      condition_expression: row.condition_expression,
      enabled: row.enabled,
      priority: row.priority,
      fk_customer_org: row.fk_customer_org,
    };
  });
  return {
    revision,
    matcher: createMatcher(loaded),
    scheduled: observers.length - watching.length,
    perEntity: loaded.filter((o) => o.perEntity).map((o) => o.name),
  };
}
