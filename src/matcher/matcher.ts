import { type ObserversError, toObserversError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import { type ConditionCache, defaultConditionCache } from "./condition-cache.ts";
import { type IndexKey, indexKeyOf } from "./index-key.ts";
import {
  addIndexed,
  collectIndexed,
  type Entry,
  type IndexedGroup,
  sealIndexed,
} from "./indexed-groups.ts";

/** What the matcher needs of an observer (a `core.tb_observer` row has all of it). */
export interface MatchableObserver {
  entity_type?: string | null;
  /** INSERT, UPDATE, DELETE or CUSTOM (any case); null or absent matches every event type. */
  event_type?: string | null;
  condition_expression?: string | null;
  /** Disabled observers never match (default true). */
  enabled?: boolean;
  /** Lower runs first, as FraiseQL orders them (default 100). */
  priority?: number;
  /** The tenant the observer belongs to; null or absent means it sees every tenant's events. */
  fk_customer_org?: string | number | bigint | null;
}

/** What one event matched. */
export interface MatchResult<O> {
  /** Observers whose condition is true, by priority then by the order they were given in. */
  matched: O[];
  /** Observers whose condition could not be answered for this event, or does not parse. */
  errors: { observer: O; error: ObserversError }[];
  /** How many conditions were evaluated: what the indexes left to check. */
  evaluated: number;
}

/** Observers, indexed for matching events. */
export interface Matcher<O> {
  match(event: ChangeEvent): MatchResult<O>;
  /** Enabled observers held. */
  readonly size: number;
}

/** How a matcher is built. */
export interface MatcherOptions {
  /** Where compiled conditions are kept between matcher rebuilds (default: a shared LRU cache). */
  cache?: ConditionCache;
}

interface Bucket<O> {
  scan: Entry<O>[];
  groups: Map<string, IndexedGroup<O>>;
}

const ANY = "*";

/**
 * Indexes observers by tenant, event type and entity type (null = any), and by what their
 * condition's first conjunct requires (a value, a changed-to value, or a numeric bound), so an
 * event is evaluated only against observers that can fire for it: matching against 10 000
 * observers costs about what 10 do.
 */
export function createMatcher<O extends MatchableObserver>(
  observers: Iterable<O>,
  options: MatcherOptions = {},
): Matcher<O> {
  const cache = options.cache ?? defaultConditionCache;
  // tenant → event type → entity type → bucket; "*" stands for "any" at each level.
  const index: Index<O> = new Map();
  let size = 0;
  let order = 0;
  for (const observer of observers) {
    order++;
    if (observer.enabled === false) continue;
    size++;
    const entry: Entry<O> = {
      observer,
      order,
      priority: observer.priority ?? 100,
      evaluate: alwaysTrue,
    };
    let indexKey: IndexKey | undefined;
    const source = observer.condition_expression?.trim();
    if (source) {
      const compiled = cache.get(source);
      if (compiled instanceof Error) {
        entry.evaluate = () => {
          throw compiled;
        };
      } else {
        entry.evaluate = compiled.evaluate;
        indexKey = indexKeyOf(compiled.ast);
      }
    }
    const tenant = observer.fk_customer_org == null ? ANY : String(observer.fk_customer_org);
    const byEventType = getOrCreate(index, tenant, () => new Map<string, Map<string, Bucket<O>>>());
    const byEntityType = getOrCreate(
      byEventType,
      observer.event_type?.toUpperCase() ?? ANY,
      () => new Map<string, Bucket<O>>(),
    );
    const bucket = getOrCreate(
      byEntityType,
      observer.entity_type ?? ANY,
      (): Bucket<O> => ({ scan: [], groups: new Map() }),
    );
    if (indexKey) addIndexed(bucket.groups, indexKey, entry);
    else bucket.scan.push(entry);
  }
  for (const byEventType of index.values()) {
    for (const byEntityType of byEventType.values()) {
      for (const bucket of byEntityType.values()) {
        for (const group of bucket.groups.values()) sealIndexed(group);
      }
    }
  }

  return {
    size,
    match(event) {
      const candidates: Entry<O>[] = [];
      collectTenant(index.get(ANY), event, candidates);
      if (event.tenant_id !== null) collectTenant(index.get(event.tenant_id), event, candidates);
      const matched: Entry<O>[] = [];
      const failed: { entry: Entry<O>; error: ObserversError }[] = [];
      // Evaluate in index order (cache-friendly) and sort only what fired or failed.
      for (const entry of candidates) {
        try {
          if (entry.evaluate(event)) matched.push(entry);
        } catch (error: unknown) {
          failed.push({ entry, error: toObserversError(error) });
        }
      }
      matched.sort(byPriority);
      failed.sort((a, b) => byPriority(a.entry, b.entry));
      return {
        matched: matched.map((entry) => entry.observer),
        errors: failed.map(({ entry, error }) => ({ observer: entry.observer, error })),
        evaluated: candidates.length,
      };
    },
  };
}

type Index<O> = Map<string, Map<string, Map<string, Bucket<O>>>>;

function alwaysTrue(): boolean {
  return true;
}

function byPriority<O>(a: Entry<O>, b: Entry<O>): number {
  return a.priority - b.priority || a.order - b.order;
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

function collectTenant<O>(
  byEventType: Map<string, Map<string, Bucket<O>>> | undefined,
  event: ChangeEvent,
  into: Entry<O>[],
): void {
  if (!byEventType) return;
  for (const byEntityType of [byEventType.get(event.event_type), byEventType.get(ANY)]) {
    if (!byEntityType) continue;
    const exact = byEntityType.get(event.entity_type);
    if (exact) collect(exact, event, into);
    const any = byEntityType.get(ANY);
    if (any && any !== exact) collect(any, event, into);
  }
}

function collect<O>(bucket: Bucket<O>, event: ChangeEvent, into: Entry<O>[]): void {
  for (const entry of bucket.scan) into.push(entry);
  for (const group of bucket.groups.values()) collectIndexed(group, event, into);
}
