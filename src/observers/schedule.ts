/**
 * Scheduled observers (docs/time.md): `"event_type": "SCHEDULE"` with a cron `schedule` (5
 * fields, or 6 with seconds first) and an optional IANA `timezone` (default UTC), read with
 * croner. Ticks are computed here; claiming one happens in PostgreSQL (src/store/schedules.ts).
 */
import { Cron } from "croner";

/** The event type of a scheduled observer, and of the events it fires. */
export const SCHEDULE_EVENT_TYPE = "SCHEDULE";
/** The timezone of a schedule that names none. */
export const DEFAULT_TIMEZONE = "UTC";

const patterns = new Map<string, Cron>();
const MAX_CACHED = 1_024;

/** The parsed schedule (cached), or a message saying why the text is not one. */
function cronOf(schedule: string, timezone: string | null): Cron | { error: string } {
  const key = `${timezone ?? DEFAULT_TIMEZONE} ${schedule}`;
  const cached = patterns.get(key);
  if (cached) return cached;
  const fields = schedule.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return {
      error: `must have 5 fields (minute to weekday), or 6 with seconds first; got ${fields}`,
    };
  }
  let cron: Cron;
  try {
    cron = new Cron(schedule, {
      paused: true,
      timezone: timezone ?? DEFAULT_TIMEZONE,
      // POSIX cron: a day-of-month and a weekday both given means either (croner's default).
      domAndDow: false,
    });
  } catch (error) {
    return { error: `is not a cron schedule: ${error instanceof Error ? error.message : error}` };
  }
  if (patterns.size >= MAX_CACHED) patterns.clear();
  patterns.set(key, cron);
  return cron;
}

/** Why `schedule` is not a cron schedule, or null. */
export function scheduleIssue(schedule: string): string | null {
  const cron = cronOf(schedule, DEFAULT_TIMEZONE);
  if ("error" in cron) return cron.error;
  return cron.nextRun(new Date()) === null ? "never fires" : null;
}

/** Whether `timezone` is an IANA time zone this runtime knows. */
export function isTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The first tick strictly after `after` (epoch ms), or null when it never fires again. */
export function nextTick(schedule: string, timezone: string | null, after: number): number | null {
  const cron = cronOf(schedule, timezone);
  if ("error" in cron) return null;
  // croner strips milliseconds and returns the next second or later: strictly after `after`.
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

/** The latest tick at or before `at` (epoch ms), or null. */
export function latestTick(schedule: string, timezone: string | null, at: number): number | null {
  const cron = cronOf(schedule, timezone);
  if ("error" in cron) return null;
  // croner counts a tick earlier in the reference's second: one millisecond on includes `at`.
  return cron.previousRuns(1, new Date(at + 1))[0]?.getTime() ?? null;
}
