import { ConfigError, type ConfigIssue } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import {
  bigintValue,
  isoColumn,
  isUuid,
  observerTenantCondition,
  type Page,
  type PageRequest,
  pageBounds,
  type TenantScope,
  tenantCondition,
  toPage,
} from "./common.ts";
import { timeRange, timeRangeCondition } from "./time-range.ts";

/**
 * One `core.tb_observer_log` row as the API returns it: FraiseQL's fields plus ours. The request
 * and response payloads are never returned: they may hold secrets (headers, signed bodies) or
 * personal data from the change, and the API has no way to redact them field by field.
 */
export interface ObserverLog {
  pk_observer_log: number;
  id: string;
  /** The observer's internal key (FraiseQL's field); null for an unreadable change. */
  fk_observer: number | null;
  /** The observer's public id; null once the observer row is gone (hard-deleted). */
  observer_id: string | null;
  /** The webhook-id of the delivery; null for rows without an action. */
  delivery_id: string | null;
  event_id: string;
  entity_type: string | null;
  entity_id: string | null;
  event_type: string | null;
  /** success, failed, timeout, cancelled or skipped (pending and running are never written). */
  status: LogStatus;
  /** Null for a condition that could not be evaluated or a change that could not be read. */
  action_index: number | null;
  action_type: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  error_code: string | null;
  error_message: string | null;
  attempt_number: number;
  max_attempts: number;
  /** When the next attempt is due, on a row whose attempt will be retried. */
  next_retry_at: string | null;
  response_status_code: number | null;
  trace_id: string | null;
  /** The batch this attempt went out in (a webhook with `batch`), else null. */
  batch_id: string | null;
  /** An attempt of an `on_dead_letter` action: `action_index` indexes `on_dead_letter`. */
  on_dead_letter: boolean;
  /** The change's tenant: a number, or its text when beyond 2^53. */
  fk_customer_org: number | string | null;
  created_at: string;
}

/** Filters and page of `listLogs`. */
export interface ListLogsOptions extends PageRequest, TenantScope {
  /** Only this observer's rows (its public id). */
  observerId?: string;
  /** One of the statuses the table allows. */
  status?: string;
  eventId?: string;
  traceId?: string;
  /** ISO 8601 with a time zone; `created_at >= since`. */
  since?: string;
  /** ISO 8601 with a time zone; `created_at < until`. */
  until?: string;
}

/** The values of the table's CHECK on `status`. */
export const LOG_STATUSES = [
  "pending",
  "running",
  "success",
  "failed",
  "skipped",
  "timeout",
  "cancelled",
] as const;

/** A log row's status. */
export type LogStatus = (typeof LOG_STATUSES)[number];

interface LogRow extends Omit<ObserverLog, "pk_observer_log" | "fk_observer" | "fk_customer_org"> {
  pk_observer_log: string;
  fk_observer: string | null;
  fk_customer_org: string | null;
}

// request_payload and response_payload are left out on purpose (see ObserverLog); only the batch
// id and the on_dead_letter mark are read from request_payload, where the attempt records them.
const COLUMNS = `l.pk_observer_log::text AS pk_observer_log, l.id::text AS id,
  l.fk_observer::text AS fk_observer, o.id::text AS observer_id, l.delivery_id::text AS delivery_id,
  l.event_id::text AS event_id, l.entity_type, l.entity_id, l.event_type, l.status, l.action_index,
  l.action_type, ${isoColumn("l.started_at")}, ${isoColumn("l.completed_at")}, l.duration_ms,
  l.error_code, l.error_message, l.attempt_number, l.max_attempts, ${isoColumn("l.next_retry_at")},
  l.response_status_code, l.trace_id, l.request_payload ->> 'batch_id' AS batch_id,
  coalesce((l.request_payload ->> 'on_dead_letter')::boolean, false) AS on_dead_letter,
  l.fk_customer_org::text AS fk_customer_org,
  ${isoColumn("l.created_at")}`;
const FROM =
  "FROM core.tb_observer_log l LEFT JOIN core.tb_observer o ON o.pk_observer = l.fk_observer";

function toLog(row: LogRow): ObserverLog {
  return {
    ...row,
    // Identity keys stay far below 2^53 (FraiseQL's fields are numbers).
    pk_observer_log: Number(row.pk_observer_log),
    fk_observer: row.fk_observer === null ? null : Number(row.fk_observer),
    fk_customer_org: bigintValue(row.fk_customer_org),
  };
}

/** A page of log rows, newest first; ConfigError (naming the field) for a bad filter value. */
export async function listLogs(
  sql: SqlExecutor,
  options: ListLogsOptions,
): Promise<Page<ObserverLog>> {
  const issues: ConfigIssue[] = [];
  const observerId = options.observerId ?? null;
  const eventId = options.eventId ?? null;
  const status = options.status ?? null;
  if (observerId !== null && !isUuid(observerId)) {
    issues.push({ path: "observer_id", message: "must be an observer id (a UUID)" });
  }
  if (eventId !== null && !isUuid(eventId)) {
    issues.push({ path: "event_id", message: "must be an event id (a UUID)" });
  }
  if (status !== null && !(LOG_STATUSES as readonly string[]).includes(status)) {
    issues.push({ path: "status", message: `must be one of ${LOG_STATUSES.join(", ")}` });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const range = timeRange(options);
  const { page, limit, offset } = pageBounds(options);
  // The observer is matched by its pk, so the (fk_observer, created_at) index serves the filter.
  // A tenant-scoped caller sees its tenant's rows of its tenant's observers (not global ones').
  const where = `WHERE ${tenantCondition("l.fk_customer_org", 1)}
    AND ${observerTenantCondition("l.fk_observer", 1, true)}
    AND ($2::uuid IS NULL
      OR l.fk_observer = (SELECT pk_observer FROM core.tb_observer WHERE id = $2::uuid))
    AND ($3::text IS NULL OR l.status = $3::text)
    AND ($4::uuid IS NULL OR l.event_id = $4::uuid)
    AND ($5::text IS NULL OR l.trace_id = $5::text)
    AND ${timeRangeCondition("l.created_at", 6)}`;
  const params = [
    options.tenant ?? null,
    observerId,
    status,
    eventId,
    options.traceId ?? null,
    range.since,
    range.until,
  ];
  const [rows, counts] = await Promise.all([
    sql.query<LogRow>(
      `SELECT ${COLUMNS} ${FROM} ${where}
       ORDER BY l.created_at DESC, l.pk_observer_log DESC LIMIT $8::integer OFFSET $9::bigint`,
      [...params, limit, offset],
    ),
    sql.query<{ total: string }>(
      `SELECT count(*)::text AS total FROM core.tb_observer_log l ${where}`,
      params,
    ),
  ]);
  return toPage(rows.map(toLog), page, limit, Number(counts[0]?.total ?? 0));
}
