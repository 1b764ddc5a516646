/**
 * What the Bun and Deno servers share: open the database (PostgreSQL, or embedded PGlite with a
 * local socket), apply migrations, build the action environment, start the live feed and the
 * observer runtime, print the token and embedded guides, and serve the API through the host's
 * `ServerHost` (its HTTP server and its WebSockets). Whatever was opened is closed again if a
 * later step fails; `stop` stops serving first, then the runtime, then the connections.
 */
import type { Hono } from "hono";
import { createObserversApi } from "../../../src/api/app.ts";
import type { ApiEnv, ClientAddress } from "../../../src/api/auth.ts";
import type { LiveUpgrade } from "../../../src/api/routes/live.ts";
import type { ServerConfig } from "../../../src/config/server-config.ts";
import { ConfigError } from "../../../src/errors.ts";
import { createLiveFeed, type LiveFeed } from "../../../src/live/feed.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import { createConsoleLogger, type Logger } from "../../../src/ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../../../src/ports/sql.ts";
import { createObserverRuntime } from "../../../src/runtime/index.ts";
import type { ObserverRuntime } from "../../../src/runtime/types.ts";
import { ensureBootstrapAdminToken, hasGlobalAdminKey } from "../../../src/store/api-keys.ts";
import { applyMigrations } from "../../../src/store/migrate.ts";
import { loadMigrations } from "../../drivers/postgres/index.ts";
import { openServerDatabase, type ServerDatabase } from "./database.ts";
import {
  bootstrapTokenNotice,
  earlierTokenNotice,
  embeddedNotice,
  localUrl,
  missingAdminMessage,
  storedKeysNotice,
} from "./notices.ts";
import { createServerServices } from "./services.ts";

/** Options of `startServerRuntime` (and of `createBunRuntime` / `createDenoRuntime`). */
export interface ServerRuntimeOptions {
  /** The parsed environment (`parseServerConfig(env)`). */
  config: ServerConfig;
  /** Environment variables actions may read (`*_env` secrets). */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * A SQL client the host owns: used instead of DATABASE_URL/embedded, and not closed by `stop`.
   * It counts as PostgreSQL mode: no token is generated, so set `adminToken` or create a key.
   */
  sql?: SqlClient;
  /**
   * The API's client when `sql` is given (also the host's, not closed by `stop`); give it its own
   * pool with a `statement_timeout` so API queries cannot starve the runtime. Default: `sql`.
   */
  apiSql?: SqlClient;
  /** Default: JSON lines on the console at `config.logLevel`. */
  logger?: Logger;
  /** Where notices for people go (the generated token, the embedded guide). Default console.log. */
  print?: (text: string) => void;
}

/** A running server: the observer runtime and its HTTP API. */
export interface ServerRuntime {
  /** Where the API is reachable from this machine. */
  url: string;
  port: number;
  runtime: ObserverRuntime;
  /** The API's Hono app, e.g. to mount it in a host app as well. */
  api: Hono<ApiEnv>;
  /** Stops serving, stops the runtime (in-flight work within its bound), closes connections. */
  stop(): Promise<void>;
}

/** What the live side needs from the server. */
export interface LiveDependencies {
  sql: SqlExecutor;
  feed: LiveFeed;
  logger: Logger;
  /** `OBSERVERS_LIVE_MAX_BUFFERED_BYTES`. */
  maxBufferedBytes: number;
  /** `OBSERVERS_LIVE_KEY_CHECK_MS`. */
  keyCheckMs: number;
}

/** The host's live notifications: the API's WebSocket upgrade and the hub's shutdown. */
export interface HostLive {
  upgrade: LiveUpgrade;
  /** Closes the sockets of a key just revoked (1008). */
  revoke(keyId: string): void;
  /** Closes every socket (1001) and stops publishing. */
  close(): void;
}

/** The host's running HTTP server. */
export interface HostServer {
  port: number;
  /** Stops accepting requests, lets running ones finish within `timeoutMs`, then closes the rest. */
  stop(timeoutMs: number): Promise<void>;
}

/** The host runtime's part: its WebSockets, its HTTP server, and how it knows the peer. */
export interface ServerHost {
  /** Called once, before `serve`. */
  live(deps: LiveDependencies): HostLive;
  /** The peer's address of a request (the API throttles failed authentication per client). */
  clientAddress: ClientAddress;
  serve(api: Hono<ApiEnv>, config: ServerConfig): HostServer | Promise<HostServer>;
}

/** Starts the server on `host`; see the file comment. */
export async function startServerRuntime(
  options: ServerRuntimeOptions,
  host: ServerHost,
): Promise<ServerRuntime> {
  const { config } = options;
  const logger = options.logger ?? createConsoleLogger(config.logLevel);
  const print = options.print ?? ((text: string) => console.log(text));
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => {
        logger.log("warn", "shutdown step failed", { error: String(error) });
      });
    }
  };
  try {
    let database: ServerDatabase | null = null;
    let sql: SqlClient;
    let apiSql: SqlClient;
    if (options.sql) {
      sql = options.sql;
      apiSql = options.apiSql ?? options.sql;
    } else {
      const opened = await openServerDatabase(config, logger);
      database = opened;
      sql = opened.client;
      apiSql = opened.apiClient;
      cleanups.push(() => opened.close());
    }
    if (config.migrate) {
      await applyMigrations(sql, loadMigrations(), { logger });
    }
    const services = createServerServices(config, options.env, sql, logger);
    cleanups.push(() => services.close());
    // Live notifications: one feed tails the tables for every subscriber of this process; the
    // runtime wakes it when it commits, other processes' work shows at its next poll.
    const feed = createLiveFeed({
      sql,
      clock: systemClock,
      logger,
      pollIntervalMs: Math.min(config.pollIntervalMs, 1_000),
    });
    const live = host.live({
      sql,
      feed,
      logger,
      maxBufferedBytes: config.liveMaxBufferedBytes,
      keyCheckMs: config.liveKeyCheckMs,
    });
    const runtime = createObserverRuntime({
      onCommitted: () => feed.wake(),
      sql,
      environment: services.environment,
      listenerId: config.listenerId,
      pollIntervalMs: config.pollIntervalMs,
      batchSize: config.batchSize,
      concurrency: config.concurrency,
      tenantConcurrency: config.tenantConcurrency,
      ingestMaxDeliveries: config.ingestMaxDeliveries,
      perDestination: config.perDestination,
      leaseMs: config.leaseMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      retention: config.retention,
    });

    let sampleToken = "$OBSERVERS_ADMIN_TOKEN";
    if (config.adminToken === null && !database?.embedded) {
      // Only embedded mode prints a generated token: elsewhere stdout is a log others read.
      if (!(await hasGlobalAdminKey(sql))) {
        throw new ConfigError([{ path: "OBSERVERS_ADMIN_TOKEN", message: missingAdminMessage() }]);
      }
      print(storedKeysNotice());
    } else if (config.adminToken === null) {
      const generated = await ensureBootstrapAdminToken(sql);
      if (generated === null) {
        print(earlierTokenNotice());
        sampleToken = "<admin token>";
      } else {
        print(bootstrapTokenNotice(generated));
        sampleToken = generated;
      }
    }

    const api = createObserversApi({
      sql: apiSql,
      runtime,
      limits: config.apiLimits,
      adminToken: config.adminToken,
      logger,
      environment: services.environment,
      clientAddress: host.clientAddress,
      trustedProxies: config.trustedProxies,
      live: live.upgrade,
      onKeyRevoked: (key) => live.revoke(key.id),
      rootDocs: true,
    });
    await feed.start();
    cleanups.push(() => feed.stop());
    const server = await host.serve(api, config);
    const stopServing = once(async () => {
      live.close();
      await server.stop(config.shutdownTimeoutMs);
    });
    cleanups.push(stopServing);
    const url = localUrl(config.host, server.port);

    await runtime.start();
    // Runs before the server's cleanup only on a failed start; `stop` stops serving first.
    cleanups.push(() => runtime.stop());

    if (database?.embedded) {
      const { dataDir, socketUrl } = database.embedded;
      print(embeddedNotice({ dataDir, socketUrl, apiUrl: url, token: sampleToken }));
    }
    return {
      url,
      port: server.port,
      runtime,
      api,
      async stop() {
        await stopServing();
        await closeAll();
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
