import type { Clock } from "../../src/ports/clock.ts";

/** A clock whose time moves only when the test says so; `advance` fires the timers that fall due. */
export function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const clock: Clock & {
    advance(ms: number): void;
    set(ms: number): void;
    readonly pending: number;
  } = {
    now: () => now,
    setTimeout(callback, ms) {
      timers.set(++seq, { at: now + ms, callback });
      return seq;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      clock.set(now + ms);
    },
    set(ms) {
      now = Math.max(now, ms);
      const due = [...timers].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, timer] of due) {
        timers.delete(id);
        timer.callback();
      }
    },
    get pending() {
      return timers.size;
    },
  };
  return clock;
}

/**
 * The real clock, counting the timers set through it that have neither fired nor been cleared:
 * a component that stops cleanly leaves none behind.
 */
export function trackedClock() {
  const live = new Set<unknown>();
  const clock: Clock & { readonly outstanding: number } = {
    now: () => Date.now(),
    setTimeout(callback, ms) {
      const handle = setTimeout(() => {
        live.delete(handle);
        callback();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      live.delete(handle);
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    get outstanding() {
      return live.size;
    },
  };
  return clock;
}
