import { NotFoundError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import {
  isoColumn,
  isUuid,
  observerTenantCondition,
  type TenantScope,
  tenantCondition,
} from "./common.ts";
import { inScope } from "./dead-letters.ts";
import { type TimeRangeOptions, timeRange, timeRangeCondition } from "./time-range.ts";

/*
 * What counts (from what src/store/outcomes.ts writes to core.tb_observer_log):
 * - An execution is one attempt of one action: a log row with an `action_index`. Its status is
 *   success, failed, timeout, cancelled or skipped; retries are separate executions.
 * - A row without an action is not an execution: it records a condition that could not be
 *   evaluated (with its observer) or a change that could not be read (without one). Those are
 *   counted as `condition_errors`.
 * - Durations are those of executions that have one (an attempt that never started has none).
 * - A tenant-scoped caller counts only its own rows: its tenant's (the log row's `fk_customer_org`)
 *   of its tenant's observers (a global observer's rows are the admin's, see
 *   `observerTenantCondition`), and likewise its dead letters.
 */

/** FraiseQL's `vw_observer_stats` row, plus `cancelled_executions` and `condition_errors`. */
export interface ObserverStats {
  observer_id: string;
  observer_name: string;
  entity_type: string | null;
  event_type: string | null;
  enabled: boolean;
  total_executions: number;
  successful_executions: number;
  failed_executions: number;
  timeout_executions: number;
  skipped_executions: number;
  cancelled_executions: number;
  /** successful / total × 100, rounded to 2 decimals; null without executions. */
  success_rate_pct: number | null;
  /** Rounded to 2 decimals; null without durations (also max and min). */
  avg_duration_ms: number | null;
  max_duration_ms: number | null;
  min_duration_ms: number | null;
  last_execution_at: string | null;
  condition_errors: number;
}

/** Totals over every observer and log row in scope. */
export interface StatsSummary {
  /** Live (not soft-deleted) observers. */
  observers: { total: number; enabled: number };
  executions: {
    total: number;
    successful: number;
    failed: number;
    timeout: number;
    skipped: number;
    cancelled: number;
  };
  success_rate_pct: number | null;
  avg_duration_ms: number | null;
  /** 95th percentile of the durations of successful and failed executions, rounded. */
  p95_duration_ms: number | null;
  condition_errors: number;
  /** The dead-letter queue now, whatever the window. */
  dead_letters: { pending: number; retrying: number };
  last_execution_at: string | null;
  /** The window, as ISO 8601 UTC, or null where open. */
  since: string | null;
  until: string | null;
}

/** Options of `observerStats`. */
export interface ObserverStatsOptions extends TenantScope, TimeRangeOptions {
  /** Only this observer (its public id): `NotFoundError` when absent, deleted or another tenant's. */
  observerId?: string;
}

/** Options of `statsSummary`. */
export interface StatsSummaryOptions extends TenantScope, TimeRangeOptions {}

/** The aggregates over log rows `l` (counts as text: BIGINT). */
const AGGREGATES = `
  count(*) FILTER (WHERE l.action_index IS NOT NULL)::text AS total,
  count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'success')::text AS successful,
  count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'failed')::text AS failed,
  count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'timeout')::text AS timeout,
  count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'skipped')::text AS skipped,
  count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'cancelled')::text AS cancelled,
  count(*) FILTER (WHERE l.action_index IS NULL)::text AS condition_errors,
  round(100.0 * count(*) FILTER (WHERE l.action_index IS NOT NULL AND l.status = 'success')
    / NULLIF(count(*) FILTER (WHERE l.action_index IS NOT NULL), 0), 2)::text AS success_rate,
  round(avg(l.duration_ms) FILTER (WHERE l.action_index IS NOT NULL), 2)::text AS avg_duration,
  max(l.duration_ms) FILTER (WHERE l.action_index IS NOT NULL) AS max_duration,
  min(l.duration_ms) FILTER (WHERE l.action_index IS NOT NULL) AS min_duration,
  ${isoColumn("max(l.created_at) FILTER (WHERE l.action_index IS NOT NULL)", "last_execution_at")}`;

interface AggregateRow {
  total: string;
  successful: string;
  failed: string;
  timeout: string;
  skipped: string;
  cancelled: string;
  condition_errors: string;
  success_rate: string | null;
  avg_duration: string | null;
  max_duration: number | null;
  min_duration: number | null;
  last_execution_at: string | null;
}

interface ObserverStatsRow extends AggregateRow {
  observer_id: string;
  observer_name: string;
  entity_type: string | null;
  event_type: string | null;
  enabled: boolean;
}

function num(text: string | null): number | null {
  return text === null ? null : Number(text);
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no observer with id ${quoted(id)}`);
}

/**
 * FraiseQL's per-observer statistics, one entry per live observer in scope, ordered like
 * `listObservers` (priority, then creation); with `observerId`, that observer alone. A bad
 * window is a ConfigError naming `since` or `until`.
 */
export async function observerStats(
  sql: SqlExecutor,
  options: ObserverStatsOptions = {},
): Promise<ObserverStats[]> {
  const range = timeRange(options);
  const observerId = options.observerId ?? null;
  if (observerId !== null && !isUuid(observerId)) throw notFound(observerId);
  // The lateral aggregate reads each observer's rows through the (fk_observer, created_at) index.
  const rows = await sql.query<ObserverStatsRow>(
    `SELECT o.id::text AS observer_id, o.name AS observer_name, o.entity_type, o.event_type,
       o.enabled, s.*
     FROM core.tb_observer o
     CROSS JOIN LATERAL (
       SELECT ${AGGREGATES}
       FROM core.tb_observer_log l
       WHERE l.fk_observer = o.pk_observer
         AND ${tenantCondition("l.fk_customer_org", 1)}
         AND ${timeRangeCondition("l.created_at", 2)}
     ) s
     WHERE o.deleted_at IS NULL
       AND ${tenantCondition("o.fk_customer_org", 1)}
       AND ($4::uuid IS NULL OR o.id = $4::uuid)
     ORDER BY o.priority, o.pk_observer`,
    [options.tenant ?? null, range.since, range.until, observerId],
  );
  if (observerId !== null && rows.length === 0) {
    throw notFound(observerId);
  }
  return rows.map((row) => ({
    observer_id: row.observer_id,
    observer_name: row.observer_name,
    entity_type: row.entity_type,
    event_type: row.event_type,
    enabled: row.enabled,
    total_executions: Number(row.total),
    successful_executions: Number(row.successful),
    failed_executions: Number(row.failed),
    timeout_executions: Number(row.timeout),
    skipped_executions: Number(row.skipped),
    cancelled_executions: Number(row.cancelled),
    success_rate_pct: num(row.success_rate),
    avg_duration_ms: num(row.avg_duration),
    max_duration_ms: row.max_duration,
    min_duration_ms: row.min_duration,
    last_execution_at: row.last_execution_at,
    condition_errors: Number(row.condition_errors),
  }));
}

interface SummaryRow extends AggregateRow {
  p95_duration: string | null;
  observers_total: string;
  observers_enabled: string;
  dlq_pending: string;
  dlq_retrying: string;
}

/**
 * Totals over everything in scope: live observers, every log row in the window (those of deleted
 * observers included: they are history), and the dead-letter queue as it is now.
 */
export async function statsSummary(
  sql: SqlExecutor,
  options: StatsSummaryOptions = {},
): Promise<StatsSummary> {
  const range = timeRange(options);
  const rows = await sql.query<SummaryRow>(
    `SELECT ${AGGREGATES},
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY l.duration_ms)
         FILTER (WHERE l.action_index IS NOT NULL AND l.status IN ('success', 'failed'))
         ::numeric)::text AS p95_duration,
       (SELECT count(*) FROM core.tb_observer o WHERE o.deleted_at IS NULL
          AND ${tenantCondition("o.fk_customer_org", 1)})::text
         AS observers_total,
       (SELECT count(*) FROM core.tb_observer o WHERE o.deleted_at IS NULL AND o.enabled
          AND ${tenantCondition("o.fk_customer_org", 1)})::text
         AS observers_enabled,
       (SELECT count(*) FROM core.tb_observer_dlq q WHERE q.status = 'pending'
          AND ${inScope(1)})::text
         AS dlq_pending,
       (SELECT count(*) FROM core.tb_observer_dlq q WHERE q.status = 'retrying'
          AND ${inScope(1)})::text
         AS dlq_retrying
     FROM core.tb_observer_log l
     WHERE ${tenantCondition("l.fk_customer_org", 1)}
       AND ${observerTenantCondition("l.fk_observer", 1, true)}
       AND ${timeRangeCondition("l.created_at", 2)}`,
    [options.tenant ?? null, range.since, range.until],
  );
  const row = rows[0] as SummaryRow;
  return {
    observers: { total: Number(row.observers_total), enabled: Number(row.observers_enabled) },
    executions: {
      total: Number(row.total),
      successful: Number(row.successful),
      failed: Number(row.failed),
      timeout: Number(row.timeout),
      skipped: Number(row.skipped),
      cancelled: Number(row.cancelled),
    },
    success_rate_pct: num(row.success_rate),
    avg_duration_ms: num(row.avg_duration),
    p95_duration_ms: num(row.p95_duration),
    condition_errors: Number(row.condition_errors),
    dead_letters: { pending: Number(row.dlq_pending), retrying: Number(row.dlq_retrying) },
    last_execution_at: row.last_execution_at,
    since: range.since,
    until: range.until,
  };
}
