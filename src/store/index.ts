export {
  type ApiKey,
  BOOTSTRAP_KEY_NAME,
  ensureBootstrapAdminToken,
  findApiKey,
  generateToken,
  hashToken,
  insertApiKey,
} from "./api-keys.ts";
export type { Page, PageRequest, TenantScope } from "./common.ts";
export {
  type DeadLetter,
  deleteDeadLetter,
  getDeadLetter,
  type ListDeadLettersOptions,
  listDeadLetters,
} from "./dead-letters.ts";
export { retryDeadLetter } from "./dlq-replay.ts";
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
