/** The longest delay a receiver may ask for: beyond this a retry schedule is better judged locally. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const MONTH = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// The three HTTP-date forms recipients must accept (RFC 9110 §5.6.7). Parsed by hand because
// `Date.parse` of anything but ISO 8601 is implementation-defined across runtimes.
const IMF_FIXDATE = new RegExp(`^[a-z]{3}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} gmt$`, "i");
const RFC_850 = new RegExp(`^[a-z]{6,9}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} gmt$`, "i");
const ASCTIME = new RegExp(`^[a-z]{3} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, "i");

function toMillis(
  year: number,
  month: string,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  const ms = Date.UTC(year, monthIndex, day, hour, minute, second);
  // Date.UTC rolls 31 Feb over into March; such a date is malformed, not a day later.
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

/** Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime) into epoch milliseconds. */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  const text = value.trim();
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day = "", month = "", year = "", h = "", m = "", s = ""] = match;
    return toMillis(Number(year), month, Number(day), Number(h), Number(m), Number(s));
  }
  match = RFC_850.exec(text);
  if (match) {
    const [, day = "", month = "", yy = "", h = "", m = "", s = ""] = match;
    // A two-digit year more than 50 years ahead means the most recent past year with those digits.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(yy);
    if (year > nowYear + 50) year -= 100;
    return toMillis(year, month, Number(day), Number(h), Number(m), Number(s));
  }
  match = ASCTIME.exec(text);
  if (match) {
    const [, month = "", day = "", h = "", m = "", s = "", year = ""] = match;
    return toMillis(Number(year), month, Number(day.trim()), Number(h), Number(m), Number(s));
  }
  return undefined;
}

/**
 * Reads a `Retry-After` header (delay in seconds, or an HTTP-date) as milliseconds from `nowMs`,
 * clamped to [0, 24 h]; undefined when absent or malformed.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  let delayMs: number | undefined;
  if (/^\d+$/.test(text)) delayMs = Number(text) * 1000;
  else {
    const at = parseHttpDate(text, nowMs);
    if (at !== undefined) delayMs = at - nowMs;
  }
  if (delayMs === undefined || Number.isNaN(delayMs)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, delayMs));
}
