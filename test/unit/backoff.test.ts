import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  computeBackoff,
  DEFAULT_RETRY_CONFIG,
  nextAttemptDelay,
  type RetryConfig,
  retryConfigSchema,
} from "../../src/executor/index.ts";
import { safeParseConfig } from "../../src/validation.ts";

const policy = (fields: Partial<RetryConfig> = {}): RetryConfig => ({
  ...DEFAULT_RETRY_CONFIG,
  ...fields,
});
const half = () => 0.5;
const almostOne = () => 0.999_999_999;

describe("computeBackoff", () => {
  it("exponential: full jitter below initial * 2^(n-1)", () => {
    const exponential = policy({ initial_delay_ms: 500, max_delay_ms: 30_000 });
    expect([1, 2, 3, 4, 5, 6].map((n) => computeBackoff(n, exponential, half))).toEqual([
      250, 500, 1000, 2000, 4000, 8000,
    ]);
    expect(computeBackoff(1, exponential, () => 0)).toBe(0);
    expect(computeBackoff(3, exponential, almostOne)).toBe(1999);
  });

  it("exponential: capped at max_delay_ms, even for huge attempt numbers", () => {
    const exponential = policy({ initial_delay_ms: 500, max_delay_ms: 30_000 });
    expect(computeBackoff(7, exponential, half)).toBe(15_000); // 32 000 capped to 30 000
    expect(computeBackoff(7, exponential, almostOne)).toBe(29_999);
    for (const n of [64, 65, 1025, 1_000_000, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(computeBackoff(n, exponential, half)).toBe(15_000);
    }
  });

  it("exponential: a zero initial delay stays zero (no 0 * Infinity)", () => {
    const zero = policy({ initial_delay_ms: 0, max_delay_ms: 0 });
    expect(computeBackoff(1, zero, half)).toBe(0);
    expect(computeBackoff(5000, zero, half)).toBe(0);
  });

  it("exponential: a faulty random source cannot escape [0, cap)", () => {
    const exponential = policy();
    for (const bad of [Number.NaN, -1, 1, 7]) {
      const delay = computeBackoff(3, exponential, () => bad);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(2000);
    }
  });

  it("linear: initial * n, capped, no jitter", () => {
    const linear = policy({
      backoff_strategy: "linear",
      initial_delay_ms: 1000,
      max_delay_ms: 4500,
    });
    expect([1, 2, 3, 4, 5].map((n) => computeBackoff(n, linear, half))).toEqual([
      1000, 2000, 3000, 4000, 4500,
    ]);
    expect(computeBackoff(Number.MAX_SAFE_INTEGER, linear, half)).toBe(4500);
  });

  it("fixed: always the initial delay, capped", () => {
    const fixed = policy({ backoff_strategy: "fixed", initial_delay_ms: 750 });
    expect([1, 2, 10, 1e9].map((n) => computeBackoff(n, fixed, half))).toEqual([
      750, 750, 750, 750,
    ]);
    expect(
      computeBackoff(
        1,
        policy({ backoff_strategy: "fixed", initial_delay_ms: 9, max_delay_ms: 5 }),
        half,
      ),
    ).toBe(5);
  });

  it("treats attempt numbers below 1 as the first", () => {
    const linear = policy({ backoff_strategy: "linear" });
    expect(computeBackoff(0, linear, half)).toBe(500);
    expect(computeBackoff(-3, linear, half)).toBe(500);
    expect(computeBackoff(Number.NaN, linear, half)).toBe(500);
  });
});

describe("nextAttemptDelay", () => {
  const exponential = policy();

  it("is the backoff when the receiver asked for nothing (or nonsense)", () => {
    expect(nextAttemptDelay({}, 2, exponential, half)).toBe(500);
    expect(nextAttemptDelay({ retryAfterMs: undefined }, 2, exponential, half)).toBe(500);
    expect(nextAttemptDelay({ retryAfterMs: null }, 2, exponential, half)).toBe(500);
    expect(nextAttemptDelay({ retryAfterMs: -5 }, 2, exponential, half)).toBe(500);
    expect(nextAttemptDelay({ retryAfterMs: Number.NaN }, 2, exponential, half)).toBe(500);
  });

  it("honours a longer Retry-After, and ignores a shorter one", () => {
    expect(nextAttemptDelay({ retryAfterMs: 120_000 }, 2, exponential, half)).toBe(120_000);
    expect(nextAttemptDelay({ retryAfterMs: 100 }, 2, exponential, half)).toBe(500);
  });

  it("never waits more than a day for Retry-After", () => {
    expect(nextAttemptDelay({ retryAfterMs: Infinity }, 1, exponential, half)).toBe(86_400_000);
  });
});

describe("retryConfigSchema", () => {
  const parse = (value: unknown) => safeParseConfig(retryConfigSchema, value, "retry_config");
  const paths = (value: unknown) => {
    const result = parse(value);
    return result.success ? [] : result.issues.map((issue) => issue.path);
  };

  it("fills DESIGN's defaults for whatever is left out (absent or null)", () => {
    expect(v.parse(retryConfigSchema, {})).toEqual({
      max_attempts: 5,
      backoff_strategy: "exponential",
      initial_delay_ms: 500,
      max_delay_ms: 30_000,
    });
    expect(v.parse(retryConfigSchema, null)).toEqual(DEFAULT_RETRY_CONFIG);
    expect(v.parse(retryConfigSchema, undefined)).toEqual(DEFAULT_RETRY_CONFIG);
    expect(v.parse(retryConfigSchema, { max_attempts: null, backoff_strategy: "fixed" })).toEqual({
      ...DEFAULT_RETRY_CONFIG,
      backoff_strategy: "fixed",
    });
  });

  it("raises the default cap to a larger initial delay instead of refusing it", () => {
    expect(v.parse(retryConfigSchema, { initial_delay_ms: 60_000 }).max_delay_ms).toBe(60_000);
  });

  it("refuses bad values with their paths", () => {
    expect(paths({ max_attempts: 0 })).toEqual(["retry_config.max_attempts"]);
    expect(paths({ max_attempts: 101 })).toEqual(["retry_config.max_attempts"]);
    expect(paths({ max_attempts: 2.5 })).toEqual(["retry_config.max_attempts"]);
    expect(paths({ max_attempts: "3" })).toEqual(["retry_config.max_attempts"]);
    expect(paths({ backoff_strategy: "random" })).toEqual(["retry_config.backoff_strategy"]);
    expect(paths({ initial_delay_ms: -1 })).toEqual(["retry_config.initial_delay_ms"]);
    expect(paths({ max_delay_ms: 1e12 })).toEqual(["retry_config.max_delay_ms"]);
    expect(paths({ initial_delay_ms: 1000, max_delay_ms: 999 })).toEqual([
      "retry_config.max_delay_ms",
    ]);
    expect(paths({ backoff: "exponential" })).toEqual(["retry_config.backoff"]);
    expect(paths("exponential")).toEqual(["retry_config"]);
  });

  it("accepts the bounds", () => {
    expect(parse({ max_attempts: 1, initial_delay_ms: 0, max_delay_ms: 0 }).success).toBe(true);
    expect(parse({ max_attempts: 100, initial_delay_ms: 1000, max_delay_ms: 1000 }).success).toBe(
      true,
    );
  });
});
