import * as v from "valibot";
import { notArray } from "../validation.ts";

/** How the delay between attempts grows. */
export const BACKOFF_STRATEGIES = ["exponential", "linear", "fixed"] as const;
export type BackoffStrategy = (typeof BACKOFF_STRATEGIES)[number];

/** Most attempts (the first included) an observer may ask for. */
export const MAX_ATTEMPTS_LIMIT = 100;
/** Longest delay an observer may configure: a day, the same bound as an honoured `Retry-After`. */
export const MAX_RETRY_DELAY_MS = 24 * 60 * 60 * 1000;

/** A validated retry policy, every field filled. */
// A type alias, not an interface: valibot's `forward` needs a value with an implicit index signature.
export type RetryConfig = {
  /** Total attempts, the first included. */
  max_attempts: number;
  backoff_strategy: BackoffStrategy;
  initial_delay_ms: number;
  max_delay_ms: number;
};

/** DESIGN section 3's example values, used for whatever an observer leaves out. */
export const DEFAULT_RETRY_CONFIG: Readonly<RetryConfig> = Object.freeze({
  max_attempts: 5,
  backoff_strategy: "exponential",
  initial_delay_ms: 500,
  max_delay_ms: 30_000,
});

const delay = v.pipe(
  v.number(),
  v.safeInteger("must be an integer"),
  v.minValue(0, "must not be negative"),
  v.maxValue(MAX_RETRY_DELAY_MS, `must be at most ${MAX_RETRY_DELAY_MS} (24 hours)`),
);

/** A nullish field, documented with the default it falls back to. */
function withDefault<T extends v.GenericSchema>(schema: T, fallback: unknown, description: string) {
  return v.pipe(v.nullish(schema), v.metadata({ default: fallback, description }));
}

// Fields are nullish because FraiseQL stores retry_config as JSONB, where absent and null mean the same.
const fields = v.pipe(
  v.unknown(),
  notArray(),
  v.strictObject({
    max_attempts: withDefault(
      v.pipe(
        v.number(),
        v.safeInteger("must be an integer"),
        v.minValue(1, "must be at least 1 (the first attempt counts)"),
        v.maxValue(MAX_ATTEMPTS_LIMIT, `must be at most ${MAX_ATTEMPTS_LIMIT}`),
      ),
      DEFAULT_RETRY_CONFIG.max_attempts,
      "Total attempts, the first included",
    ),
    backoff_strategy: withDefault(
      v.picklist(BACKOFF_STRATEGIES, `must be one of ${BACKOFF_STRATEGIES.join(", ")}`),
      DEFAULT_RETRY_CONFIG.backoff_strategy,
      "How the delay between attempts grows",
    ),
    initial_delay_ms: withDefault(
      delay,
      DEFAULT_RETRY_CONFIG.initial_delay_ms,
      "The delay before the second attempt, in milliseconds",
    ),
    max_delay_ms: withDefault(
      delay,
      DEFAULT_RETRY_CONFIG.max_delay_ms,
      "The longest delay, in milliseconds; left out, at least initial_delay_ms",
    ),
  }),
);

/**
 * An observer's `retry_config` (snake_case, FraiseQL-compatible): null or a partial object in,
 * a complete `RetryConfig` out.
 */
const filled = v.pipe(
  v.nullish(fields),
  v.transform((input): RetryConfig => {
    const initial = input?.initial_delay_ms ?? DEFAULT_RETRY_CONFIG.initial_delay_ms;
    return {
      max_attempts: input?.max_attempts ?? DEFAULT_RETRY_CONFIG.max_attempts,
      backoff_strategy: input?.backoff_strategy ?? DEFAULT_RETRY_CONFIG.backoff_strategy,
      initial_delay_ms: initial,
      // A larger initial delay with no explicit cap raises the default cap rather than failing.
      max_delay_ms: input?.max_delay_ms ?? Math.max(DEFAULT_RETRY_CONFIG.max_delay_ms, initial),
    };
  }),
);

/**
 * An observer's `retry_config` (snake_case, FraiseQL-compatible): null or a partial object in,
 * a complete `RetryConfig` out.
 */
export const retryConfigSchema = v.pipe(
  filled,
  v.forward(
    v.check(
      (config: RetryConfig) => config.max_delay_ms >= config.initial_delay_ms,
      "must be at least initial_delay_ms",
    ),
    ["max_delay_ms"],
  ),
);
