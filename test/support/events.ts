import type { ChangeEvent, EventType } from "../../src/index.ts";
import { normalizeChangeEvent } from "../../src/index.ts";

let counter = 0;

/** A change event built the way the runtime builds them: from a change-log row in producer form. */
export function changeEvent(
  eventType: EventType,
  images: { after?: Record<string, unknown> | null; before?: Record<string, unknown> | null },
  extra: Record<string, unknown> = {},
): ChangeEvent {
  counter++;
  return normalizeChangeEvent({
    id: `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`,
    pk_entity_change_log: counter,
    object_type: "Order",
    modification_type: eventType,
    object_id: "42",
    object_data: images.after ?? null,
    object_data_before: images.before ?? null,
    created_at: "2026-11-27T10:00:00Z",
    ...extra,
  });
}

export const insert = (after: Record<string, unknown>, extra?: Record<string, unknown>) =>
  changeEvent("INSERT", { after }, extra);
export const update = (
  after: Record<string, unknown>,
  before: Record<string, unknown> | null,
  extra?: Record<string, unknown>,
) => changeEvent("UPDATE", { after, before }, extra);
export const remove = (before: Record<string, unknown>, extra?: Record<string, unknown>) =>
  changeEvent("DELETE", { before }, extra);
