import type { RetryConfig } from "./retry-policy.ts";

/** Past 2^64 every sane initial delay exceeds any cap; stopping there keeps the maths finite. */
const MAX_EXPONENT = 64;
/** The most a receiver's `Retry-After` can postpone a retry (the net module clamps to this too). */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Milliseconds to wait after failed attempt `failedAttempt` (1-based) before the next one.
 * Exponential uses full jitter (uniform in [0, min(max, initial * 2^(n-1)))) so that receivers
 * recovering from an outage are not hit by every sender at once; linear and fixed have none.
 */
export function computeBackoff(
  failedAttempt: number,
  policy: RetryConfig,
  random: () => number,
): number {
  // Clamped so that `initial * n` stays finite (0 * Infinity would be NaN).
  const n = Number.isNaN(failedAttempt)
    ? 1
    : Math.min(Math.max(1, Math.floor(failedAttempt)), Number.MAX_SAFE_INTEGER);
  const initial = policy.initial_delay_ms;
  const max = policy.max_delay_ms;
  switch (policy.backoff_strategy) {
    case "fixed":
      return Math.min(initial, max);
    case "linear":
      return Math.min(initial * n, max);
    case "exponential": {
      const ceiling = Math.min(max, initial * 2 ** Math.min(n - 1, MAX_EXPONENT));
      const r = random();
      // A faulty random source must not yield NaN or a delay past the cap.
      const unit = r > 0 && r < 1 ? r : 0;
      return Math.floor(unit * ceiling);
    }
  }
}

/**
 * The delay before the attempt after `failedAttempt`: the backoff, or longer when the receiver
 * asked for more with `Retry-After` (it said it will not be ready sooner).
 */
export function nextAttemptDelay(
  failure: { readonly retryAfterMs?: number | null | undefined },
  failedAttempt: number,
  policy: RetryConfig,
  random: () => number,
): number {
  const backoff = computeBackoff(failedAttempt, policy, random);
  const asked = failure.retryAfterMs;
  if (asked == null || !(asked > 0)) return backoff;
  return Math.max(backoff, Math.min(Math.ceil(asked), MAX_RETRY_AFTER_MS));
}
