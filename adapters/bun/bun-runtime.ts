import type { Hono } from "hono";
import { createObserversApi } from "../../src/api/app.ts";
import type { ApiEnv } from "../../src/api/auth.ts";
import { MAX_BODY_BYTES } from "../../src/api/limits.ts";
import type { ServerConfig } from "../../src/config/server-config.ts";
import { createLiveFeed } from "../../src/live/feed.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { createConsoleLogger, type Logger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { createObserverRuntime } from "../../src/runtime/index.ts";
import type { ObserverRuntime } from "../../src/runtime/types.ts";
import { ensureBootstrapAdminToken } from "../../src/store/api-keys.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { loadMigrations } from "../postgres/index.ts";
import { type BunServer, type BunWebSocketHandler, bunGlobal } from "./bun-api.ts";
import { openServerDatabase, type ServerDatabase } from "./database.ts";
import { createBunLiveHub } from "./live-hub.ts";
import { bootstrapTokenNotice, earlierTokenNotice, embeddedNotice, localUrl } from "./notices.ts";
import { createBunServices } from "./services.ts";

/** Options of `createBunRuntime`. */
export interface BunRuntimeOptions {
  /** The parsed environment (`parseServerConfig(Bun.env)`). */
  config: ServerConfig;
  /** Environment variables actions may read (`*_env` secrets). */
  env: Readonly<Record<string, string | undefined>>;
  /** A SQL client the host owns: used instead of DATABASE_URL/embedded, and not closed by `stop`. */
  sql?: SqlClient;
  /** Default: JSON lines on the console at `config.logLevel`. */
  logger?: Logger;
  /** Where notices for people go (the generated token, the embedded guide). Default console.log. */
  print?: (text: string) => void;
}

/** A running Bun server: the observer runtime and its HTTP API. */
export interface BunRuntime {
  /** Where the API is reachable from this machine. */
  url: string;
  port: number;
  runtime: ObserverRuntime;
  /** The API's Hono app, e.g. to mount it in a host app as well. */
  api: Hono<ApiEnv>;
  /** Stops serving, stops the runtime (in-flight work within its bound), closes connections. */
  stop(): Promise<void>;
}

/**
 * Starts the server on Bun: opens the database (PostgreSQL, or embedded PGlite with a local
 * socket), applies migrations, starts the runtime and serves the API with `Bun.serve`.
 * Whatever was opened is closed again if a later step fails.
 */
export async function createBunRuntime(options: BunRuntimeOptions): Promise<BunRuntime> {
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
    if (options.sql) sql = options.sql;
    else {
      const opened = await openServerDatabase(config, logger);
      database = opened;
      sql = opened.client;
      cleanups.push(() => opened.close());
    }
    if (config.migrate) {
      await applyMigrations(sql, loadMigrations(), { logger });
    }
    const services = createBunServices(config, options.env, sql, logger);
    cleanups.push(() => services.close());
    // Live notifications: one feed tails the tables for every subscriber of this process; the
    // runtime wakes it when it commits, other processes' work shows at its next poll.
    const feed = createLiveFeed({
      sql,
      clock: systemClock,
      logger,
      pollIntervalMs: Math.min(config.pollIntervalMs, 1_000),
    });
    const hub = createBunLiveHub({
      sql,
      feed,
      logger,
      maxBufferedBytes: config.liveMaxBufferedBytes,
    });
    const runtime = createObserverRuntime({
      onCommitted: () => feed.wake(),
      sql,
      environment: services.environment,
      listenerId: config.listenerId,
      pollIntervalMs: config.pollIntervalMs,
      batchSize: config.batchSize,
      concurrency: config.concurrency,
      perDestination: config.perDestination,
      leaseMs: config.leaseMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      retention: config.retention,
    });

    let sampleToken = "$OBSERVERS_ADMIN_TOKEN";
    if (config.adminToken === null) {
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
      sql,
      runtime,
      adminToken: config.adminToken,
      logger,
      environment: services.environment,
      // Hono's env is the Bun server (passed to fetch below).
      clientAddress: (c) => (c.env as BunServer).requestIP(c.req.raw)?.address,
      live: hub.upgrade,
    });
    await feed.start();
    cleanups.push(() => feed.stop());
    // https://bun.sh/docs/api/http#bun-serve
    const server = bunGlobal().serve({
      hostname: config.host,
      port: config.port,
      fetch: (request, bun) => api.fetch(request, bun),
      // Bun cuts off bodies well past the API's own limit, which answers with a problem document.
      maxRequestBodySize: 2 * MAX_BODY_BYTES,
      websocket: hub.websocket as BunWebSocketHandler<never>,
    });
    hub.bind(server);
    const stopServing = once(async () => {
      hub.close();
      await stopServer(server, config.shutdownTimeoutMs);
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

/** Stops accepting requests, lets running ones finish within `timeoutMs`, then closes the rest. */
async function stopServer(server: BunServer, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([server.stop(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  await server.stop(true);
}
