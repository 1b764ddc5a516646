/**
 * The fault-injection scenarios, shared by the CI suite (test/e2e/fault.test.ts, small) and the
 * benchmark (bench/fault.bench.ts, the published figures): the Bun server as users run it, in its
 * own process, on a PostgreSQL instance this module starts itself (./pg-cluster.ts), delivering
 * a webhook for every INSERT into `fault_orders` to a real HTTP receiver (./hook-receiver.ts)
 * while ./load.ts writes single-row commits and a fault strikes at a random moment:
 *
 * - `kill9`: the server is killed with SIGKILL and a replacement started at once;
 * - `pg_restart`: PostgreSQL is crashed (`pg_ctl stop -m immediate`) and started again;
 * - `receiver_down`: the receiver stops accepting connections for a while, then comes back;
 * - `listener_terminated`: every connection of the server (its LISTEN connection included) is
 *   ended with `pg_terminate_backend`, several times;
 * - `two_servers_kill9`: two servers share the work and one of them is killed with SIGKILL.
 *
 * Every round has a database of its own (cloned from a migrated template) and its own webhook
 * path, and ends once every captured change has reached the receiver and no delivery is pending
 * (or its drain timeout passes). It is then counted (./tally.ts): captured, delivered,
 * duplicated (always under the same webhook-id) and lost, which must be 0.
 *
 * Only the server's public surface is used: environment variables, `POST /api/observers`,
 * `GET /api/observers/runtime/health`, the webhooks, and the documented tables
 * (`core.tb_entity_change_log`, `core.tb_observer_delivery`, `core.tb_observer_log`,
 * `core.tb_observer_dlq`).
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { loadMigrations } from "../../../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../../../adapters/drivers/postgres/postgres-client.ts";
import { applyMigrations } from "../../../src/store/migrate.ts";
import { type ServerProcess, startServer } from "../server-process.ts";
import { type FaultReceiver, startFaultReceiver } from "./hook-receiver.ts";
import { LOAD_APPLICATION_NAME, type Load, type LoadStats, startLoad } from "./load.ts";
import { type PgCluster, startPgCluster } from "./pg-cluster.ts";
import { everyChangeReceived, type RoundCounts, roundProblems, tallyRound } from "./tally.ts";

export const SCENARIOS = [
  "kill9",
  "pg_restart",
  "receiver_down",
  "listener_terminated",
  "two_servers_kill9",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** What each scenario does, as the tables say it. */
export const SCENARIO_LABELS: Record<ScenarioName, string> = {
  kill9: "server killed (-9) under load, replacement started",
  pg_restart: "PostgreSQL crashed (stop -m immediate) and restarted",
  receiver_down: "receiver down (connections refused), then back",
  listener_terminated: "server's connections terminated (pg_terminate_backend)",
  two_servers_kill9: "two servers sharing the work, one killed (-9)",
};

/** The size of a run: the CI suite and the benchmark differ only here. */
export interface FaultSettings {
  /** Single-row commits per second offered by the load. */
  rate: number;
  /** The load's connections. */
  connections: number;
  /** Rows written in one statement just before each fault (see `strikeAt`); 0: none. */
  burst: number;
  /** How long the load runs in a round (longer when the fault needs it: see `run`). */
  loadMs: number;
  /** Rounds per scenario (0 skips it). */
  rounds: Record<ScenarioName, number>;
  /** `OBSERVERS_LEASE_MS` of the servers: how soon a killed server's claimed work comes due again. */
  leaseMs: number;
  /** `OBSERVERS_POLL_INTERVAL_MS` of the servers. */
  pollMs: number;
  /** How long PostgreSQL stays down in `pg_restart`. */
  pgDownMs: number;
  /** How long the receiver stays down in `receiver_down`. */
  receiverDownMs: number;
  /** `pg_terminate_backend` sweeps per `listener_terminated` round. */
  terminations: number;
  /** After the load stops, how long a round may take to deliver everything before it fails. */
  drainTimeoutMs: number;
  /** Seed of the random moments (each round derives its own). */
  seed: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** One fault as it happened. */
export interface FaultEvent {
  kind: string;
  /** Since the load started. */
  at_ms: number;
  /** When it was over (the replacement healthy, PostgreSQL accepting connections, …). */
  healed_ms: number;
  /** Captured changes not yet received when it struck. */
  backlog: number;
  /** Connections ended, for `terminate`. */
  terminated?: number;
  /** Of which LISTEN connections. */
  listeners?: number;
}

/** One round's outcome: counts, the faults, timings and whatever went wrong. */
export interface RoundResult {
  scenario: ScenarioName;
  round: number;
  seed: number;
  counts: RoundCounts;
  load: LoadStats & { rows: number };
  faults: FaultEvent[];
  /** Attempts logged as anything but a success (retries), and dead letters. */
  failed_attempts_logged: number | null;
  dead_letters: number;
  /** From the end of the load until every captured change had been received and nothing was pending. */
  drain_ms: number;
  drained: boolean;
  /** From the load's start to the end of the round's counting. */
  duration_ms: number;
  /**
   * How each server still running at the end took SIGTERM: its exit code, or `hung` when it had
   * not exited 20 s later (it is then killed). Recorded, not a failure of the round: a shutdown
   * waits for the queries in flight, and postgres.js 3.4.9 can hold a query until its connection's
   * connect timeout when the backend was terminated during the connection's start-up (with the
   * adapter's former 30 s, 1 of 20 servers took longer than 20 s; see bench/README.md).
   */
  shutdowns: (number | "hung" | null)[];
  /** The output of the servers that hung at shutdown (tails), for whoever investigates. */
  shutdown_notes: string[];
  /** Empty when the round passed. */
  problems: string[];
}

/** The PostgreSQL instance and the receiver that every round shares. */
export interface FaultHarness {
  cluster: PgCluster;
  receiver: FaultReceiver;
  /** Runs one scenario's rounds, one after the other. */
  runScenario(scenario: ScenarioName, settings: FaultSettings): Promise<RoundResult[]>;
  close(): Promise<void>;
}

const TEMPLATE = "fault_template";
/** The application_name of the rounds' own checking connection (never terminated). */
const CHECK_APPLICATION_NAME = "fault-check";
const ADMIN_TOKEN = `fault-${randomBytes(12).toString("hex")}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A small seeded generator (mulberry32): the same seed strikes at the same moments. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The retry policy of the rounds' observer, sized to outlast a receiver outage of `outageMs`.
 * The default (5 attempts, exponential full jitter from 500 ms) gives up within 7.5 s of backoff
 * and would dead-letter everything a 30 s outage holds. With a 5 s cap every retry waits a
 * uniformly random 0 … 5 s once past the first few, 2.5 s on average: `max_attempts` is chosen so
 * that the expected total wait is at least four times the outage (a 30 s outage: 56 attempts,
 * about 130 s expected, with the chance that any one delivery's waits add up to less than 30 s
 * around 10⁻²⁰), and a delivery is retried within 5 s of the receiver coming back.
 */
export function retryPolicyFor(outageMs: number) {
  const capMs = 5_000;
  return {
    max_attempts: Math.min(100, 8 + Math.ceil((4 * outageMs) / (capMs / 2))),
    backoff_strategy: "exponential",
    initial_delay_ms: 500,
    max_delay_ms: capMs,
  };
}

/** Starts the PostgreSQL instance (with a migrated, tracked template database) and the receiver. */
export async function startFaultHarness(
  options: { receiverMaxDelayMs?: number } = {},
): Promise<FaultHarness> {
  const cluster = await startPgCluster();
  let receiver: FaultReceiver | undefined;
  try {
    const admin = postgres(cluster.url("postgres"), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE DATABASE ${TEMPLATE}`);
    } finally {
      await admin.end({ timeout: 5 });
    }
    const client = createPostgresClient(cluster.url(TEMPLATE), { max: 1 });
    try {
      await applyMigrations(client, loadMigrations());
      await client.query(`CREATE TABLE fault_orders (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        status text NOT NULL DEFAULT 'new',
        created_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
      await client.query(`SELECT core.fn_track_table('fault_orders', 'Order')`);
    } finally {
      await client.close();
    }
    receiver = await startFaultReceiver({ maxDelayMs: options.receiverMaxDelayMs ?? 10 });
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  const harness: FaultHarness = {
    cluster,
    receiver,
    async runScenario(scenario, settings) {
      const results: RoundResult[] = [];
      for (let round = 1; round <= settings.rounds[scenario]; round++) {
        results.push(await runRound(harness, scenario, round, settings));
      }
      return results;
    },
    async close() {
      await receiver?.close();
      await cluster.destroy();
    },
  };
  return harness;
}

/** What a fault needs from its round. */
interface RoundContext {
  settings: FaultSettings;
  random: () => number;
  harness: FaultHarness;
  check: postgres.Sql;
  servers: ServerProcess[];
  /** Starts one more server on the round's database (healthy, observer loaded). */
  addServer(): Promise<ServerProcess>;
  /** Milliseconds since the load started. */
  elapsed(): number;
  /** A random moment in [from, to] × the load's length, from its start. */
  pick(from: number, to: number): number;
  /**
   * Waits until `moment`, writes a burst of `settings.burst` rows in one statement, then waits a
   * random 0 … 100 ms more: the fault strikes while a batch is being delivered (a few hundred
   * webhooks take the server about that long here), whatever the steady load keeps in flight.
   */
  strikeAt(moment: number): Promise<void>;
  /** Captured changes not yet received, now. */
  backlog(): Promise<number>;
}

type Fault = (ctx: RoundContext) => Promise<FaultEvent[]>;

/** Kills the round's first server with SIGKILL. */
async function killFirst(ctx: RoundContext): Promise<void> {
  const [server] = ctx.servers;
  if (!server) throw new Error("no server to kill");
  // Out of the list first: a death of a listed server is reported as one nobody caused.
  ctx.servers.splice(ctx.servers.indexOf(server), 1);
  await server.kill9();
}

/**
 * Strikes at `moment` (see `strikeAt`): when it struck, since the load started, and the backlog
 * then. The fault itself follows.
 */
async function strike(
  ctx: RoundContext,
  moment: number,
): Promise<Pick<FaultEvent, "at_ms" | "backlog">> {
  await ctx.strikeAt(moment);
  const backlog = await ctx.backlog();
  return { at_ms: ctx.elapsed(), backlog };
}

const FAULTS: Record<ScenarioName, { servers: number; fault: Fault }> = {
  kill9: {
    servers: 1,
    async fault(ctx) {
      const struck = await strike(ctx, ctx.pick(0.2, 0.8));
      await killFirst(ctx);
      // As a supervisor would: a new process at once, on the same database.
      await ctx.addServer();
      return [{ kind: "kill9", ...struck, healed_ms: ctx.elapsed() }];
    },
  },
  pg_restart: {
    servers: 1,
    async fault(ctx) {
      const struck = await strike(ctx, ctx.pick(0.2, 0.6));
      await ctx.harness.cluster.crash();
      await sleep(ctx.settings.pgDownMs);
      await ctx.harness.cluster.start();
      return [{ kind: "pg_crash", ...struck, healed_ms: ctx.elapsed() }];
    },
  },
  receiver_down: {
    servers: 1,
    async fault(ctx) {
      const struck = await strike(ctx, ctx.pick(0.2, 0.5));
      await ctx.harness.receiver.down();
      await sleep(ctx.settings.receiverDownMs);
      await ctx.harness.receiver.up();
      return [{ kind: "receiver_down", ...struck, healed_ms: ctx.elapsed() }];
    },
  },
  listener_terminated: {
    servers: 1,
    async fault(ctx) {
      const moments = Array.from({ length: ctx.settings.terminations }, () =>
        ctx.pick(0.1, 0.9),
      ).sort((a, b) => a - b);
      const events: FaultEvent[] = [];
      for (const moment of moments) {
        const struck = await strike(ctx, moment);
        // Everything on the round's database but the load and this check: the server's pool and
        // its LISTEN connection (whatever application_name a version of the server gives them).
        const ended = await ctx.check<{ listen: boolean }[]>`
          SELECT pg_terminate_backend(pid) AS ok,
                 (application_name LIKE '%:listen' OR query ILIKE 'listen%') AS listen
          FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND backend_type = 'client backend'
            AND application_name NOT IN (${LOAD_APPLICATION_NAME}, ${CHECK_APPLICATION_NAME})`;
        events.push({
          kind: "terminate",
          ...struck,
          healed_ms: ctx.elapsed(),
          terminated: ended.length,
          listeners: ended.filter((row) => row.listen).length,
        });
      }
      return events;
    },
  },
  two_servers_kill9: {
    servers: 2,
    async fault(ctx) {
      const struck = await strike(ctx, ctx.pick(0.2, 0.8));
      // No replacement: the survivor must finish the victim's work (after its leases run out).
      await killFirst(ctx);
      return [{ kind: "kill9", ...struck, healed_ms: struck.at_ms }];
    },
  },
};

/** Reads `GET /api/observers/runtime/health`; null when it does not answer. */
async function observerCount(server: ServerProcess): Promise<number | null> {
  try {
    const response = await fetch(`${server.url}/api/observers/runtime/health`, {
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as { observer_count?: number };
    return typeof body.observer_count === "number" ? body.observer_count : null;
  } catch {
    return null;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function runRound(
  harness: FaultHarness,
  scenario: ScenarioName,
  round: number,
  settings: FaultSettings,
): Promise<RoundResult> {
  const seed = (settings.seed + SCENARIOS.indexOf(scenario) * 1_000 + round) >>> 0;
  const random = seededRandom(seed);
  const log = settings.log ?? (() => {});
  const database = `fault_${scenario}_${round}_${randomBytes(3).toString("hex")}`;
  const { cluster, receiver } = harness;
  {
    const admin = postgres(cluster.url("postgres"), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE DATABASE ${database} TEMPLATE ${TEMPLATE}`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
  const url = cluster.url(database);
  const check = postgres(url, {
    max: 1,
    connect_timeout: 3,
    backoff: () => 0.2,
    max_lifetime: null,
    // No array-type query at connect: postgres.js 3.4.9 drops its promise when the connection dies
    // during start-up (adapters/drivers/postgres/driver-defects.ts), an unhandled rejection in the
    // test process while PostgreSQL is crashed. These connections read and write no arrays.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: CHECK_APPLICATION_NAME },
  });
  const hookUrl = receiver.beginRound(`${scenario}-${round}-${database}`);
  const servers: ServerProcess[] = [];
  const exited: string[] = [];
  const env = {
    DATABASE_URL: url,
    OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
    OBSERVERS_LEASE_MS: String(settings.leaseMs),
    OBSERVERS_POLL_INTERVAL_MS: String(settings.pollMs),
    // Kept in memory for the round's failure messages (shutdown steps are logged at info).
    LOG_LEVEL: "info",
  };
  let loadStarted = 0;
  let observerCreated = false;
  const ctx: RoundContext = {
    settings,
    random,
    harness,
    check,
    servers,
    async addServer() {
      const server = await startServer(env);
      servers.push(server);
      server.child.once("exit", (code, signal) => {
        // Deaths the round did not cause (a kill9 removes the server from `servers` first).
        if (servers.includes(server)) {
          exited.push(
            `a server exited by itself (${signal ?? code}): ${server.output().slice(-2_000)}`,
          );
        }
      });
      await waitFor(
        async () => ((await observerCount(server)) ?? 0) >= 1 || !observerCreated,
        30_000,
        "a new server to load the observer",
      );
      return server;
    },
    elapsed: () => performance.now() - loadStarted,
    pick: (from, to) => (from + (to - from) * random()) * settings.loadMs,
    async strikeAt(moment) {
      await sleep(moment - ctx.elapsed());
      if (settings.burst > 0) {
        await check`INSERT INTO fault_orders (status)
          SELECT 'burst' FROM generate_series(1, ${settings.burst}::int)`;
      }
      await sleep(random() * 100);
    },
    async backlog() {
      const [row] = await check<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_entity_change_log`.catch(() => [{ n: Number.NaN }]);
      const received = new Set<string>();
      for (const entry of receiver.log().byWebhookId.values()) {
        for (const event of entry.events) received.add(event);
      }
      return Math.max(0, (row?.n ?? 0) - received.size);
    },
  };
  const { servers: serverCount, fault } = FAULTS[scenario];
  let load: Load | undefined;
  try {
    for (let i = 0; i < serverCount; i++) await ctx.addServer();
    const [first] = servers;
    if (!first) throw new Error("no server started");
    const response = await first.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: `fault-${scenario}-${round}`,
        entity_type: "Order",
        event_type: "INSERT",
        actions: [{ type: "webhook", url: hookUrl }],
        retry_config: retryPolicyFor(settings.receiverDownMs),
      }),
    });
    if (response.status !== 201) {
      throw new Error(`POST /api/observers answered ${response.status}: ${await response.text()}`);
    }
    observerCreated = true;
    for (const server of servers) {
      await waitFor(
        async () => ((await observerCount(server)) ?? 0) >= 1,
        30_000,
        "the server to load the observer",
      );
    }

    load = startLoad(url, { rate: settings.rate, connections: settings.connections });
    loadStarted = performance.now();
    const faults = await fault(ctx);
    // The load goes on past the fault: at least a second after it healed, so changes written
    // after recovery are in every round too.
    const lastHealed = Math.max(0, ...faults.map((f) => f.healed_ms));
    await sleep(Math.max(settings.loadMs, lastHealed + 1_000) - ctx.elapsed());
    const loadStats = await load.stop();
    const loadEnded = performance.now();
    log(
      `  ${scenario} #${round}: load ${loadStats.acknowledged} acknowledged, ${loadStats.failed} failed; faults ${faults.map((f) => `${f.kind}@${Math.round(f.at_ms)}ms`).join(", ")}; draining`,
    );

    // Drain: every captured change received, nothing pending (no attempt in flight either: a
    // delivery row lives until its outcome is recorded).
    let captured = new Set<string>();
    let capturedCount = -1;
    let drained = false;
    const drainDeadline = loadEnded + settings.drainTimeoutMs;
    while (performance.now() < drainDeadline) {
      const [state] = await check<{ changes: number; pending: number }[]>`
        SELECT (SELECT count(*)::int FROM core.tb_entity_change_log) AS changes,
               (SELECT count(*)::int FROM core.tb_observer_delivery) AS pending`.catch(() => []);
      if (state) {
        if (state.changes !== capturedCount) {
          captured = await capturedIds(check);
          capturedCount = captured.size;
        }
        if (state.pending === 0 && everyChangeReceived(captured, receiver.log())) {
          drained = true;
          break;
        }
      }
      if (exited.length > 0) break;
      await sleep(100);
    }
    const drainMs = performance.now() - loadEnded;
    // Anything still on its way (a repeat) arrives within a quiet half second.
    const quietDeadline = performance.now() + 5_000;
    while (
      performance.now() - receiver.log().lastRequestAt < 500 &&
      performance.now() < quietDeadline
    ) {
      await sleep(100);
    }

    captured = await capturedIds(check);
    const counts = tallyRound(captured, receiver.log());
    const [db] = await check<{ rows: number; failed: number | null; dlq: number }[]>`
      SELECT (SELECT count(*)::int FROM fault_orders) AS rows,
             (SELECT count(*)::int FROM core.tb_observer_log WHERE status <> 'success') AS failed,
             (SELECT count(*)::int FROM core.tb_observer_dlq) AS dlq`;
    const rows = db?.rows ?? 0;
    const problems = roundProblems(counts);
    if (!drained) {
      problems.push(`not drained within ${settings.drainTimeoutMs} ms of the load's end`);
    }
    if (rows !== counts.captured) {
      problems.push(`${rows} rows written but ${counts.captured} changes captured`);
    }
    if (loadStats.acknowledged > rows) {
      problems.push(`${loadStats.acknowledged} INSERTs acknowledged but only ${rows} rows stored`);
    }
    if ((db?.dlq ?? 0) > 0) problems.push(`${db?.dlq} deliveries dead-lettered`);
    if (scenario === "listener_terminated" && !faults.some((f) => (f.listeners ?? 0) > 0)) {
      problems.push("no LISTEN connection was among the terminated connections");
    }
    problems.push(...exited);
    const durationMs = performance.now() - loadStarted;

    // Every server still running is asked to stop gracefully, and how it went is recorded.
    const shutdowns: RoundResult["shutdowns"] = [];
    const shutdownNotes: string[] = [];
    for (const server of servers.splice(0)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const code = await Promise.race([
        server.stop(),
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
      if (code === "timeout") {
        await server.kill9();
        shutdowns.push("hung");
        shutdownNotes.push(server.output().slice(-3_000));
      } else {
        shutdowns.push(code);
      }
    }
    const result: RoundResult = {
      scenario,
      round,
      seed,
      counts,
      load: { ...loadStats, rows },
      faults,
      failed_attempts_logged: db?.failed ?? null,
      dead_letters: db?.dlq ?? 0,
      drain_ms: Math.round(drainMs),
      drained,
      duration_ms: Math.round(durationMs),
      shutdowns,
      shutdown_notes: shutdownNotes,
      problems,
    };
    log(
      `  ${scenario} #${round}: captured ${counts.captured}, delivered ${counts.delivered}, duplicated ${counts.duplicated} (+${counts.extra_requests} requests), lost ${counts.lost}; drain ${result.drain_ms} ms${problems.length ? `; PROBLEMS: ${problems.join("; ")}` : ""}`,
    );
    return result;
  } finally {
    // Already stopped unless the round failed halfway.
    await load?.stop(1_000);
    for (const server of servers.splice(0)) await server.kill9();
    await check.end({ timeout: 1 }).catch(() => {});
    const admin = postgres(cluster.url("postgres"), { max: 1, onnotice: () => {} });
    await admin
      .unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
      .catch(() => {})
      .finally(() => admin.end({ timeout: 5 }));
  }
}

async function capturedIds(check: postgres.Sql): Promise<Set<string>> {
  const rows = await check<{ id: string }[]>`SELECT id::text AS id FROM core.tb_entity_change_log`;
  return new Set(rows.map((row) => row.id));
}

/** One line per scenario over its rounds. */
export interface ScenarioSummary {
  scenario: ScenarioName;
  label: string;
  rounds: number;
  captured: number;
  delivered: number;
  duplicated: number;
  extra_requests: number;
  lost: number;
  /** Changes delivered under more than one webhook-id (0: every duplicate could be deduplicated). */
  split_ids: number;
  /** Rounds with any problem (lost changes, split ids, …). */
  failed_rounds: number;
  /** Longest drain after the load stopped. */
  max_drain_ms: number;
}

export function summarize(results: readonly RoundResult[]): ScenarioSummary[] {
  return SCENARIOS.flatMap((scenario) => {
    const rounds = results.filter((r) => r.scenario === scenario);
    if (rounds.length === 0) return [];
    const sum = (pick: (r: RoundResult) => number) => rounds.reduce((t, r) => t + pick(r), 0);
    return [
      {
        scenario,
        label: SCENARIO_LABELS[scenario],
        rounds: rounds.length,
        captured: sum((r) => r.counts.captured),
        delivered: sum((r) => r.counts.delivered),
        duplicated: sum((r) => r.counts.duplicated),
        extra_requests: sum((r) => r.counts.extra_requests),
        lost: sum((r) => r.counts.lost),
        split_ids: sum((r) => r.counts.split_ids),
        failed_rounds: rounds.filter((r) => r.problems.length > 0).length,
        max_drain_ms: Math.max(...rounds.map((r) => r.drain_ms)),
      },
    ];
  });
}

/** The summary as table cells (header first), for a console or markdown table. */
export function summaryCells(summaries: readonly ScenarioSummary[]): string[][] {
  const n = (value: number) => value.toLocaleString("en-US").replaceAll(",", " ");
  return [
    ["Fault", "rounds", "captured", "delivered", "duplicated", "lost", "slowest drain"],
    ...summaries.map((s) => [
      s.label,
      String(s.rounds),
      n(s.captured),
      n(s.delivered),
      s.duplicated === 0
        ? "0"
        : `${n(s.duplicated)} (${s.split_ids === 0 ? "same id" : `${n(s.split_ids)} under another id`})`,
      n(s.lost),
      `${(s.max_drain_ms / 1000).toFixed(1)} s`,
    ]),
  ];
}
