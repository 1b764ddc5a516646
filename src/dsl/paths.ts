import type { ChangeEvent } from "../events/types.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import type { PathImage, PathNode } from "./ast.ts";

/** Marks a path that leads nowhere (distinct from a present JSON `null`). */
export const MISSING: unique symbol = Symbol("missing");
/** What following a path gives: a value, or `MISSING`. */
export type Lookup = JsonValue | typeof MISSING;

/** The image a path reads: plain fields read the after-image, or the before-image of a delete. */
export function imageOf(event: ChangeEvent, image: PathImage): JsonObject | null {
  if (image === "old") return event.before;
  if (image === "new") return event.after;
  return event.event_type === "DELETE" ? event.before : event.after;
}

const INDEX = /^[0-9]+$/;

/** Follows `segments` down from `root`; digit segments index arrays (as PostgreSQL's `#>` does). */
export function lookupSegments(root: JsonValue | null, segments: readonly string[]): Lookup {
  let current: JsonValue | typeof MISSING = root ?? MISSING;
  for (const segment of segments) {
    if (current === MISSING || current === null || typeof current !== "object") return MISSING;
    if (Array.isArray(current)) {
      if (!INDEX.test(segment)) return MISSING;
      const index = Number(segment);
      current = index < current.length ? (current[index] as JsonValue) : MISSING;
    } else {
      current = Object.hasOwn(current, segment) ? (current[segment] as JsonValue) : MISSING;
    }
  }
  return current;
}

/** The value a path names in an event, or `MISSING`. */
export function lookupPath(event: ChangeEvent, path: PathNode): Lookup {
  return lookupSegments(imageOf(event, path.image), path.segments);
}

/** Why a path found nothing, in words that point at the fix. */
export function describeMissing(event: ChangeEvent, path: PathNode, written: string): string {
  const image = imageOf(event, path.image);
  if (image === null) {
    const readsBefore =
      path.image === "old" || (path.image === "data" && event.event_type === "DELETE");
    const which = readsBefore ? "before" : "after";
    const hint =
      which === "before" && event.event_type !== "INSERT"
        ? " (capture it with the pre_image option of core.fn_track_table)"
        : "";
    return `field '${written}' cannot be read: this ${event.event_type} event has no ${which}-image${hint}`;
  }
  return `field '${written}' is not in the ${event.event_type} event's data (use has_field('${written}') to test for it)`;
}
