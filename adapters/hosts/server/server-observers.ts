/**
 * What the Bun and Deno factories (`createObservers`) share, and through them the ready servers:
 * the API, the live feed and the observer runtime over one database, which is the host's
 * postgres.js instance (`sql`, with the API on a pool of our own beside it), pools of our own
 * (`databaseUrl`, else `DATABASE_URL`), or embedded
 * PGlite with a local socket. The factory is synchronous so a host can mount `api` at once;
 * `start()` opens the database (PGlite opens asynchronously), migrates, checks the admin
 * credentials and starts the feed and the runtime. Until then, and once `stop()` has begun, API
 * requests that need the database answer 503 (gated-client.ts). The host owns the HTTP server;
 * `stop()` closes live sockets, lets the host stop serving (`stopServing`), drains the runtime
 * within `OBSERVERS_SHUTDOWN_TIMEOUT_MS`, then closes only what it opened.
 */
import { actionRegistry } from "../../../src/actions/registry.ts";
import type { ActionDefinition } from "../../../src/actions/types.ts";
import { createObserversApi, type ObserversApi } from "../../../src/api/app.ts";
import type { ClientAddress } from "../../../src/api/auth.ts";
import type { LiveUpgrade } from "../../../src/api/routes/live.ts";
import { parseServerConfig } from "../../../src/config/server-config.ts";
import { ConfigError } from "../../../src/errors.ts";
import { createJobDoorbell } from "../../../src/jobs/doorbell.ts";
import { createJobRunner, type Jobs } from "../../../src/jobs/runner.ts";
import { createLiveFeed, type LiveFeed } from "../../../src/live/feed.ts";
import { natsSource } from "../../../src/metrics/nats.ts";
import { gaugeSource } from "../../../src/metrics/scrape.ts";
import { sourcesSource } from "../../../src/metrics/sources.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import { createConsoleLogger, type Logger } from "../../../src/ports/logger.ts";
import type { SqlExecutor } from "../../../src/ports/sql.ts";
import { createObserverRuntime } from "../../../src/runtime/index.ts";
import type { ObserverRuntime } from "../../../src/runtime/types.ts";
import { createSourceSupervisor } from "../../../src/sources/supervisor.ts";
import { ensureBootstrapAdminToken, hasGlobalAdminKey } from "../../../src/store/api-keys.ts";
import { applyMigrations } from "../../../src/store/migrate.ts";
import { loadMigrations, type PostgresJsSql } from "../../drivers/postgres/index.ts";
import { openHostDatabase, openServerDatabase, type ServerDatabase } from "./database.ts";
import { createGatedClient } from "./gated-client.ts";
import { bridgeName, createNatsMode } from "./nats-mode.ts";
import {
  bootstrapTokenNotice,
  earlierTokenNotice,
  embeddedNotice,
  localUrl,
  missingAdminMessage,
  storedKeysNotice,
} from "./notices.ts";
import { createServerServices } from "./services.ts";
import { AVAILABLE_SOURCE_KINDS, loadSourceReader } from "./source-readers.ts";

/** Options of `createObservers` (Bun and Deno). */
export interface ObserversOptions {
  /**
   * The host's postgres.js instance (`postgres(url)`, postgres.js 3 or 4), for the runtime; left
   * open by `stop()`. LISTEN gets a connection of its own to the same server, and the API a pool of
   * its own there (`OBSERVERS_API_POOL_SIZE` connections whose statements time out after
   * `OBSERVERS_API_STATEMENT_TIMEOUT_MS`), both closed by `stop()`. It counts as PostgreSQL mode:
   * set `OBSERVERS_ADMIN_TOKEN` or create an admin key.
   */
  sql?: PostgresJsSql;
  /**
   * PostgreSQL to open pools of our own on (the runtime's, and the API's with its statement
   * timeout), closed by `stop()`. Default `env.DATABASE_URL`; with neither this nor `sql`,
   * embedded PGlite under `OBSERVERS_DATA_DIR`.
   */
  databaseUrl?: string;
  /**
   * Every other setting, by the server's variable names (`SERVER_ENV_VARS`), and what actions'
   * `*_env` secrets read. Default: the process environment.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The host's own action types, beside the built-in ones. */
  actions?: readonly ActionDefinition[];
  /** Default: JSON lines on the console at `LOG_LEVEL`. */
  logger?: Logger;
  /** Apply migrations in `start()` (default `OBSERVERS_MIGRATE`, on). */
  migrate?: boolean;
  /**
   * Also serve `/openapi.json`, `/docs`, `/console` and `/metrics` at the root, as the ready servers do
   * (default false).
   */
  rootDocs?: boolean;
  /** Where notices for people go (the generated token, the embedded guide). Default console.log. */
  print?: (text: string) => void;
}

/** Options of `start()`. */
export interface StartOptions {
  /** Where people reach the API, for the embedded guide (default from `HOST` and `PORT`). */
  url?: string;
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * Stops the host's HTTP server, letting running requests finish: called once live sockets are
   * closed and before the runtime drains, so nothing new arrives while it does.
   */
  stopServing?: () => Promise<void>;
}

/** The observers of one host process; see the file comment. */
export interface Observers {
  /** The management API as a Hono app: `host.route("/", observers.api)`, or under a prefix. */
  api: ObserversApi;
  runtime: ObserverRuntime;
  /**
   * Handlers of `builtin` jobs (docs/jobs.md): `observers.jobs.register(task, handler, options)`,
   * before or after `start()`; they run from `start()` until `stop()`.
   */
  jobs: Jobs;
  /** Opens the database, migrates, checks admin credentials, starts the feed and the runtime. */
  start(options?: StartOptions): Promise<void>;
  /** Drains gracefully and closes what the factory opened (never the host's `sql`). */
  stop(options?: StopOptions): Promise<void>;
}

/** What the live side needs. */
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
  /** Live subscribers (open sockets) now, for the metrics. */
  readonly size?: number;
}

/** The host runtime's part: its environment, its WebSockets, how it knows the peer. */
export interface ObserversHost {
  /** The process environment (`Bun.env`, `Deno.env.toObject()`). */
  env(): Readonly<Record<string, string | undefined>>;
  /** Called once, by the factory. */
  live(deps: LiveDependencies): HostLive;
  /** The peer's address of a request (the API throttles failed authentication per client). */
  clientAddress: ClientAddress;
  /**
   * Keeps postgres.js's dropped array-type query (adapters/drivers/postgres/driver-defects.ts)
   * from ending the process, and only it; `onDefect` hears of each. Returns the undo.
   */
  guardDriverDefects(onDefect: (reason: unknown) => void): () => void;
}

/** The shared factory core; see the file comment. Throws `ConfigError` on invalid settings. */
export function createServerObservers(options: ObserversOptions, host: ObserversHost): Observers {
  if (options.sql && options.databaseUrl !== undefined) {
    throw new ConfigError([
      { path: "databaseUrl", message: "give either sql (your pool) or databaseUrl, not both" },
    ]);
  }
  const env = options.env ?? host.env();
  const config = parseServerConfig(
    options.databaseUrl === undefined ? env : { ...env, DATABASE_URL: options.databaseUrl },
  );
  const migrate = options.migrate ?? config.migrate;
  const logger = options.logger ?? createConsoleLogger(config.logLevel);
  const print = options.print ?? ((text: string) => console.log(text));
  const registry = actionRegistry(options.actions);
  // The runtime's connections and the API's (its own pool with a statement timeout on PostgreSQL).
  const sql = createGatedClient();
  const apiSql = createGatedClient();

  // Builtin jobs enqueued here (job actions, API retries) wake this runner in process and ring
  // other processes outside the enqueueing transaction (src/jobs/doorbell.ts).
  const doorbell = createJobDoorbell({ sql, logger });
  const jobs = createJobRunner({
    sql,
    clock: systemClock,
    logger,
    owner: `${config.listenerId}-jobs-${crypto.randomUUID()}`,
    leaseMs: config.leaseMs,
    pollIntervalMs: config.pollIntervalMs,
    doorbell,
  });
  const services = createServerServices(config, env, sql, logger, {
    localTasks: () => jobs.tasks(),
    doorbell,
  });
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
  // NATS mode (OBSERVERS_TRANSPORT=nats): a bridge and/or a worker instead of the runtime's own
  // reading of the change log; its health reads the bridge's cursor.
  const nats = config.transport === "nats" ? createNatsMode(config, sql, logger) : null;
  const cursorName = nats ? bridgeName(config.nats.stream) : config.listenerId;
  const runtime = createObserverRuntime({
    onCommitted: () => feed.wake(),
    sql,
    environment: services.environment,
    registry,
    listenerId: cursorName,
    ...(nats ? { transport: nats.transport } : {}),
    pollIntervalMs: config.pollIntervalMs,
    batchSize: config.batchSize,
    concurrency: config.concurrency,
    tenantConcurrency: config.tenantConcurrency,
    ingestMaxDeliveries: config.ingestMaxDeliveries,
    perDestination: config.perDestination,
    circuits: config.circuits,
    adaptiveConcurrency: config.adaptiveConcurrency,
    leaseMs: config.leaseMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    retention: config.retention,
  });
  // Sources (docs/sources.md): read where changes enter the pipeline, so not on NATS workers.
  // Every other server competes for each source's lease: one reads it, another takes over.
  const sources =
    config.role === "worker"
      ? null
      : createSourceSupervisor({
          sql,
          readers: loadSourceReader,
          clock: systemClock,
          logger,
          env,
          policy: config.actionPolicy,
          sourceKey: config.sourceKey,
          leaseMs: config.sourceLeaseMs,
          pollIntervalMs: Math.min(config.pollIntervalMs, 2_000),
        });
  const sourceStatus = () => sources?.status() ?? [];
  const api = createObserversApi({
    sql: apiSql,
    runtime,
    registry,
    limits: config.apiLimits,
    adminToken: config.adminToken,
    logger,
    environment: services.environment,
    clientAddress: host.clientAddress,
    trustedProxies: config.trustedProxies,
    live: live.upgrade,
    onKeyRevoked: (key) => live.revoke(key.id),
    rootDocs: options.rootDocs ?? false,
    metrics: {
      public: config.metricsPublic,
      // In NATS mode the change log's reader is the bridge: its cursor is the backlog.
      listenerId: cursorName,
      sources: [
        gaugeSource(
          "fraiseql_observer_live_subscribers",
          "WebSocket subscribers of the live feed open on this process.",
          () => live.size ?? null,
        ),
        ...(nats ? [natsSource(nats.transport)] : []),
        sourcesSource(sourceStatus),
      ],
    },
    sources: {
      kinds: AVAILABLE_SOURCE_KINDS,
      sourceKey: config.sourceKey,
      onChange: () => sources?.wake(),
      status: sourceStatus,
    },
  });

  // What start() opened, closed in reverse order by stop() (or by a failed start).
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => {
        logger.log("warn", "shutdown step failed", { error: String(error) });
      });
    }
  };
  let started = false;
  let stopping: Promise<void> | undefined;

  /**
   * The runtime's dispatcher keeps a lease heartbeat from its creation: a runtime that never
   * started (or whose start failed) is stopped too, or the timer keeps the host process alive.
   * Stopping twice does nothing, and with nothing claimed it touches no connection.
   */
  const stopRuntime = () =>
    runtime.stop().catch((error: unknown) => {
      logger.log("warn", "stopping the runtime failed", { error: String(error) });
    });

  async function openDatabase(): Promise<ServerDatabase> {
    return options.sql
      ? openHostDatabase(options.sql, config, logger)
      : openServerDatabase(config, logger);
  }

  async function start(startOptions: StartOptions = {}): Promise<void> {
    if (started) throw new Error("start() was already called");
    if (stopping) throw new Error("these observers were stopped; create new ones");
    started = true;
    const unguard = host.guardDriverDefects((reason) => {
      logger.log(
        "warn",
        "a new database connection failed while starting; the pool opens another",
        { error: reason instanceof Error ? reason.message : String(reason) },
      );
    });
    cleanups.push(async () => unguard());
    cleanups.push(() => services.close());
    try {
      const database = await openDatabase();
      cleanups.push(() => database.close());
      sql.open(database.client);
      cleanups.push(async () => sql.shut());
      if (migrate) await applyMigrations(sql, loadMigrations(), { logger });

      let sampleToken = "$OBSERVERS_ADMIN_TOKEN";
      if (config.adminToken === null && !database.embedded) {
        // Only embedded mode prints a generated token: elsewhere stdout is a log others read.
        if (!(await hasGlobalAdminKey(sql))) {
          throw new ConfigError([
            { path: "OBSERVERS_ADMIN_TOKEN", message: missingAdminMessage() },
          ]);
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

      await feed.start();
      cleanups.push(() => feed.stop());
      if (nats) {
        // Closed after the runtime has stopped (cleanups run in reverse): acks are sent first.
        cleanups.push(() => nats.close());
        await nats.open();
      }
      // After the runtime and the jobs have stopped: their last rings go out before closing.
      cleanups.push(() => doorbell.idle());
      await runtime.start();
      cleanups.push(() => runtime.stop());
      await jobs.start();
      cleanups.push(() => jobs.stop(config.shutdownTimeoutMs));
      if (sources) {
        // Stopped before the runtime drains (cleanups run in reverse): readers give their leases up.
        await sources.start();
        cleanups.push(() => sources.stop());
      }
      apiSql.open(database.apiClient);
      cleanups.push(async () => apiSql.shut());

      if (database.embedded) {
        const { dataDir, socketUrl } = database.embedded;
        const apiUrl = startOptions.url ?? localUrl(config.host, config.port);
        print(embeddedNotice({ dataDir, socketUrl, apiUrl, token: sampleToken }));
      }
    } catch (error) {
      live.close();
      await closeAll();
      await stopRuntime();
      throw error;
    }
  }

  function stop(stopOptions: StopOptions = {}): Promise<void> {
    stopping ??= (async () => {
      // Sockets first: a host server's graceful stop would otherwise wait for them.
      live.close();
      if (stopOptions.stopServing) {
        await stopOptions.stopServing().catch((error: unknown) => {
          logger.log("warn", "stopping the HTTP server failed", { error: String(error) });
        });
      }
      // Cleanups run in reverse: API gate, runtime (drains), feed, connections, services, guard.
      await closeAll();
      await stopRuntime();
      // Never started: the services (lazy Redis and SMTP clients) are still to close.
      if (!started) await services.close();
    })();
    return stopping;
  }

  return {
    api,
    runtime,
    jobs: { register: jobs.register, tasks: jobs.tasks },
    start,
    stop,
  };
}
