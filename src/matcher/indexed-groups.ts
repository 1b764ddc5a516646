import { type PathNode, pathText } from "../dsl/ast.ts";
import { lookupPath, lookupSegments, MISSING } from "../dsl/paths.ts";
import type { ChangeEvent } from "../events/types.ts";
import { compareNumbers, isNumeric } from "../json.ts";
import { type IndexKey, type RangeOp, valueKey } from "./index-key.ts";

/** An observer as the matcher holds it. */
export interface Entry<O> {
  observer: O;
  order: number;
  priority: number;
  evaluate: (event: ChangeEvent) => boolean;
}

/** Observers whose first conjunct requires one of some values at a path. */
interface ValueGroup<O> {
  kind: "equals" | "changed_to" | "changed_from";
  path: PathNode;
  byValue: Map<string, Entry<O>[]>;
  all: Entry<O>[];
}

/** Observers whose first conjunct compares a path with a number, each list sorted by bound. */
interface RangeGroup<O> {
  kind: "range";
  path: PathNode;
  byOp: Record<RangeOp, { bound: number | bigint; entry: Entry<O> }[]>;
  all: Entry<O>[];
}

export type IndexedGroup<O> = ValueGroup<O> | RangeGroup<O>;

/** Files an entry under its index key, creating the group on first use. */
export function addIndexed<O>(
  groups: Map<string, IndexedGroup<O>>,
  key: IndexKey,
  entry: Entry<O>,
): void {
  const groupKey = `${key.kind}\u0000${key.path.image}\u0000${pathText(key.path)}`;
  let group = groups.get(groupKey);
  if (!group) {
    group =
      key.kind === "range"
        ? { kind: "range", path: key.path, byOp: { ">": [], ">=": [], "<": [], "<=": [] }, all: [] }
        : { kind: key.kind, path: key.path, byValue: new Map(), all: [] };
    groups.set(groupKey, group);
  }
  group.all.push(entry);
  if (group.kind === "range") {
    if (key.kind === "range") group.byOp[key.op].push({ bound: key.bound, entry });
    return;
  }
  if (key.kind === "range") return;
  for (const value of new Set(key.keys)) {
    const list = group.byValue.get(value);
    if (list) list.push(entry);
    else group.byValue.set(value, [entry]);
  }
}

/** Sorts range groups by bound; call once all entries are in. */
export function sealIndexed<O>(group: IndexedGroup<O>): void {
  if (group.kind !== "range") return;
  for (const list of Object.values(group.byOp))
    list.sort((a, b) => compareNumbers(a.bound, b.bound));
}

/**
 * Adds the group's entries whose first conjunct can be true for this event, or can fail: a
 * missing field or a value of the wrong type makes that conjunct an error the caller must hear of.
 */
export function collectIndexed<O>(
  group: IndexedGroup<O>,
  event: ChangeEvent,
  into: Entry<O>[],
): void {
  if (group.kind === "range") {
    collectRange(group, event, into);
    return;
  }
  let value: ReturnType<typeof lookupPath>;
  if (group.kind === "equals") {
    value = lookupPath(event, group.path);
    if (value === MISSING) {
      pushAll(group.all, into);
      return;
    }
  } else {
    // field_changed_to / _from: false outside updates, an error for updates without a pre-image.
    if (event.event_type !== "UPDATE") return;
    if (event.before === null) {
      pushAll(group.all, into);
      return;
    }
    value = lookupSegments(
      group.kind === "changed_to" ? event.after : event.before,
      group.path.segments,
    );
    if (value === MISSING) return;
  }
  const hit = valueKey(value);
  const entries = hit === undefined ? undefined : group.byValue.get(hit);
  if (entries) pushAll(entries, into);
}

function collectRange<O>(group: RangeGroup<O>, event: ChangeEvent, into: Entry<O>[]): void {
  const value = lookupPath(event, group.path);
  if (value === MISSING || !isNumeric(value) || Number.isNaN(value)) {
    pushAll(group.all, into);
    return;
  }
  const { byOp } = group;
  // path > bound fires for bounds below the value; path < bound for bounds above it.
  pushRange(byOp[">"], 0, firstIndex(byOp[">"], value, false), into);
  pushRange(byOp[">="], 0, firstIndex(byOp[">="], value, true), into);
  pushRange(byOp["<"], firstIndex(byOp["<"], value, true), byOp["<"].length, into);
  pushRange(byOp["<="], firstIndex(byOp["<="], value, false), byOp["<="].length, into);
}

/** The first index whose bound is >= value (or > value when `strictlyAbove`), by binary search. */
function firstIndex(
  list: { bound: number | bigint }[],
  value: number | bigint,
  strictlyAbove: boolean,
): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const order = compareNumbers((list[middle] as { bound: number | bigint }).bound, value);
    if (order < 0 || (strictlyAbove && order === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}

function pushRange<O>(
  list: { entry: Entry<O> }[],
  from: number,
  to: number,
  into: Entry<O>[],
): void {
  for (let i = from; i < to; i++) into.push((list[i] as { entry: Entry<O> }).entry);
}

function pushAll<O>(entries: Entry<O>[], into: Entry<O>[]): void {
  for (const entry of entries) into.push(entry);
}
