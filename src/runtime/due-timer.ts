import type { Clock } from "../ports/clock.ts";

/** Wake-up times a runtime keeps at most; later ones wait for the poll (which claims too). */
const MAX_PENDING = 4096;
/** Times closer than this share one wake-up. */
const GRANULARITY_MS = 5;

/** Calls `fire` at each time asked for (`at`, clock ms), one timer at a time. */
export interface DueTimer {
  at(time: number): void;
  stop(): void;
}

/**
 * One timer for many due times (deliveries created for later: docs/time.md): the soonest is
 * armed, the others wait in a sorted list, so a runtime claims a delayed delivery when it is due
 * rather than at its next poll, without a timer per delivery.
 */
export function createDueTimer(clock: Clock, fire: () => void): DueTimer {
  const times: number[] = [];
  let timer: unknown = null;
  let armedAt = Number.POSITIVE_INFINITY;
  let stopped = false;

  function arm(): void {
    const next = times[0];
    if (stopped || next === undefined || next >= armedAt) return;
    if (timer !== null) clock.clearTimeout(timer);
    armedAt = next;
    timer = clock.setTimeout(
      () => {
        timer = null;
        armedAt = Number.POSITIVE_INFINITY;
        const now = clock.now();
        while (times.length > 0 && (times[0] as number) <= now + GRANULARITY_MS) times.shift();
        fire();
        arm();
      },
      Math.max(0, next - clock.now()),
    );
  }

  return {
    at(time) {
      if (stopped) return;
      const t = Math.ceil(time / GRANULARITY_MS) * GRANULARITY_MS;
      // Binary search for the insertion point; equal times are kept once.
      let lo = 0;
      let hi = times.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((times[mid] as number) < t) lo = mid + 1;
        else hi = mid;
      }
      if (times[lo] === t) return;
      if (times.length >= MAX_PENDING && lo >= times.length) return;
      times.splice(lo, 0, t);
      if (times.length > MAX_PENDING) times.pop();
      arm();
    },
    stop() {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      times.length = 0;
    },
  };
}
