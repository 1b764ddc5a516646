/**
 * `rate_limit_per_second` (docs/delivery.md): every server takes tokens from one bucket per
 * (observer, action) in PostgreSQL, a few at a time, so each asks the database a few times per
 * second at most. Tokens a server took and did not use within a second are dropped, never lent
 * on: the rate holds across servers, at the cost of running a little under it.
 */
import type { Clock } from "../ports/clock.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { takeTokens } from "../store/rate-limits.ts";

/** How long tokens taken from the shared bucket stay usable here. */
const HOLD_MS = 1_000;
/** Tokens one take asks for at most. */
const MAX_BATCH = 100;

interface LocalBucket {
  tokens: number;
  expires: number;
  /** After a take that got nothing: when the next token is expected, and waiters sent there so far. */
  emptyUntil: number;
  waiting: number;
  fetching: Promise<void> | null;
}

/** Hands out tokens of the shared buckets; `take` resolves null (go) or when to try again. */
export interface RateLimiter {
  take(fkObserver: string, actionIndex: number, rate: number): Promise<number | null>;
}

/** The largest burst: one second's worth of tokens, at least one. */
export const burstOf = (rate: number): number => Math.max(1, rate);

/** Creates this runtime's view of the shared buckets. */
export function createRateLimiter(options: {
  sql: SqlExecutor;
  clock: Clock;
  onError(error: unknown, where: string): void;
}): RateLimiter {
  const { sql, clock } = options;
  const buckets = new Map<string, LocalBucket>();

  function fetch(bucket: LocalBucket, fk: string, index: number, rate: number): Promise<void> {
    // A quarter second's worth per take: a few takes per second per server.
    const want = Math.max(1, Math.min(MAX_BATCH, Math.floor(rate / 4)));
    bucket.fetching ??= takeTokens(sql, fk, index, rate, burstOf(rate), want)
      .then(({ granted, left }) => {
        const now = clock.now();
        if (granted > 0) {
          bucket.tokens = granted;
          bucket.expires = now + HOLD_MS;
          bucket.emptyUntil = 0;
          bucket.waiting = 0;
        } else {
          bucket.emptyUntil = now + Math.ceil((Math.max(0, 1 - left) / rate) * 1000);
        }
      })
      .catch((error: unknown) => {
        // The bucket cannot be read: wait a moment rather than run over the limit.
        bucket.emptyUntil = clock.now() + 1_000;
        options.onError(error, "rate_limit");
      })
      .finally(() => {
        bucket.fetching = null;
      });
    return bucket.fetching;
  }

  async function take(fk: string, index: number, rate: number): Promise<number | null> {
    const key = `${fk}#${index}`;
    let bucket = buckets.get(key);
    if (!bucket) {
      if (buckets.size > 10_000) buckets.clear();
      bucket = { tokens: 0, expires: 0, emptyUntil: 0, waiting: 0, fetching: null };
      buckets.set(key, bucket);
    }
    for (let round = 0; round < 3; round++) {
      const now = clock.now();
      if (bucket.tokens > 0 && now < bucket.expires) {
        bucket.tokens--;
        return null;
      }
      if (bucket.emptyUntil > now) {
        // Spread the waiters one token apart, so they do not all come back at once.
        return bucket.emptyUntil + Math.ceil((bucket.waiting++ * 1000) / rate);
      }
      await (bucket.fetching ?? fetch(bucket, fk, index, rate));
    }
    return clock.now() + Math.ceil(1000 / rate);
  }

  return { take };
}
