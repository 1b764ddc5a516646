import { ChangeEventError } from "../errors.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../json.ts";
import { diffImages } from "./diff.ts";
import { parseJson } from "./parse-json.ts";
import { readChangeLogRow } from "./row.ts";
import type { ChangeEvent, ChangeOp, ChangeSource, EventType } from "./types.ts";

const EVENT_TYPE_BY_MODIFICATION: Readonly<Record<string, EventType>> = {
  INSERT: "INSERT",
  UPDATE: "UPDATE",
  DELETE: "DELETE",
  CUSTOM: "CUSTOM",
  // Other FraiseQL producers write these for snapshot reads and no-op mutations.
  READ: "CUSTOM",
  NOOP: "CUSTOM",
  // A scheduled event as a claim or a dead letter presents it (src/store/claims.ts).
  SCHEDULE: "SCHEDULE",
};
/** The event type a `modification_type` stands for (any case), or undefined when unknown. */
export function eventTypeOf(modificationType: string): EventType | undefined {
  return EVENT_TYPE_BY_MODIFICATION[modificationType.toUpperCase()];
}

/**
 * The `modification_type` values (upper case) that become `eventType`, or every readable one when
 * it is null: for SQL that selects change-log rows as the normaliser would read them.
 */
export function modificationTypesOf(eventType: EventType | null): string[] {
  return Object.keys(EVENT_TYPE_BY_MODIFICATION).filter(
    (modification) => eventType === null || EVENT_TYPE_BY_MODIFICATION[modification] === eventType,
  );
}

const OP_BY_EVENT_TYPE: Readonly<Record<EventType, ChangeOp>> = {
  INSERT: "c",
  UPDATE: "u",
  DELETE: "d",
  CUSTOM: "r",
  SCHEDULE: "r",
};
const OPS = new Set<string>(["c", "u", "d", "r"]);

/**
 * Turns a `core.tb_entity_change_log` row into the event observers see. Accepts a Debezium
 * envelope in `object_data` (`{op, before, after, source}`) and the FraiseQL producer form
 * (after-image in `object_data`, pre-image in `object_data_before`). A malformed row raises a
 * `ChangeEventError` naming the column; nothing else is thrown.
 */
export function normalizeChangeEvent(row: unknown): ChangeEvent {
  try {
    return normalize(row);
  } catch (error: unknown) {
    if (error instanceof ChangeEventError) throw error;
    // Pathological input (JSON nested thousands deep overflows the stack): still a typed error.
    const reason = error instanceof RangeError ? "its JSON is nested too deeply" : String(error);
    throw new ChangeEventError("row", `could not be read: ${reason}`, { cause: error });
  }
}

function normalize(row: unknown): ChangeEvent {
  const r = readChangeLogRow(row);
  const eventType = EVENT_TYPE_BY_MODIFICATION[r.modification_type.toUpperCase()];
  if (!eventType) {
    throw new ChangeEventError(
      "modification_type",
      `'${r.modification_type}' is not INSERT, UPDATE, DELETE or CUSTOM`,
    );
  }
  const data = readJson(r.object_data, "object_data");
  const envelope = asEnvelope(data);
  let before: JsonObject | null;
  let after: JsonObject | null;
  let source: ChangeSource | null = null;
  if (envelope) {
    if (envelope.op !== OP_BY_EVENT_TYPE[eventType]) {
      throw new ChangeEventError(
        "object_data.op",
        `'${envelope.op}' disagrees with modification_type ${eventType} (expected '${OP_BY_EVENT_TYPE[eventType]}')`,
      );
    }
    before = readImage(envelope.before, "object_data.before");
    after = readImage(envelope.after, "object_data.after");
    source = readSource(envelope.source);
  } else {
    const image = readImage(data, "object_data");
    const pre = readImage(
      readJson(r.object_data_before, "object_data_before"),
      "object_data_before",
    );
    // A delete's row is its pre-image; some producers write it in object_data.
    before = eventType === "DELETE" ? (pre ?? image) : pre;
    after = eventType === "DELETE" ? null : image;
  }
  const changes = eventType === "UPDATE" && before && after ? diffImages(before, after) : null;
  const txid = r.transaction_id ?? sourceTxid(source);
  return {
    id: r.id,
    sequence: r.pk_entity_change_log == null ? null : String(r.pk_entity_change_log),
    entity_type: r.object_type,
    entity_id: r.object_id == null ? null : String(r.object_id),
    event_type: eventType,
    op: OP_BY_EVENT_TYPE[eventType],
    before,
    after,
    changes,
    tenant_id: tenantOf(r.fk_customer_org, r.tenant_id),
    timestamp: readTimestamp(r.created_at),
    transaction_id: txid == null ? null : String(txid),
    source,
  };
}

interface Envelope {
  op: string;
  before: JsonValue;
  after: JsonValue;
  source: JsonValue | undefined;
}

/** A Debezium envelope has `op` (c/u/d/r), `before` and `after`; an entity row with all three is not expected. */
function asEnvelope(data: JsonValue | null): Envelope | undefined {
  if (!isJsonObject(data)) return undefined;
  const op = data.op;
  if (
    typeof op !== "string" ||
    !OPS.has(op) ||
    !Object.hasOwn(data, "before") ||
    !Object.hasOwn(data, "after")
  ) {
    return undefined;
  }
  return {
    op,
    before: data.before as JsonValue,
    after: data.after as JsonValue,
    source: data.source,
  };
}

function readJson(value: unknown, field: string): JsonValue | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") return value as JsonValue;
  try {
    return parseJson(value);
  } catch (error: unknown) {
    throw new ChangeEventError(field, "is not valid JSON", { cause: error });
  }
}

function readImage(value: JsonValue | null, field: string): JsonObject | null {
  if (value === null) return null;
  if (!isJsonObject(value)) {
    throw new ChangeEventError(
      field,
      `must be a JSON object (the row), not ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  return value;
}

function readSource(value: JsonValue | undefined): ChangeSource | null {
  if (value === undefined || value === null) return null;
  if (!isJsonObject(value))
    throw new ChangeEventError("object_data.source", "must be a JSON object");
  return value;
}

function sourceTxid(source: ChangeSource | null): JsonValue | undefined {
  const txid = source?.txid;
  return typeof txid === "string" || typeof txid === "number" || typeof txid === "bigint"
    ? txid
    : undefined;
}

function tenantOf(
  org: string | number | bigint | null | undefined,
  tenant: string | null | undefined,
): string | null {
  if (org != null) return String(org);
  return tenant ?? null;
}

function readTimestamp(value: Date | string): string {
  let time = value instanceof Date ? value.getTime() : Date.parse(value);
  if (typeof value === "string" && Number.isNaN(time)) {
    // PostgreSQL's text form: "2026-11-27 04:49:40.123456+00". Not every runtime's Date.parse takes it.
    time = Date.parse(value.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"));
  }
  if (Number.isNaN(time))
    throw new ChangeEventError("created_at", `'${String(value)}' is not a timestamp`);
  return new Date(time).toISOString();
}
