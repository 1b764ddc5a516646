export { computeBackoff, nextAttemptDelay } from "./backoff.ts";
export {
  type AbortCause,
  type AttemptFailure,
  classifyFailure,
  MAX_ERROR_MESSAGE_CHARS,
} from "./classify.ts";
export { createExecutor, type Executor, type ExecutorOptions } from "./executor.ts";
export {
  createKeyedLimiter,
  createSemaphore,
  type KeyedLimiter,
  type KeyedLimiterOptions,
  type Release,
  type Semaphore,
} from "./limiter.ts";
export type {
  AttemptStatus,
  Delivery,
  Disposition,
  ExecutionOutcome,
} from "./outcome.ts";
export {
  BACKOFF_STRATEGIES,
  type BackoffStrategy,
  DEFAULT_RETRY_CONFIG,
  MAX_ATTEMPTS_LIMIT,
  MAX_RETRY_DELAY_MS,
  type RetryConfig,
  retryConfigSchema,
} from "./retry-policy.ts";
