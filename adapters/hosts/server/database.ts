import { resolve } from "node:path";
import type { ServerConfig } from "../../../src/config/server-config.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import {
  createPostgresClient,
  type PostgresJsSql,
  wrapPostgresSql,
} from "../../drivers/postgres/index.ts";
import { createPostgresClientBeside } from "../../drivers/postgres/postgres-client.ts";

/** The database the server runs on, and how to let go of it. */
export interface ServerDatabase {
  /** The runtime's connections: ingest, claims, outcomes, the live feed, `database` actions. */
  client: SqlClient;
  /**
   * The API's: on PostgreSQL its own bounded pool whose statements time out, so API queries can
   * neither starve the runtime of connections nor run unbounded; on embedded PGlite, which has
   * one session, the same client.
   */
  apiClient: SqlClient;
  /** Set when running on embedded PGlite. */
  embedded: {
    /** Absolute path of the data directory. */
    dataDir: string;
    /** `postgresql://...` of the local socket, or null when `OBSERVERS_EMBEDDED_PORT=0`. */
    socketUrl: string | null;
  } | null;
  /** Closes the socket (if any) and the client. */
  close(): Promise<void>;
}

// The embedded socket has no authentication and no TLS: never expose it beyond this machine.
const EMBEDDED_SOCKET_HOST = "127.0.0.1";

/**
 * The API's pool on PostgreSQL: `OBSERVERS_API_POOL_SIZE` connections with
 * `OBSERVERS_API_STATEMENT_TIMEOUT_MS` as their `statement_timeout`, to `DATABASE_URL` or beside a
 * host's postgres.js instance (to its server, with its credentials).
 */
export function openApiPool(
  server: string | PostgresJsSql,
  config: ServerConfig,
  logger: Logger,
): SqlClient {
  const options = {
    logger,
    max: config.apiPool.size,
    statementTimeoutMs: config.apiPool.statementTimeoutMs,
    applicationName: "fraiseql-observers:api",
  };
  return typeof server === "string"
    ? createPostgresClient(server, options)
    : createPostgresClientBeside(server, options);
}

/**
 * A host's postgres.js instance for the runtime (its LISTEN on a connection of our own), and the
 * API's pool of our own beside it, so API queries neither take the host's connections nor run
 * past their timeout. `close` ends what we opened; the host's pool stays open for its owner.
 */
export function openHostDatabase(
  sql: PostgresJsSql,
  config: ServerConfig,
  logger: Logger,
): ServerDatabase {
  // First: it refuses a pool that transforms rows, or whose settings our connections cannot honour.
  const client = wrapPostgresSql(sql, { logger });
  return postgresDatabase(client, openApiPool(sql, config, logger));
}

/** A PostgreSQL database of two clients (the runtime's, the API's), closed together. */
function postgresDatabase(client: SqlClient, apiClient: SqlClient): ServerDatabase {
  return {
    client,
    apiClient,
    embedded: null,
    close: async () => {
      await Promise.all([apiClient.close(), client.close()]);
    },
  };
}

/** PostgreSQL at `DATABASE_URL`, or embedded PGlite under `OBSERVERS_DATA_DIR` when it is unset. */
export async function openServerDatabase(
  config: ServerConfig,
  logger: Logger,
): Promise<ServerDatabase> {
  if (config.databaseUrl !== null) {
    return postgresDatabase(
      createPostgresClient(config.databaseUrl, { logger }),
      openApiPool(config.databaseUrl, config, logger),
    );
  }
  // Loaded only in embedded mode: PGlite is a large WebAssembly module a PostgreSQL server never needs.
  const { createEmbeddedClient, startEmbeddedSocket } = await import(
    "../../drivers/embedded/index.ts"
  );
  const dataDir = resolve(config.dataDir);
  const client = await createEmbeddedClient({ dataDir });
  let socket: { url: string; close(): Promise<void> } | null = null;
  if (config.embeddedPort !== 0) {
    try {
      socket = await startEmbeddedSocket(client, {
        host: EMBEDDED_SOCKET_HOST,
        port: config.embeddedPort,
      });
    } catch (error) {
      await client.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `could not expose the embedded database on ${EMBEDDED_SOCKET_HOST}:${config.embeddedPort} ` +
          `(${reason}); set OBSERVERS_EMBEDDED_PORT to a free port, or 0 to disable the socket`,
        { cause: error },
      );
    }
  }
  return {
    client,
    apiClient: client,
    embedded: { dataDir, socketUrl: socket?.url ?? null },
    async close() {
      try {
        await socket?.close();
      } finally {
        await client.close();
      }
    },
  };
}
