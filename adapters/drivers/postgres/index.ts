export {
  type ApplyMigrationsOptions,
  applyMigrations,
  type Migration,
  type MigrationResult,
} from "../../../src/store/migrate.ts";
export { isArrayTypeFetchFailure } from "./driver-defects.ts";
export { type ListenBackoff, type ListenTarget, listenWithReconnect } from "./listener.ts";
export { loadMigrations, MIGRATIONS_DIR } from "./migrations-dir.ts";
export {
  createPostgresClient,
  type PostgresClient,
  type PostgresClientOptions,
  type WrappedPostgresOptions,
  wrapPostgresSql,
} from "./postgres-client.ts";
