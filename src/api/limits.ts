/** Largest request body the API reads (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Deepest nesting of arrays and objects a JSON request body may have. */
export const MAX_JSON_DEPTH = 256;

/** Page size when a list request names none, and the most one may ask for. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/**
 * What the API refuses beyond, so no caller can make the server do unbounded work
 * (docs/security.md, "Limits"; each has its `OBSERVERS_*` variable).
 */
export interface ApiLimits {
  /** Live observers one tenant (or the unscoped owner) may have: 422 `OBSERVER_LIMIT` beyond. */
  maxObserversPerTenant: number;
  /** Actions one observer may have: 422 `ACTION_LIMIT` beyond. */
  maxActionsPerObserver: number;
  /** Longest backtest range, in days: 422 `BACKTEST_RANGE_TOO_LONG` beyond. */
  backtestMaxRangeDays: number;
  /** Changes one backtest considers at most; beyond, its result says `truncated`. */
  backtestMaxRows: number;
  /** Backtests one key may run at once in this process: 429 `BACKTEST_BUSY` beyond. */
  backtestConcurrencyPerKey: number;
}

/** The documented defaults (the servers read them from the environment). */
export const DEFAULT_API_LIMITS: ApiLimits = {
  maxObserversPerTenant: 1000,
  maxActionsPerObserver: 20,
  backtestMaxRangeDays: 31,
  backtestMaxRows: 100_000,
  backtestConcurrencyPerKey: 2,
};
