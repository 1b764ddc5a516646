import { eventTypeOf, normalizeChangeEvent } from "../events/normalize.ts";
import type { EventType } from "../events/types.ts";
import type { JsonObject } from "../json.ts";
import type { ChangeRow } from "../store/change-log.ts";
import { bigintValue } from "../store/common.ts";
import type { ExecutionRow } from "../store/live.ts";

/** `payload=meta` (the default) or `payload=full` (with the row images). */
export type PayloadMode = "meta" | "full";

/** A captured change (DESIGN section 5). */
export interface ChangeMessage {
  type: "change";
  cursor: string;
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  event_type: EventType | string;
  fk_customer_org: number | string | null;
  created_at: string;
  /** With `payload=full`: the row before and after (null where there is none). */
  before?: JsonObject | null;
  after?: JsonObject | null;
  /** With `payload=full`, when the stored change cannot be read as an event. */
  unreadable?: string;
}

/** An attempt of an action: what the delivery log recorded. */
export interface ExecutionMessage {
  type: "execution";
  cursor: string;
  observer_id: string | null;
  observer_name: string | null;
  delivery_id: string | null;
  event_id: string;
  entity_type: string | null;
  entity_id: string | null;
  event_type: string | null;
  action_index: number | null;
  action_type: string | null;
  status: string;
  attempt: number;
  max_attempts: number;
  duration_ms: number | null;
  error_code: string | null;
  fk_customer_org: number | string | null;
  created_at: string;
}

export type LiveMessage = ChangeMessage | ExecutionMessage;

/** The event type a change-log row stands for (as the normaliser reads it). */
export function changeEventType(row: ChangeRow): EventType | string {
  return eventTypeOf(row.modification_type) ?? row.modification_type.toUpperCase();
}

function isoOf(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

/** A change message; with `full`, the images as the runtime reads them. */
export function changeMessage(row: ChangeRow, cursor: string, mode: PayloadMode): ChangeMessage {
  const message: ChangeMessage = {
    type: "change",
    cursor,
    event_id: row.id,
    entity_type: row.object_type,
    entity_id: row.object_id,
    event_type: changeEventType(row),
    fk_customer_org: bigintValue(row.fk_customer_org),
    created_at: isoOf(row.created_at),
  };
  if (mode === "meta") return message;
  try {
    const event = normalizeChangeEvent(row);
    return { ...message, before: event.before, after: event.after };
  } catch (error) {
    return { ...message, unreadable: error instanceof Error ? error.message : String(error) };
  }
}

/** An execution message. */
export function executionMessage(row: ExecutionRow, cursor: string): ExecutionMessage {
  return {
    type: "execution",
    cursor,
    observer_id: row.observer_id,
    observer_name: row.observer_name,
    delivery_id: row.delivery_id,
    event_id: row.event_id,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    event_type: row.event_type,
    action_index: row.action_index,
    action_type: row.action_type,
    status: row.status,
    attempt: row.attempt_number,
    max_attempts: row.max_attempts,
    duration_ms: row.duration_ms,
    error_code: row.error_code,
    fk_customer_org: bigintValue(row.fk_customer_org),
    created_at: row.created_at,
  };
}
