/**
 * Cron schedules (src/observers/schedule.ts, docs/time.md): what is accepted, the next tick and
 * the latest past one (the catch-up rule), in a time zone.
 */
import { describe, expect, it } from "vitest";
import { isTimezone, latestTick, nextTick, scheduleIssue } from "../../src/observers/schedule.ts";

describe("schedules", () => {
  it("accept 5 or 6 fields and say what is wrong otherwise", () => {
    expect(scheduleIssue("0 9 * * 1-5")).toBeNull();
    expect(scheduleIssue("*/10 * * * * *")).toBeNull();
    expect(scheduleIssue("* * * *")).toBe(
      "must have 5 fields (minute to weekday), or 6 with seconds first; got 4",
    );
    expect(scheduleIssue("0 25 * * *")).toMatch(/^is not a cron schedule: .*hour/);
    expect(scheduleIssue("0 0 30 2 *")).toBe("never fires");
  });

  it("know IANA time zones", () => {
    expect(isTimezone("Europe/Paris")).toBe(true);
    expect(isTimezone("UTC")).toBe(true);
    expect(isTimezone("Mars/Olympus")).toBe(false);
  });

  it("find the next tick after an instant and the latest at or before it, in a time zone", () => {
    const at = Date.UTC(2030, 5, 1, 6, 30); // 08:30 in Paris (summer time)
    expect(nextTick("0 9 * * *", "Europe/Paris", at)).toBe(Date.UTC(2030, 5, 1, 7));
    expect(latestTick("0 9 * * *", "Europe/Paris", at)).toBe(Date.UTC(2030, 4, 31, 7));
    expect(nextTick("0 9 * * *", null, at)).toBe(Date.UTC(2030, 5, 1, 9));
    // A tick exactly at the instant is the latest, and the next one is strictly after.
    const tick = Date.UTC(2030, 0, 1, 0, 0, 2);
    expect(latestTick("*/2 * * * * *", null, tick)).toBe(tick);
    expect(nextTick("*/2 * * * * *", null, tick)).toBe(tick + 2_000);
  });
});
