import { NO_ATTEMPT, type OutcomeRecord } from "../../src/store/outcomes.ts";

/**
 * A log-only outcome (no delivery, no observer), as ingest writes for a change it could not read:
 * the smallest record an outcome batch takes. `overrides` tell records apart.
 */
export function logOnlyRecord(overrides: Partial<OutcomeRecord> = {}): OutcomeRecord {
  return {
    pk: null,
    disposition: "log",
    status: "failed",
    attempt: 1,
    max_attempts: 1,
    ...NO_ATTEMPT,
    completed_at: new Date().toISOString(),
    error_code: "TEST",
    error_message: "a log-only record",
    fk_observer: null,
    observer_name: null,
    delivery_id: null,
    action_index: null,
    action_type: null,
    event_id: crypto.randomUUID(),
    fk_entity_change_log: null,
    entity_type: "Order",
    entity_id: null,
    event_type: "INSERT",
    fk_customer_org: null,
    trace_id: null,
    change: null,
    ...overrides,
  };
}
