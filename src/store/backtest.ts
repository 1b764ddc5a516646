/**
 * "How often would this observer have fired?": an observer, or a draft of its condition, run
 * over a time range of the retained change log, in PostgreSQL where the condition has an exact
 * SQL form and evaluated here otherwise.
 */
import { parseCondition } from "../dsl/parser.ts";
import { conditionToSql } from "../dsl/sql.ts";
import { ConfigError, type ConfigIssue, LimitError } from "../errors.ts";
import { modificationTypesOf, normalizeChangeEvent } from "../events/normalize.ts";
import { type ChangeEvent, EVENT_TYPES, type EventType } from "../events/types.ts";
import { createMatcher } from "../matcher/matcher.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { CHANGE_COLUMNS, type ChangeRow } from "./change-log.ts";
import { isoColumn, type TenantScope, tenantCondition } from "./common.ts";
import { timeRange } from "./time-range.ts";

/** What a backtest replays: an observer (stored or draft) over a range of the change log. */
export interface BacktestOptions extends TenantScope {
  observer: {
    entity_type: string | null;
    event_type: string | null;
    condition_expression: string | null;
    fk_customer_org: string | null;
  };
  /** ISO 8601 with a time zone; the range is `since <= created_at < until`. */
  since: string;
  until: string;
  /** Samples of changes that fire, earliest first (default 10, at most 100). */
  sampleLimit?: number;
  /**
   * Changes considered at most, the first by key (default 100 000), on both paths; beyond,
   * `truncated` is set and the counts cover only those.
   */
  scanLimit?: number;
  /** Longest range `until - since` allowed, in days (default 31): `LimitError` beyond. */
  maxRangeDays?: number;
}

/** One change a backtest found the observer firing for. */
export interface BacktestSample {
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  event_type: string;
  created_at: string;
}

/** How often an observer would have fired over a range of the change log. */
export interface BacktestResult {
  /** `sql`: counted by PostgreSQL; `evaluated`: the condition has no SQL form, so it ran here. */
  method: "sql" | "evaluated";
  /** Why the condition has no SQL form, when evaluated. */
  sql_unavailable_reason?: string;
  since: string;
  until: string;
  /** Changes in range matching the entity type, event type and tenant. */
  considered: number;
  fired: number;
  /** Changes for which the condition could not be evaluated. */
  errors: number;
  /** More changes were in range than `scanLimit`: the counts cover only the first, by key. */
  truncated: boolean;
  samples: BacktestSample[];
}

const DEFAULT_SAMPLES = 10;
const MAX_SAMPLES = 100;
const DEFAULT_SCAN_LIMIT = 100_000;
const DEFAULT_MAX_RANGE_DAYS = 31;
const DAY_MS = 86_400_000;
const PAGE_SIZE = 1_000;
const EVENT_TYPE_SQL = `(CASE WHEN upper(e.modification_type) IN ('READ', 'NOOP') THEN 'CUSTOM'
  ELSE upper(e.modification_type) END)`;
const SAMPLE_COLUMNS = `e.id::text AS event_id, e.object_type AS entity_type,
  e.object_id::text AS entity_id, ${EVENT_TYPE_SQL} AS event_type, ${isoColumn("e.created_at")}`;

interface Range {
  since: string;
  until: string;
  sampleLimit: number;
  scanLimit: number;
  condition: string | undefined;
}

function validateBacktest(options: BacktestOptions): Range {
  const issues: ConfigIssue[] = [];
  let window = { since: "", until: "" };
  try {
    const checked = timeRange({ since: options.since, until: options.until });
    window = { since: checked.since ?? "", until: checked.until ?? "" };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  const count = (path: string, value: number | undefined, fallback: number, max: number) => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < 0 || value > max) {
      issues.push({ path, message: `must be an integer from 0 to ${max}` });
    }
    return value;
  };
  const sampleLimit = count("sample_limit", options.sampleLimit, DEFAULT_SAMPLES, MAX_SAMPLES);
  const scanLimit = count(
    "scan_limit",
    options.scanLimit,
    DEFAULT_SCAN_LIMIT,
    Number.MAX_SAFE_INTEGER,
  );
  if (options.scanLimit === 0) issues.push({ path: "scan_limit", message: "must be at least 1" });
  const condition = options.observer.condition_expression?.trim() || undefined;
  if (issues.length > 0) throw new ConfigError(issues);
  const maxDays = options.maxRangeDays ?? DEFAULT_MAX_RANGE_DAYS;
  const days = (Date.parse(window.until) - Date.parse(window.since)) / DAY_MS;
  if (days > maxDays) {
    throw new LimitError(
      "BACKTEST_RANGE_TOO_LONG",
      `since..until spans ${Math.ceil(days)} days; a backtest or replay may cover at most ${maxDays} days (OBSERVERS_BACKTEST_MAX_RANGE_DAYS): narrow the range`,
      maxDays,
    );
  }
  return { ...window, sampleLimit, scanLimit, condition };
}

const isAny = (value: string | null) => value === null || value === "*";
const isEventType = (value: string | null | undefined): value is EventType =>
  (EVENT_TYPES as readonly (string | null | undefined)[]).includes(value);

/**
 * The `modification_type` values (upper case) of the changes an observer of `eventType` considers
 * (`*` or null: every readable one), as the matcher reads them: for SQL that selects them.
 */
export function modificationsMatching(eventType: string | null): string[] {
  const wanted = isAny(eventType) ? null : eventType?.toUpperCase();
  if (isEventType(wanted)) return modificationTypesOf(wanted);
  return wanted ? [] : modificationTypesOf(null);
}

/**
 * The WHERE clause shared by both paths ($1..$7) and its parameters: what `createMatcher`
 * filters, and (`$7`, set once known) the key the scan stops before when the range holds more
 * than `scanLimit` changes.
 */
function rangeFilter(options: BacktestOptions, range: Range): { where: string; params: unknown[] } {
  const { observer } = options;
  const modifications = modificationsMatching(observer.event_type);
  return {
    where: `e.created_at >= $1::text::timestamptz AND e.created_at < $2::text::timestamptz
      AND upper(e.modification_type) = ANY($3::text::text[])
      AND ($4::text IS NULL OR e.object_type = $4::text)
      AND ($5::text IS NULL OR COALESCE(e.fk_customer_org::text, e.tenant_id::text) = $5::text)
      AND ${tenantCondition("e.fk_customer_org", 6)}
      AND ($7::text::bigint IS NULL OR e.pk_entity_change_log < $7::text::bigint)`,
    params: [
      range.since,
      range.until,
      `{${modifications.join(",")}}`,
      isAny(observer.entity_type) ? null : observer.entity_type,
      observer.fk_customer_org,
      options.tenant ?? null,
      null,
    ],
  };
}

/**
 * Bounds the scan: when the range holds more than `scanLimit` changes, sets the filter's stop key
 * to the first one past the limit (by key) and says so.
 */
async function boundScan(sql: SqlExecutor, range: Range, filter: Filter): Promise<boolean> {
  const rows = await sql.query<{ pk: string }>(
    `SELECT e.pk_entity_change_log::text AS pk FROM core.tb_entity_change_log e
     WHERE ${filter.where} ORDER BY e.pk_entity_change_log OFFSET $8::bigint LIMIT 1`,
    [...filter.params, range.scanLimit],
  );
  const stop = rows[0]?.pk;
  if (stop === undefined) return false;
  filter.params[6] = stop;
  return true;
}

/**
 * Counts how often an observer (or a draft) would have fired over `since <= created_at < until`:
 * in one SQL aggregate when its condition has a faithful SQL form, else by reading the range in
 * key order and evaluating each change as the matcher does, up to `scanLimit` changes. A condition
 * that does not parse is a `ConfigError` with its positions.
 */
export async function backtestObserver(
  sql: SqlExecutor,
  options: BacktestOptions,
): Promise<BacktestResult> {
  const range = validateBacktest(options);
  const filter = rangeFilter(options, range);
  if (range.condition === undefined) return backtestSql(sql, range, filter, "TRUE", []);
  const parsed = parseCondition(range.condition);
  if (!parsed.success) {
    // Positions as the caller wrote the condition, leading spaces included.
    const original = parseCondition(options.observer.condition_expression ?? "");
    throw new ConfigError(
      (original.success ? parsed.issues : original.issues).map((issue) => ({
        path: "condition_expression",
        message: `at position ${issue.position}: ${issue.message}`,
      })),
    );
  }
  const compiled = conditionToSql(range.condition, {
    alias: "e",
    parameterOffset: filter.params.length,
  });
  if (compiled.success) return backtestSql(sql, range, filter, compiled.sql, compiled.params);
  const reason = compiled.issues
    .map((i) => `${i.text} at position ${i.position}: ${i.message}`)
    .join("; ");
  return backtestEvaluated(sql, options, range, filter, reason);
}

interface Filter {
  where: string;
  params: unknown[];
}

async function backtestSql(
  sql: SqlExecutor,
  range: Range,
  filter: Filter,
  predicate: string,
  predicateParams: string[],
): Promise<BacktestResult> {
  const truncated = await boundScan(sql, range, filter);
  const params = [...filter.params, ...predicateParams];
  const limit = `$${params.length + 1}::integer`;
  const [counts, samples] = await Promise.all([
    sql.query<{ considered: string; fired: string; errors: string }>(
      `SELECT count(*)::text AS considered,
         count(*) FILTER (WHERE (${predicate}) IS TRUE)::text AS fired,
         count(*) FILTER (WHERE (${predicate}) IS NULL)::text AS errors
       FROM core.tb_entity_change_log e WHERE ${filter.where}`,
      params,
    ),
    range.sampleLimit === 0
      ? Promise.resolve([])
      : sql.query<BacktestSample>(
          `SELECT ${SAMPLE_COLUMNS} FROM core.tb_entity_change_log e
           WHERE ${filter.where} AND (${predicate}) IS TRUE
           ORDER BY e.created_at, e.pk_entity_change_log LIMIT ${limit}`,
          [...params, range.sampleLimit],
        ),
  ]);
  const row = counts[0];
  return {
    method: "sql",
    since: range.since,
    until: range.until,
    considered: Number(row?.considered ?? 0),
    fired: Number(row?.fired ?? 0),
    errors: Number(row?.errors ?? 0),
    truncated,
    samples,
  };
}

type ScannedRow = ChangeRow & { created_at_iso: string; created_us: string };

async function backtestEvaluated(
  sql: SqlExecutor,
  options: BacktestOptions,
  range: Range,
  filter: Filter,
  reason: string,
): Promise<BacktestResult> {
  // The matcher itself decides, so the counts mean what the runtime would have done.
  const matcher = createMatcher([{ ...options.observer, enabled: true }]);
  const result: BacktestResult = {
    method: "evaluated",
    sql_unavailable_reason: reason,
    since: range.since,
    until: range.until,
    considered: 0,
    fired: 0,
    errors: 0,
    truncated: false,
    samples: [],
  };
  // Earliest first by (created_at, key), as the SQL path orders them.
  const samples: { key: [bigint, bigint]; sample: BacktestSample }[] = [];
  // The keys first, in one statement, then the rows by key a page at a time. (Paging with
  // `key > $n ... LIMIT`, the prepared statement's generic plan scans the whole window through
  // created_at and sorts it for every page: 100 000 changes took 10 s instead of well under one.)
  const keys = await sql.query<{ pk: string }>(
    `SELECT e.pk_entity_change_log::text AS pk FROM core.tb_entity_change_log e
     WHERE ${filter.where} ORDER BY e.pk_entity_change_log LIMIT $8::bigint`,
    [...filter.params, range.scanLimit + 1],
  );
  if (keys.length > range.scanLimit) result.truncated = true;
  const scanned = keys.slice(0, range.scanLimit).map((key) => key.pk);
  for (let offset = 0; offset < scanned.length; offset += PAGE_SIZE) {
    const page = scanned.slice(offset, offset + PAGE_SIZE);
    const rows = await sql.query<ScannedRow>(
      `SELECT ${CHANGE_COLUMNS.replaceAll("c.", "e.")}, ${isoColumn("e.created_at", "created_at_iso")},
         (extract(epoch FROM e.created_at) * 1000000)::bigint::text AS created_us
       FROM core.tb_entity_change_log e
       WHERE e.pk_entity_change_log = ANY($1::text::bigint[])
       ORDER BY e.pk_entity_change_log`,
      [`{${page.join(",")}}`],
    );
    for (const row of rows) {
      result.considered++;
      const { created_at_iso, created_us, ...change } = row;
      let event: ChangeEvent;
      try {
        event = normalizeChangeEvent(change);
      } catch {
        // The runtime skips a change it cannot read: no observer sees it.
        result.errors++;
        continue;
      }
      const matched = matcher.match(event);
      if (matched.errors.length > 0) result.errors++;
      if (matched.matched.length === 0) continue;
      result.fired++;
      if (range.sampleLimit > 0) {
        addSample(
          samples,
          range.sampleLimit,
          [BigInt(created_us), BigInt(row.pk_entity_change_log)],
          {
            event_id: event.id,
            entity_type: event.entity_type,
            entity_id: event.entity_id,
            event_type: event.event_type,
            created_at: created_at_iso,
          },
        );
      }
    }
  }
  result.samples = samples.map((s) => s.sample);
  return result;
}

/** Keeps the `limit` earliest samples, sorted. */
function addSample(
  samples: { key: [bigint, bigint]; sample: BacktestSample }[],
  limit: number,
  key: [bigint, bigint],
  sample: BacktestSample,
): void {
  const before = (a: [bigint, bigint], b: [bigint, bigint]) =>
    a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const last = samples.at(-1);
  if (samples.length >= limit && last && !before(key, last.key)) return;
  let i = samples.length;
  while (i > 0 && before(key, (samples[i - 1] as { key: [bigint, bigint] }).key)) i--;
  samples.splice(i, 0, { key, sample });
  if (samples.length > limit) samples.pop();
}
