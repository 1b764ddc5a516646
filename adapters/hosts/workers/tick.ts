/**
 * One tick of the observer runtime on a Worker (the cron handler, or the ticker's alarm): the
 * whole core runtime, not a second one, over a Hyperdrive client of its own, for a bounded time.
 *
 * 1. Checks the schema (schema.ts): a database without this bundle's migrations is left alone.
 * 2. Starts `createObserverRuntime` (polling only: Hyperdrive has no LISTEN, and the client has
 *    no `listen`), which fires the scheduled observers' due ticks (docs/time.md: one per tick
 *    however many run, the latest after a gap), reads the change log gap-free, matches into
 *    durable deliveries, claims due ones with the row-lock claim every runtime uses, runs them
 *    and records the outcomes.
 * 3. Every 100 ms looks at the backlog (`health().lag`): it stops once nothing is pending or due
 *    and no replay waits for it (idle), when the budget (`OBSERVERS_TICK_BUDGET_MS`, 20 s) is
 *    spent, or when the actions' outbound requests reach `OBSERVERS_TICK_MAX_SUBREQUESTS`. A
 *    running replay (docs/delivery.md) keeps it working page after page within the budget: one
 *    whose pages match nothing creates no due delivery, and would otherwise look idle.
 * 4. `stop()`: no new claims; running attempts get `OBSERVERS_SHUTDOWN_TIMEOUT_MS` (at most 10 s
 *    here) to finish, the rest are cancelled (not counted as attempts) and their leases released;
 *    every outcome is recorded. What is left waits in the tables for the next tick.
 * 5. Optionally the retention sweep, then `publishLive` (the tick's changes and executions to the
 *    live hubs), then reads when something is due next, so the caller can chain a tick sooner
 *    than the next cron (the ticker's alarm, ticker.ts).
 *
 * A tick killed by the platform half-way loses nothing: its leases run out and the work comes due
 * again (at-least-once, same webhook-id), exactly as after a crashed server.
 */
import type { ActionRegistry } from "../../../src/actions/types.ts";
import { createJobDoorbell, type JobDoorbell } from "../../../src/jobs/doorbell.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import { createObserverRuntime } from "../../../src/runtime/runtime.ts";
import type { RuntimeHealth } from "../../../src/runtime/types.ts";
import { sweepRetention } from "../../../src/store/retention.ts";
import { TICK_DATABASE_CONNECTIONS, type WorkersConfig } from "./config.ts";
import { hyperdriveClient } from "./database.ts";
import { type PublishLiveResult, publishLive } from "./live-publisher.ts";
import { checkSchema, type SchemaStatus } from "./schema.ts";
import { countingFetch, workersEnvironment } from "./services.ts";
import type { DurableObjectNamespace, Hyperdrive } from "./types.ts";

/** The bindings a tick uses. */
export interface TickBindings {
  HYPERDRIVE: Hyperdrive;
  /** The Worker's env: `cloudflare-queues` jobs find their queue binding there by name. */
  QUEUES?: Readonly<Record<string, unknown>>;
  /** Optional: without it nothing is published live. */
  LIVE_HUB?: DurableObjectNamespace;
}

/** Why a tick stopped claiming. */
export type TickStop = "idle" | "budget" | "subrequests" | "schema";

/** What one tick did. */
export interface TickResult {
  stopped: TickStop;
  startedAt: string;
  durationMs: number;
  /** Changes matched by this tick. */
  eventsProcessed: number;
  /** Failures counted by this tick's runtime (see the health's `errors`). */
  errors: number;
  /** Outbound requests of actions. */
  subrequests: number;
  /** After the tick: what is left. */
  lag: RuntimeHealth["lag"];
  /** When something next comes due (ms since the epoch; now when work is left), or null. */
  nextDueAt: number | null;
  live: PublishLiveResult | null;
  /** Set when the schema check failed (the tick did nothing). */
  schemaProblem: string | null;
}

export interface TickOptions {
  config: WorkersConfig;
  vars: Readonly<Record<string, string>>;
  logger: Logger;
  /** Also sweep retention (the cron handler asks once an hour). */
  retention?: boolean;
  /** Default: checkSchema (the Worker passes its per-isolate cached check). */
  checkSchema?: (sql: SqlClient) => Promise<SchemaStatus>;
  /** Default: a Hyperdrive client of 2 connections. Closed at the end either way. */
  connect?: () => SqlClient;
  /**
   * The action types deliveries may run (`actionRegistry(custom)`); default: the built-ins. Give
   * the registry the Worker's API was built with, or a host's own types fail as unknown.
   */
  registry?: ActionRegistry;
}

const CHECK_EVERY_MS = 100;
/** The tick's poll of the tables (it has no notifications): at most this. */
const TICK_POLL_MS = 250;
/** At most this much of the shutdown timeout is granted inside a tick. */
const TICK_SHUTDOWN_MAX_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * When the next delivery comes due (its retry time, its delay, or a lease running out), the next
 * tick of a scheduled observer (docs/time.md), or a running replay can be taken (now, or when the
 * lease of the runtime working on it runs out), whichever is first; null when none.
 */
async function nextDue(sql: SqlClient): Promise<number | null> {
  const rows = await sql.query<{ at: string | null }>(
    `SELECT floor(extract(epoch FROM least(
       (SELECT min(next_attempt_at) FROM core.tb_observer_delivery),
       (SELECT min(s.next_run_at) FROM core.tb_observer_schedule s
          JOIN core.tb_observer o ON o.pk_observer = s.fk_observer
          WHERE o.schedule IS NOT NULL AND o.deleted_at IS NULL AND o.enabled),
       (SELECT min(CASE WHEN lease_owner IS NULL THEN now() ELSE greatest(lease_until, now()) END)
          FROM core.tb_observer_replay WHERE status = 'running')
     )) * 1000)::text AS at`,
  );
  const at = rows[0]?.at;
  return at === null || at === undefined ? null : Number(at);
}

/**
 * Whether a running replay waits for this tick: one whose lease is free or run out, or held by
 * this tick's runtime (working through it). One another runtime holds is that runtime's work.
 */
async function replayWaiting(sql: SqlClient, owner: string): Promise<boolean> {
  const rows = await sql.query<{ waiting: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM core.tb_observer_replay WHERE status = 'running'
       AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < now())) AS waiting`,
    [owner],
  );
  return rows[0]?.waiting === true;
}

/** Runs one tick (see above). Throws only when the database cannot be reached at all. */
export async function runTick(bindings: TickBindings, options: TickOptions): Promise<TickResult> {
  const { config, logger } = options;
  const server = config.server;
  const startedAt = Date.now();
  const sql = options.connect
    ? options.connect()
    : hyperdriveClient(bindings.HYPERDRIVE, { max: TICK_DATABASE_CONNECTIONS });
  const emptyLag = { pending_changes: 0, due_deliveries: 0, oldest_pending_ms: 0 };
  let doorbell: JobDoorbell | null = null;
  try {
    const schema = await (options.checkSchema ?? checkSchema)(sql);
    if (!schema.current) {
      logger.log("error", "tick skipped: the database schema is not this release's", {
        problem: schema.problem,
      });
      return {
        stopped: "schema",
        startedAt: new Date(startedAt).toISOString(),
        durationMs: Date.now() - startedAt,
        eventsProcessed: 0,
        errors: 0,
        subrequests: 0,
        lag: emptyLag,
        nextDueAt: null,
        live: null,
        schemaProblem: schema.problem,
      };
    }
    const outbound = countingFetch();
    doorbell = createJobDoorbell({ sql, logger });
    const owner = `runtime-${crypto.randomUUID()}`;
    const runtime = createObserverRuntime({
      sql,
      owner,
      environment: workersEnvironment({
        config,
        vars: options.vars,
        logger,
        fetch: outbound.fetch,
        sql,
        doorbell,
        ...(bindings.QUEUES ? { queues: bindings.QUEUES } : {}),
      }),
      ...(options.registry ? { registry: options.registry } : {}),
      listenerId: server.listenerId,
      pollIntervalMs: Math.min(server.pollIntervalMs, TICK_POLL_MS),
      batchSize: server.batchSize,
      concurrency: server.concurrency,
      tenantConcurrency: server.tenantConcurrency,
      ingestMaxDeliveries: server.ingestMaxDeliveries,
      perDestination: server.perDestination,
      circuits: server.circuits,
      adaptiveConcurrency: server.adaptiveConcurrency,
      leaseMs: server.leaseMs,
      shutdownTimeoutMs: Math.min(server.shutdownTimeoutMs, TICK_SHUTDOWN_MAX_MS),
      // The sweep runs from the cron handler (below), not from a timer inside a tick.
      retention: { ...server.retention, intervalMs: 24 * 60 * 60_000 },
      // A tick is seconds long: the delivery table is left to the server's autovacuum.
      vacuumIntervalMs: 0,
    });
    let stopped: TickStop = "budget";
    let health: RuntimeHealth | null = null;
    await runtime.start();
    try {
      const deadline = startedAt + config.tickBudgetMs;
      while (Date.now() < deadline) {
        await sleep(CHECK_EVERY_MS);
        if (outbound.count >= config.maxSubrequests) {
          stopped = "subrequests";
          break;
        }
        health = await runtime.health();
        if (
          health.lag.pending_changes === 0 &&
          health.lag.due_deliveries === 0 &&
          !(await replayWaiting(sql, owner))
        ) {
          stopped = "idle";
          break;
        }
      }
    } finally {
      // Graceful: finishes or cancels running attempts, releases leases, records outcomes.
      await runtime.stop();
    }
    health = await runtime.health();
    if (options.retention) {
      try {
        logger.log("info", "retention sweep", { ...(await sweepRetention(sql, server.retention)) });
      } catch (error) {
        logger.log("error", "retention sweep failed", { error: message(error) });
      }
    }
    let live: PublishLiveResult | null = null;
    if (bindings.LIVE_HUB) {
      try {
        live = await publishLive({ LIVE_HUB: bindings.LIVE_HUB }, sql);
      } catch (error) {
        // The feed's position did not move: the next tick publishes the same rows.
        logger.log("error", "live publish failed", { error: message(error) });
      }
    }
    const lag = health.lag;
    const nextDueAt =
      lag.pending_changes > 0 || lag.due_deliveries > 0 ? Date.now() : await nextDue(sql);
    const result: TickResult = {
      stopped,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
      eventsProcessed: health.events_processed,
      errors: health.errors,
      subrequests: outbound.count,
      lag,
      nextDueAt,
      live,
      schemaProblem: null,
    };
    logger.log("info", "tick", {
      stopped,
      duration_ms: result.durationMs,
      events: result.eventsProcessed,
      errors: result.errors,
      subrequests: result.subrequests,
      pending_changes: lag.pending_changes,
      due_deliveries: lag.due_deliveries,
      live_items: live?.items ?? 0,
    });
    return result;
  } finally {
    // The builtin jobs' last ring reaches the processes that run them before the connections close.
    await doorbell?.idle();
    await sql.close().catch(() => {});
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
