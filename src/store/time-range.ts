import { ConfigError, type ConfigIssue } from "../errors.ts";

/** A window on `created_at` as callers give it: ISO 8601 timestamps with a time zone. */
export interface TimeRangeOptions {
  /** Inclusive lower bound. */
  since?: string | null;
  /** Exclusive upper bound (half-open, so adjacent windows never count a row twice). */
  until?: string | null;
}

/**
 * A checked window: each bound as ISO 8601 UTC with milliseconds (microseconds when the caller
 * gave them: PostgreSQL keeps `created_at` to the microsecond), or null when open.
 */
export interface TimeRange {
  since: string | null;
  until: string | null;
}

// A date, a time, and a zone (`Z` or an offset): a bare date or local time would depend on the
// server's time zone.
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * `iso` (milliseconds, from Date) with the microseconds of `fraction` (the input's digits after
 * the second) when it gives any: Date keeps milliseconds only, and a bound cut to the millisecond
 * would move past the changes of that millisecond. Offsets are whole minutes, so the digits after
 * the millisecond are the same in UTC.
 */
function withMicroseconds(iso: string, fraction: string | undefined): string {
  const micros = (fraction ?? "").padEnd(6, "0").slice(3, 6);
  return micros === "000" ? iso : `${iso.slice(0, -1)}${micros}Z`;
}

function check(value: string, path: string, issues: ConfigIssue[]): string | null {
  const match = ISO_TIMESTAMP.exec(value.trim());
  // Without its fraction: the milliseconds come from the input's digits, never from Date's
  // rounding of the rest.
  const whole = Date.parse(value.trim().replace(/\.\d+/, ""));
  if (match && Number.isFinite(whole)) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    // Date.parse rolls 2024-02-30 over into March: refuse dates that do not exist. (setUTCFullYear,
    // unlike Date.UTC, does not read years 0 to 99 as 1900 to 1999.)
    const date = new Date(0);
    date.setUTCFullYear(year, month - 1, day);
    const fraction = match[7];
    const iso = new Date(whole + Number((fraction ?? "").padEnd(3, "0").slice(0, 3))).toISOString();
    // PostgreSQL has no year 0, and an offset can push 9999 into 10000 (`+010000-...`).
    const storable = /^\d{4}-/.test(iso) && !iso.startsWith("0000-");
    if (date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && storable) {
      return withMicroseconds(iso, fraction);
    }
  }
  issues.push({
    path,
    message:
      "must be an ISO 8601 timestamp with a time zone, from year 1 to 9999, e.g. 2024-05-01T12:00:00Z",
  });
  return null;
}

/**
 * Validates `since`/`until` (ConfigError naming the field: not an ISO 8601 timestamp with a
 * zone, or `since` after `until`) and normalises them for `$n::text::timestamptz`.
 */
export function timeRange(options: TimeRangeOptions): TimeRange {
  const issues: ConfigIssue[] = [];
  const since = options.since == null ? null : check(options.since, "since", issues);
  const until = options.until == null ? null : check(options.until, "until", issues);
  if (issues.length > 0) throw new ConfigError(issues);
  // Same length up to the seconds; ".123Z" and ".123456Z" compare by their digits once padded.
  if (since !== null && until !== null && sortable(since) > sortable(until)) {
    throw new ConfigError([{ path: "since", message: "must not be after until" }]);
  }
  return { since, until };
}

function sortable(iso: string): string {
  const [head, fraction = ""] = iso.slice(0, -1).split(".");
  return `${head}.${fraction.padEnd(6, "0")}`;
}

/**
 * The SQL condition of a window on `column`, with `since` bound to `$n` and `until` to `$n+1`
 * (both `TimeRange` values): true for every row when a bound is null.
 */
export function timeRangeCondition(column: string, n: number): string {
  return `($${n}::text::timestamptz IS NULL OR ${column} >= $${n}::text::timestamptz)
    AND ($${n + 1}::text::timestamptz IS NULL OR ${column} < $${n + 1}::text::timestamptz)`;
}
