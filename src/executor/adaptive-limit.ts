/**
 * How many attempts one destination gets at once, learned from how it answers (issue 20): a
 * gradient limiter after Netflix concurrency-limits' Gradient2. Each finished attempt is a sample
 * of its round trip. While the recent round trip (`short`: an average of the last few samples)
 * stays near the destination's usual one (`long`: an average over seconds, standing in for its
 * no-load latency), the limit grows by about its square root per sample (smoothed); when the
 * round trip rises (the receiver queues our requests), the limit shrinks in proportion (at most
 * by half per sample, so an outlier cannot collapse it); an overload signal (timeout, 408/429/5xx,
 * a connection that failed) cuts it by a tenth per sample, so a receiver that stops answering falls
 * to one request at a time within a round or two; round trips alone never take it below 16 (or its
 * start, if lower). The long average is weighted by time, not by
 * samples: by samples, a fast destination's thousands of samples a second would let it follow a
 * rising latency within milliseconds and the limit would creep up with it. Between 1 and the cap
 * (`OBSERVERS_PER_DESTINATION`). Pure: the caller passes the time; no timers.
 */

/** Options for `createAdaptiveLimit`. */
export interface AdaptiveLimitOptions {
  /** The highest limit (the fixed cap). */
  max: number;
  /** Where a destination starts (default min(16, max)). */
  initial?: number;
  /** Weight of one sample in the limit's moving value (default 0.2). */
  smoothing?: number;
  /** Time constant of the long round trip's average, in ms (default 10 000). */
  longWindowMs?: number;
  /** Samples the short round trip averages over (default 10). */
  shortWindow?: number;
  /** Round trip growth tolerated before the limit shrinks (default 1.5: 50 % over usual). */
  tolerance?: number;
}

/** One finished attempt. */
export interface LimitSample {
  /** Its round trip, in milliseconds. */
  rttMs: number;
  /** Attempts in flight to the destination when it started (itself included). */
  inflight: number;
  /** The destination showed overload: timeout, 408/429/5xx, connection error. */
  overloaded: boolean;
  /** When it ended, in ms (any monotonic origin). */
  at: number;
}

/** A destination's adaptive limit. */
export interface AdaptiveLimit {
  /** The current limit: an integer from 1 to the cap. */
  readonly limit: number;
  /** Learns from one finished attempt; returns the (possibly new) limit. */
  sample(sample: LimitSample): number;
}

/** Multiplier of the limit on an overload signal. */
const BACKOFF = 0.9;

/** Creates a limit; see the file comment. */
export function createAdaptiveLimit(options: AdaptiveLimitOptions): AdaptiveLimit {
  const max = options.max;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`max must be a positive integer, got ${max}`);
  }
  const smoothing = options.smoothing ?? 0.2;
  const tolerance = options.tolerance ?? 1.5;
  const longWindowMs = options.longWindowMs ?? 10_000;
  const shortWeight = 2 / ((options.shortWindow ?? 10) + 1);
  let estimate = Math.min(max, Math.max(1, options.initial ?? 16));
  /**
   * Round trips alone never take the limit below its start or 16, whichever is lower (Gradient2's
   * `minLimit`): a round trip that rises because this process or its machine is busy, not the
   * receiver, would otherwise hold one receiver to a few requests at once (bench/README.md,
   * "Delivery with default settings": 4–12 under load, 7 000 changes/s end to end where a fixed
   * limit reached 11 000). Overload signals still take it down to 1.
   */
  const floor = Math.min(estimate, 16);
  let longRtt = 0;
  let shortRtt = 0;
  let samples = 0;
  let lastAt = Number.NaN;
  const clamp = (value: number) => Math.min(max, Math.max(1, value));

  return {
    get limit() {
      return Math.floor(estimate);
    },
    sample({ rttMs, inflight, overloaded, at }) {
      if (overloaded) {
        estimate = clamp(estimate * BACKOFF);
        return Math.floor(estimate);
      }
      if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return Math.floor(estimate);
      // Sub-millisecond round trips measured by a millisecond clock read 0: count them as a
      // fraction of a millisecond, so the ratio below stays finite.
      const rtt = Math.max(rttMs, 0.1);
      samples++;
      // The first samples are averaged plainly; then each weighs by the time since the last.
      const elapsed = Number.isFinite(lastAt) ? Math.max(0, at - lastAt) : 0;
      lastAt = at;
      const timeWeight = 1 - Math.exp(-elapsed / longWindowMs);
      longRtt += (rtt - longRtt) * Math.max(timeWeight, samples <= 20 ? 1 / samples : 0);
      shortRtt += (rtt - shortRtt) * Math.max(shortWeight, 1 / samples);
      // Latency back to normal after a long overload: let the long average follow down sooner.
      if (longRtt / shortRtt > 2) longRtt *= 0.95;
      // Not using its limit (demand below it): the round trip says nothing about a larger one.
      if (inflight < estimate / 2) return Math.floor(estimate);
      const gradient = Math.max(0.5, Math.min(1, (tolerance * longRtt) / shortRtt));
      const queue = Math.sqrt(estimate);
      const next = estimate * gradient + queue;
      const smoothed = estimate * (1 - smoothing) + next * smoothing;
      // Below the floor already (after overload signals): round trips may raise it, not lower it.
      estimate = clamp(
        smoothed < estimate ? Math.max(smoothed, Math.min(floor, estimate)) : smoothed,
      );
      return Math.floor(estimate);
    },
  };
}
