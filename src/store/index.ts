export {
  type ApiKey,
  type ApiKeyView,
  BOOTSTRAP_KEY_NAME,
  deleteApiKey,
  ensureBootstrapAdminToken,
  findApiKey,
  generateToken,
  hashToken,
  insertApiKey,
  listApiKeys,
} from "./api-keys.ts";
export {
  type BacktestOptions,
  type BacktestResult,
  type BacktestSample,
  backtestObserver,
} from "./backtest.ts";
export type { Page, PageRequest, TenantScope } from "./common.ts";
export {
  type DeadLetter,
  type DeadLetterStats,
  deadLetterStats,
  deleteDeadLetter,
  getDeadLetter,
  type ListDeadLettersOptions,
  listDeadLetters,
} from "./dead-letters.ts";
export {
  type DeadLetterFilter,
  type RetryDeadLettersResult,
  retryDeadLetter,
  retryDeadLetters,
} from "./dlq-replay.ts";
export {
  type EventExplanation,
  type EventOutcome,
  explainStoredEvent,
  type ObserverConsidered,
  readStoredEvent,
} from "./inspect.ts";
export {
  type ListLogsOptions,
  LOG_STATUSES,
  type LogStatus,
  listLogs,
  type ObserverLog,
} from "./logs.ts";
export {
  type ApplyMigrationsOptions,
  applyMigrations,
  type Migration,
  type MigrationResult,
  validateMigrations,
} from "./migrate.ts";
export type { Observer } from "./observer-json.ts";
export {
  createObserver,
  deleteObserver,
  getObserver,
  type ListObserversOptions,
  listObservers,
  type ObserverWriteOptions,
  setObserverEnabled,
  updateObserver,
} from "./observers.ts";
export { REDACTED, redactActions } from "./redact.ts";
export {
  type ObserverStats,
  type ObserverStatsOptions,
  observerStats,
  type StatsSummary,
  type StatsSummaryOptions,
  statsSummary,
} from "./stats.ts";
export { type TimeRange, type TimeRangeOptions, timeRange } from "./time-range.ts";
