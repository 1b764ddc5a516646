/**
 * The NATS wire format: FraiseQL's `EntityEvent` JSON on
 * `<prefix>.<entity_type>.<INSERT|UPDATE|DELETE|CUSTOM>`, with the Debezium-style `op`, `before`,
 * `after` and `source` beside it, and the headers workers need to refer to the change row.
 */
import { normalizeChangeEvent } from "../events/normalize.ts";
import { parseJson } from "../events/parse-json.ts";
import type { ChangeEvent } from "../events/types.ts";
import { isJsonObject, type JsonObject, type JsonValue, stringifyJson } from "../json.ts";
import type { IncomingMessage, OutgoingChange } from "../ports/transport.ts";
import type { ChangeRow } from "../store/change-log.ts";
import { decodeSubjectToken, encodeSubjectToken } from "./subject.ts";

/** `pk_entity_change_log` of the change (workers create their deliveries against it). */
export const CHANGE_LOG_ID_HEADER = "Fraiseql-Change-Log-Id";
/** The change's internal tenant (`fk_customer_org`), when it has one. */
export const CUSTOMER_ORG_HEADER = "Fraiseql-Customer-Org";

const VERBS = new Set(["INSERT", "UPDATE", "DELETE", "CUSTOM"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER = /^\d{1,19}$/;

/** A message a worker cannot turn into a change: dead-lettered with its raw payload. */
export class UndecodableMessage extends Error {}

/** A decoded change whose images were too large to travel: read it from the change log. */
export type DecodedChange = ChangeRow & { truncated?: true };

/** Bytes kept free under the broker's limit for the headers and framing. */
const HEADROOM = 1_024;

/**
 * The message of one change-log row. A row the normaliser cannot read still travels, raw. One
 * whose payload would exceed `maxPayloadBytes` travels without its images (`truncated: true`):
 * subscribers read them from the change log, as workers do.
 */
export function encodeChange(
  row: ChangeRow,
  prefix: string,
  maxPayloadBytes = Number.POSITIVE_INFINITY,
): OutgoingChange {
  const headers: Record<string, string> = { [CHANGE_LOG_ID_HEADER]: row.pk_entity_change_log };
  if (row.fk_customer_org !== null) headers[CUSTOMER_ORG_HEADER] = row.fk_customer_org;
  let event: ChangeEvent | null = null;
  let unreadable: string | null = null;
  try {
    event = normalizeChangeEvent(row);
  } catch (error: unknown) {
    unreadable = error instanceof Error ? error.message : String(error);
  }
  const verb = event?.event_type ?? verbOf(row.modification_type);
  const payload: JsonObject = {
    id: row.id,
    event_type: verb,
    entity_type: row.object_type,
    entity_id: row.object_id,
    data: event ? (event.after ?? event.before ?? {}) : null,
    changes: (event?.changes as JsonObject | null | undefined) ?? null,
    user_id: null,
    tenant_id: row.tenant_id,
    timestamp: event?.timestamp ?? timestampOf(row.created_at),
    duration_ms: null,
    seq: BigInt(row.pk_entity_change_log),
    actor_type: null,
    acting_for: null,
    schema_version: null,
    cdc_source: null,
    op: event?.op ?? null,
    before: event?.before ?? null,
    after: event?.after ?? null,
    source: event?.source ?? null,
    transaction_id: row.transaction_id,
    trace_id: row.trace_id,
  };
  if (unreadable !== null) {
    payload.unreadable = {
      error: unreadable,
      modification_type: row.modification_type,
      object_data: row.object_data,
      object_data_before: row.object_data_before,
    };
  }
  let text = stringifyJson(payload);
  const limit = maxPayloadBytes - HEADROOM;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: encode to measure only when it could matter.
  if (text.length * 3 > limit && new TextEncoder().encode(text).length > limit) {
    text = stringifyJson({
      ...payload,
      data: null,
      changes: null,
      before: null,
      after: null,
      source: null,
      unreadable: null,
      truncated: true,
    });
  }
  return {
    subject: `${prefix}.${encodeSubjectToken(row.object_type)}.${verb}`,
    messageId: row.id,
    headers,
    payload: text,
  };
}

function verbOf(modificationType: string): string {
  const upper = modificationType.toUpperCase();
  return VERBS.has(upper) ? upper : "CUSTOM";
}

function timestampOf(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

/**
 * The change-log row a message stands for, as the PostgreSQL path would have read it: the event
 * observers see from it is the same. Throws `UndecodableMessage` naming what is wrong.
 */
export function decodeChange(message: IncomingMessage, prefix: string): DecodedChange {
  let value: JsonValue;
  try {
    value = parseJson(new TextDecoder("utf-8", { fatal: true }).decode(message.payload));
  } catch {
    throw new UndecodableMessage("the payload is not UTF-8 JSON");
  }
  if (!isJsonObject(value)) throw new UndecodableMessage("the payload is not a JSON object");
  const p = value;
  const id = p.id;
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new UndecodableMessage("id must be the change's UUID");
  }
  if (typeof p.entity_type !== "string") throw new UndecodableMessage("entity_type is missing");
  if (typeof p.event_type !== "string" || !VERBS.has(p.event_type)) {
    throw new UndecodableMessage("event_type must be INSERT, UPDATE, DELETE or CUSTOM");
  }
  if (typeof p.timestamp !== "string") throw new UndecodableMessage("timestamp is missing");
  const changeLogId = message.header(CHANGE_LOG_ID_HEADER);
  if (changeLogId === undefined || !INTEGER.test(changeLogId)) {
    throw new UndecodableMessage(`header ${CHANGE_LOG_ID_HEADER} must be the change-log id`);
  }
  const org = message.header(CUSTOMER_ORG_HEADER);
  if (org !== undefined && !/^-?\d{1,19}$/.test(org)) {
    throw new UndecodableMessage(`header ${CUSTOMER_ORG_HEADER} must be an integer`);
  }
  const rest = message.subject.startsWith(`${prefix}.`)
    ? message.subject.slice(prefix.length + 1).split(".")
    : [];
  if (
    rest.length !== 2 ||
    decodeSubjectToken(rest[0] as string) !== p.entity_type ||
    rest[1] !== p.event_type
  ) {
    throw new UndecodableMessage(
      `the subject is not ${prefix}.<entity_type>.<event_type> of the payload's entity_type and event_type`,
    );
  }
  const row: DecodedChange = {
    pk_entity_change_log: changeLogId,
    id: id.toLowerCase(),
    object_type: p.entity_type,
    modification_type: p.event_type,
    object_id: textOrNull(p.entity_id, "entity_id"),
    object_data: null,
    object_data_before: null,
    fk_customer_org: org ?? null,
    tenant_id: textOrNull(p.tenant_id, "tenant_id"),
    trace_id: textOrNull(p.trace_id, "trace_id"),
    transaction_id: textOrNull(p.transaction_id, "transaction_id") ?? "0",
    created_at: p.timestamp,
  };
  if (p.truncated === true) {
    row.truncated = true;
    return row;
  }
  const unreadable = p.unreadable;
  if (isJsonObject(unreadable)) {
    // The bridge could not read this row either: the worker logs it as the PostgreSQL path does.
    row.modification_type = textOrNull(unreadable.modification_type, "modification_type") ?? "";
    row.object_data = textOrNull(unreadable.object_data, "object_data");
    row.object_data_before = textOrNull(unreadable.object_data_before, "object_data_before");
    return row;
  }
  if (typeof p.op !== "string") throw new UndecodableMessage("op is missing");
  // The Debezium envelope: the normaliser reads before, after and source from it exactly.
  row.object_data = stringifyJson({
    op: p.op,
    before: p.before ?? null,
    after: p.after ?? null,
    source: p.source ?? null,
  });
  return row;
}

function textOrNull(value: JsonValue | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  throw new UndecodableMessage(`${field} must be a string`);
}
