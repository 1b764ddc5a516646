export {
  type ApplyMigrationsOptions,
  applyMigrations,
  type Migration,
  type MigrationResult,
} from "../../../src/store/migrate.ts";
export { isArrayTypeFetchFailure } from "./driver-defects.ts";
export {
  type ConnectionServer,
  type ConnectionTarget,
  type ListenBackoff,
  listenWithReconnect,
} from "./listener.ts";
export { loadMigrations, MIGRATIONS_DIR } from "./migrations-dir.ts";
export {
  createPostgresClient,
  type PostgresClient,
  type PostgresClientOptions,
  type PostgresJsOptions,
  type PostgresJsQuery,
  type PostgresJsQueryable,
  type PostgresJsSql,
  type WrappedPostgresOptions,
  wrapPostgresSql,
} from "./postgres-client.ts";
