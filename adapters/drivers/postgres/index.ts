export {
  type ApplyMigrationsOptions,
  applyMigrations,
  type Migration,
  type MigrationResult,
} from "../../../src/store/migrate.ts";
export { isArrayTypeFetchFailure } from "./driver-defects.ts";
export { type ListenBackoff, listenWithReconnect } from "./listener.ts";
export { loadMigrations, MIGRATIONS_DIR } from "./migrations-dir.ts";
export {
  createPostgresClient,
  type PostgresClient,
  type PostgresClientOptions,
} from "./postgres-client.ts";
