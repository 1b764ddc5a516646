import type { JsonObject, JsonValue } from "../json.ts";

/**
 * The four kinds of change, as FraiseQL names them, and `SCHEDULE`: the event a scheduled
 * observer's tick or a one-off scheduled event fires (docs/time.md), never read from the change log.
 */
export type EventType = "INSERT" | "UPDATE" | "DELETE" | "CUSTOM" | "SCHEDULE";

/** Debezium operation codes: create, update, delete, read (snapshot / custom). */
export type ChangeOp = "c" | "u" | "d" | "r";

/** Every change event type, in FraiseQL's order (`SCHEDULE` is not a change). */
export const EVENT_TYPES: readonly EventType[] = ["INSERT", "UPDATE", "DELETE", "CUSTOM"];

/** One top-level field's change in an UPDATE. A field added has `old: null`; removed, `new: null`. */
export interface FieldChange {
  old: JsonValue;
  new: JsonValue;
}

/** Where a change came from (the Debezium `source` block, or what the capture trigger knows). */
export interface ChangeSource {
  [key: string]: JsonValue;
}

/**
 * The one event shape the condition evaluator, templates and actions see, whatever form the
 * change-log row was written in.
 */
export interface ChangeEvent {
  /** The change-log row's UUID: stable, the idempotency key for everything downstream. */
  id: string;
  /** `pk_entity_change_log` as a decimal string (ordering within one database), when known. */
  sequence: string | null;
  entity_type: string;
  entity_id: string | null;
  event_type: EventType;
  op: ChangeOp;
  /** The row before the change: null for inserts, and for updates captured without a pre-image. */
  before: JsonObject | null;
  /** The row after the change: null for deletes. */
  after: JsonObject | null;
  /**
   * Top-level fields that differ, for updates that carry a pre-image. Null for updates without one
   * (then `field_changed` cannot be answered) and for every other event type.
   */
  changes: Record<string, FieldChange> | null;
  /** The tenant (`fk_customer_org`, or FraiseQL's `tenant_id`) as a string; null when global. */
  tenant_id: string | null;
  /** When the change was written to the log, ISO 8601. */
  timestamp: string;
  /** The writing transaction's id, when the producer recorded it. */
  transaction_id: string | null;
  source: ChangeSource | null;
  /**
   * Only in the event of an `on_dead_letter` action (docs/delivery.md): the dead-lettered
   * delivery's failure. Its change is the rest of the event.
   */
  dead_letter?: DeadLetterFailure;
}

/** What an `on_dead_letter` action's event says of the failure (`{{ dead_letter.* }}`). */
export interface DeadLetterFailure {
  [key: string]: JsonValue;
  dead_letter_id: string;
  observer: { id: string; name: string };
  action_index: number;
  action_type: string;
  /** The failed delivery's webhook-id. */
  delivery_id: string;
  attempts: number;
  max_attempts: number;
  error_code: string | null;
  /** Already scrubbed of secrets, as the dead letter keeps it. */
  error_message: string | null;
  http_status: number | null;
  failed_at: string;
}
