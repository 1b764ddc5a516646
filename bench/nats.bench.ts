/**
 * NATS benchmark: the same pipeline, single-row commits to `bench_orders` → capture trigger →
 * change log → … → a webhook at a receiver in its own process, in two transports, in one run:
 *
 * - postgres: the Bun server as users run it (`adapters/hosts/bun/main.ts`, one process, its
 *   default settings: OBSERVERS_TRANSPORT unset).
 * - nats: one bridge (OBSERVERS_ROLE=bridge) reading the change log and publishing to JetStream,
 *   and BENCH_NATS_WORKERS workers (default 2, OBSERVERS_ROLE=worker) competing on the durable
 *   consumer, each a server process of its own, against a nats-server of the benchmark's own
 *   (`nats-server -js -p <free port> -sd <temporary dir>`; binary NATS_SERVER_BIN, default
 *   /usr/sbin/nats-server).
 *
 * For each, with one webhook observer on every `Order` INSERT:
 * - latency: commit-to-webhook percentiles at BENCH_NATS_RATE changes/s offered (default 1 000)
 *   for BENCH_SECONDS (default 10), after BENCH_NATS_WARMUP_SECONDS (default 2) at that rate that
 *   are not counted; the receiver's clock minus the row's `t_ms` (clock_timestamp() at insert).
 * - sustained: BENCH_NATS_CHANGES single-row commits (default 20 000) from BENCH_PRODUCERS
 *   connections (default 8) at full speed while the pipeline runs, from the first write to the
 *   last webhook: end-to-end changes/s to one receiver.
 * - nats only, fan-out: the sustained phase again while a second consumer that is not ours (a
 *   plain @nats-io/jetstream durable pull consumer in its own process, bench/nats/consumer-process.ts)
 *   reads and acks the same stream; its own commit-to-message latency and whether every message
 *   was in the FraiseQL wire format; then the sustained phase once more without it, so that the
 *   fan-out phase sits between two runs without (the load of a shared machine drifts).
 *
 * Every phase checks that every change reached the receiver, was logged as one success and (nats)
 * was published to the stream exactly once; a lost change fails the run. Duplicates at the
 * receiver (allowed by at-least-once, not expected without faults) are counted and reported.
 *
 * `--quick` or BENCH_QUICK=1: BENCH_SECONDS 3, warm-up 1 s, BENCH_NATS_CHANGES 5 000 (about a
 * minute in all). OBSERVERS_* variables in the environment are passed on to every server process
 * (e.g. OBSERVERS_NATS_STREAM); BENCH_NATS_TRANSPORTS=postgres (or nats) runs one of the two. Database: BENCH_NATS_DATABASE_URL, default BENCH_DATABASE_URL's
 * with `_nats` appended to its name, recreated for each transport.
 *
 * Run with Bun: `bun bench/nats.bench.ts [--quick]`. Results: bench/results/nats.json
 * (nats-quick.json with `--quick`).
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { loadMigrations } from "../adapters/drivers/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/drivers/postgres/postgres-client.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { type NatsServer, startNatsServer } from "../test/support/nats-server.ts";
import { type ServerProcess, startServer } from "./live/server.ts";
import { type Ceiling, jetStreamCeiling } from "./nats/ceiling.ts";
import {
  type ExternalConsumer,
  type ExternalStats,
  startExternalConsumer,
} from "./nats/consumer.ts";
import { type Produced, startProducer } from "./runtime/producer.ts";
import { type LatencyStats, startLatencyReceiver } from "./runtime/receiver.ts";
import {
  createBenchOrders,
  DATABASE_URL,
  recreateDatabase,
  waitUntil,
} from "./support/database.ts";
import { fail, runBenchmark } from "./support/fail.ts";
import { envNumber } from "./support/measure.ts";
import { cpuMeter, cpuTimeOf } from "./support/proc.ts";
import { describeMachine, integer, machine, round, table, writeResults } from "./support/report.ts";

const quick =
  process.argv.includes("--quick") || /^(1|true|yes|on)$/i.test(process.env.BENCH_QUICK ?? "");

/** OBSERVERS_* passed on to every server process (their defaults otherwise). */
const serverEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      entry[0].startsWith("OBSERVERS_") &&
      !["OBSERVERS_ADMIN_TOKEN", "OBSERVERS_TRANSPORT", "OBSERVERS_ROLE"].includes(entry[0]) &&
      !!entry[1],
  ),
);

const settings = {
  quick,
  rate: envNumber("BENCH_NATS_RATE", 1_000),
  seconds: envNumber("BENCH_SECONDS", quick ? 3 : 10),
  warmup_seconds: envNumber("BENCH_NATS_WARMUP_SECONDS", quick ? 1 : 2),
  changes: envNumber("BENCH_NATS_CHANGES", quick ? 5_000 : 20_000),
  /** JetStream alone: messages published and consumed, in batches of the bridge's default size. */
  ceiling_messages: envNumber("BENCH_NATS_CEILING", quick ? 20_000 : 50_000),
  ceiling_batch: 500,
  producers: envNumber("BENCH_PRODUCERS", 8),
  workers: envNumber("BENCH_NATS_WORKERS", 2),
  /** BENCH_NATS_TRANSPORTS, default both, in this order. */
  transports: (process.env.BENCH_NATS_TRANSPORTS ?? "postgres,nats")
    .split(",")
    .map((name) => name.trim())
    .filter((name): name is Transport => name === "postgres" || name === "nats"),
  /** The wire names, as the servers read them (their defaults unless set). */
  stream: serverEnv.OBSERVERS_NATS_STREAM ?? "fraiseql_events",
  subject_prefix: serverEnv.OBSERVERS_NATS_SUBJECT_PREFIX ?? "fraiseql.mutation",
  consumer: serverEnv.OBSERVERS_NATS_CONSUMER ?? "fraiseql_observer_worker",
  server_env: serverEnv,
};

const NATS_DB_URL = process.env.BENCH_NATS_DATABASE_URL ?? suffixed(DATABASE_URL, "_nats");

const DB_NAME = new URL(NATS_DB_URL).pathname.slice(1);

function suffixed(url: string, suffix: string): string {
  const named = new URL(url);
  named.pathname = `${named.pathname}${suffix}`;
  return named.toString();
}

type Transport = "postgres" | "nats";

/** CPU use over a phase: percent of one core per process, busy percent of the whole machine. */
type Cpu = Record<string, number | null>;

interface Delivery {
  changes: number;
  /** Requests at the receiver beyond one per change (at-least-once redeliveries). */
  duplicates: number;
  /** Messages the stream gained in the phase (nats): one per change when dedup works. */
  stream_messages: number | null;
}

interface LatencyPhase extends Delivery {
  offered_per_sec: number;
  achieved_per_sec: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
  hook: LatencyStats;
  cpu: Cpu;
}

interface SustainedPhase extends Delivery {
  seconds: number;
  changes_per_sec: number;
  produced_per_sec: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
  cpu: Cpu;
}

interface FanOutPhase extends SustainedPhase {
  external: ExternalStats;
}

interface ModeResult {
  transport: Transport;
  processes: string[];
  /** Connections of all our processes to the database after the run. */
  postgres_connections: number;
  latency: LatencyPhase;
  sustained: SustainedPhase;
  fan_out: FanOutPhase | null;
  /** nats: the sustained phase again, after the fan-out phase. */
  sustained_after: SustainedPhase | null;
  /** `GET /api/observers/runtime/health` of each process after the run. */
  health: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number | null) =>
  value === null || !Number.isFinite(value) ? "-" : value.toFixed(1);

await runBenchmark("nats", async () => {
  const { rate, seconds, changes, producers, workers } = settings;
  if (!(rate > 0 && seconds > 0 && changes >= 1 && producers >= 1)) {
    fail("BENCH_NATS_RATE, BENCH_SECONDS, BENCH_NATS_CHANGES and BENCH_PRODUCERS must be positive");
  }
  if (settings.transports.length === 0)
    fail("BENCH_NATS_TRANSPORTS must name postgres and/or nats");
  if (!(Number.isInteger(workers) && workers >= 1)) {
    fail("BENCH_NATS_WORKERS must be a positive integer");
  }
  // Whatever else the machine is running shows in every figure: measured, printed, recorded.
  const before = cpuMeter({});
  await sleep(1_000);
  const busyBefore = before.stop().machine_busy_pct;

  const receiver = await startLatencyReceiver();
  const nats: NatsServer = await startNatsServer().catch((error: Error) => fail(error.message));
  const natsPid = pidListeningOn(nats.port);
  const nc: NatsConnection = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const token = `bench-${crypto.randomUUID()}`;
  const results: ModeResult[] = [];
  let ceiling: Ceiling | null = null;
  let postgresVersion = "";

  /** Messages in the stream now (0 before the bridge created it). */
  const streamMessages = async (): Promise<number> => {
    try {
      return (await jsm.streams.info(settings.stream)).state.messages;
    } catch {
      return 0;
    }
  };
  /** Our workers' consumer: messages not yet delivered plus delivered and not yet acked. */
  const consumerBacklog = async (): Promise<number> => {
    const info = await jsm.consumers.info(settings.stream, settings.consumer);
    return info.num_pending + info.num_ack_pending;
  };

  try {
    if (settings.transports.includes("nats") && settings.ceiling_messages > 0) {
      ceiling = await jetStreamCeiling(nc, jsm, settings.ceiling_messages, settings.ceiling_batch);
      console.log(
        `JetStream alone: publish ${integer.format(ceiling.publish_per_sec)}/s, consume and ack ${integer.format(ceiling.consume_per_sec)}/s (${ceiling.payload_bytes}-byte messages, batches of ${ceiling.batch})`,
      );
    }
    for (const transport of settings.transports) {
      await recreateDatabase(NATS_DB_URL);
      const client = createPostgresClient(NATS_DB_URL, { max: 1 });
      await applyMigrations(client, loadMigrations());
      await client.close();
      const sql = postgres(NATS_DB_URL, { max: 2, onnotice: () => {} });
      await createBenchOrders(sql);
      const [version] = await sql`SELECT current_setting('server_version') AS v`;
      postgresVersion = String(version?.v ?? "");
      await sql`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
        VALUES ('bench-nats', 'Order', 'INSERT',
          ${JSON.stringify([{ type: "webhook", url: receiver.url }])}::text::jsonb)`;

      const env = {
        ...serverEnv,
        DATABASE_URL: NATS_DB_URL,
        OBSERVERS_ADMIN_TOKEN: token,
        OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
      };
      const servers: Record<string, ServerProcess> = {};
      const stopServers = async () => {
        for (const server of Object.values(servers)) await server.stop();
      };
      try {
        if (transport === "postgres") {
          servers.server = await startServer(env);
        } else {
          const natsEnv = { ...env, OBSERVERS_TRANSPORT: "nats", NATS_URL: nats.url };
          servers.bridge = await startServer({ ...natsEnv, OBSERVERS_ROLE: "bridge" });
          for (let i = 1; i <= workers; i++) {
            servers[`worker${i}`] = await startServer({ ...natsEnv, OBSERVERS_ROLE: "worker" });
          }
          await waitUntil(
            async () => {
              try {
                await jsm.consumers.info(settings.stream, settings.consumer);
                return true;
              } catch {
                return false;
              }
            },
            30_000,
            `the stream ${settings.stream} and the consumer ${settings.consumer}`,
          );
        }
      } catch (error) {
        await stopServers();
        throw error;
      }
      const load = startProducer(NATS_DB_URL, producers);
      const pids: Record<string, number> = pidsOf(servers);
      if (transport === "nats" && natsPid !== null) pids.nats_server = natsPid;
      if (load.pid !== undefined) pids.producer = load.pid;
      if (receiver.pid !== undefined) pids.receiver = receiver.pid;

      /** CPU of the processes and of the database's backends from now until the call it returns. */
      const meterCpu = async (runPids: Record<string, number>) => {
        const meter = cpuMeter(runPids);
        const backends = await backendTimes(sql, DB_NAME);
        const startedAt = performance.now();
        return async (): Promise<Cpu> => {
          const cpu = cpuOf(meter.stop());
          const wall = performance.now() - startedAt;
          return { ...cpu, ...backendUse(backends, await backendTimes(sql, DB_NAME), wall) };
        };
      };
      const logMark = async (): Promise<number> => {
        const [row] =
          await sql`SELECT coalesce(max(pk_observer_log), 0)::bigint AS mark FROM core.tb_observer_log`;
        return Number(row?.mark ?? 0);
      };
      const logged = async (mark: number) => {
        const [row] = await sql`SELECT count(*) FILTER (WHERE status = 'success')::int AS ok,
            count(*) FILTER (WHERE status <> 'success')::int AS other
          FROM core.tb_observer_log WHERE pk_observer_log > ${mark}`;
        return { ok: Number(row?.ok ?? 0), other: Number(row?.other ?? 0) };
      };
      /**
       * Starts a phase: a log mark, the stream's size, the receiver emptied. `settle` then waits
       * until every change is at the receiver and logged (and, nats, acked by the workers), and
       * checks that nothing was lost or failed.
       */
      const phase = async (what: string) => {
        const mark = await logMark();
        const streamBefore = transport === "nats" ? await streamMessages() : 0;
        await receiver.reset();
        return async (expected: number, external?: ExternalConsumer): Promise<Delivery> => {
          await waitUntil(
            async () =>
              (await receiver.count()) >= expected &&
              (await logged(mark).then((log) => log.ok + log.other)) >= expected &&
              (transport === "postgres" || (await consumerBacklog()) === 0) &&
              (external === undefined || (await external.count()) >= expected),
            300_000,
            `${transport}, ${what}: ${expected} changes delivered and logged`,
          );
          const log = await logged(mark);
          const [dlq] = await sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq`;
          if (log.ok !== expected || log.other !== 0 || dlq?.n !== 0) {
            fail(
              `${transport}, ${what}: ${log.ok} successes and ${log.other} other outcomes logged, ${dlq?.n} dead letters, for ${expected} changes`,
            );
          }
          const got = await receiver.check();
          if (got.distinct !== expected) {
            fail(
              `${transport}, ${what}: the receiver got ${got.distinct} distinct changes of ${expected}`,
            );
          }
          const published = transport === "nats" ? (await streamMessages()) - streamBefore : null;
          if (published !== null && published !== expected) {
            fail(
              `${transport}, ${what}: the stream gained ${published} messages for ${expected} changes`,
            );
          }
          if (got.duplicates > 0) {
            console.log(
              `${transport}, ${what}: ${got.duplicates} duplicate requests at the receiver`,
            );
          }
          return { changes: expected, duplicates: got.duplicates, stream_messages: published };
        };
      };

      try {
        // Warm-up at the offered rate, not counted.
        const warm = await phase("warm-up");
        const warmed = await load.produce(rate, settings.warmup_seconds);
        await warm(warmed.changes);

        // Latency at the offered rate.
        const settleLatency = await phase(`${rate}/s offered`);
        const latencyMeter = await meterCpu(pids);
        const produced = await load.produce(rate, seconds);
        const latencyDelivery = await settleLatency(produced.changes);
        const latencyCpu = await latencyMeter();
        const hook = await receiver.stats();
        if (hook.samples < produced.changes) {
          fail(`${transport}: ${hook.samples} latency samples for ${produced.changes} changes`);
        }
        const latency: LatencyPhase = {
          ...latencyDelivery,
          offered_per_sec: rate,
          achieved_per_sec: round(produced.achieved),
          commit_p50_ms: round(produced.commit_p50_ms),
          commit_p99_ms: round(produced.commit_p99_ms),
          hook: roundStats(hook),
          cpu: latencyCpu,
        };
        console.log(
          `${transport}, ${rate}/s offered: ${Math.round(produced.achieved)}/s achieved, hook p50 ${ms(hook.p50_ms)} p99 ${ms(hook.p99_ms)} ms`,
        );

        // Sustained: full-speed producers while the pipeline runs, first write to last webhook.
        const sustainedRun = async (what: string, external?: ExternalConsumer) => {
          const settle = await phase(what);
          const runPids = external?.pid ? { ...pids, external_consumer: external.pid } : pids;
          const meter = await meterCpu(runPids);
          const started = performance.now();
          const flood: Produced = await load.flood({ total: changes });
          const delivery = await settle(flood.changes, external);
          const elapsed = (performance.now() - started) / 1000;
          const result: SustainedPhase = {
            ...delivery,
            seconds: round(elapsed),
            changes_per_sec: round(flood.changes / elapsed),
            produced_per_sec: round(flood.achieved),
            commit_p50_ms: round(flood.commit_p50_ms),
            commit_p99_ms: round(flood.commit_p99_ms),
            cpu: await meter(),
          };
          console.log(
            `${transport}, ${what}: ${Math.round(result.changes_per_sec)} changes/s end to end (producers ${Math.round(flood.achieved)}/s)`,
          );
          return result;
        };
        const sustained = await sustainedRun("sustained");

        let fanOut: FanOutPhase | null = null;
        let sustainedAfter: SustainedPhase | null = null;
        if (transport === "nats") {
          const external = await startExternalConsumer({
            url: nats.url,
            stream: settings.stream,
            durable: "bench_external",
            prefix: settings.subject_prefix,
          });
          try {
            const run = await sustainedRun("sustained, with an external consumer", external);
            const stats = await external.stats();
            if (stats.distinct !== changes || stats.malformed !== 0) {
              fail(
                `nats, fan-out: the external consumer got ${stats.distinct} distinct changes of ${changes}, ${stats.malformed} not in the FraiseQL format`,
              );
            }
            fanOut = { ...run, external: stats };
            console.log(
              `nats, external consumer: ${stats.received} messages, commit-to-message p50 ${ms(stats.p50_ms)} p99 ${ms(stats.p99_ms)} ms`,
            );
          } finally {
            await external.stop();
          }
          // The same phase once more without it: on a shared machine the load drifts, and the
          // fan-out cost is judged against both runs around it.
          sustainedAfter = await sustainedRun("sustained, again without it");
        }

        const [conns] = await sql<{ n: number }[]>`SELECT count(*)::int AS n
          FROM pg_stat_activity
          WHERE datname = ${DB_NAME} AND application_name LIKE 'fraiseql-observers%'`;
        const health: Record<string, unknown> = {};
        for (const [name, server] of Object.entries(servers)) {
          const response = await fetch(`${server.url}/api/observers/runtime/health`).catch(
            () => null,
          );
          health[name] = response ? await response.json().catch(() => response.status) : null;
        }
        results.push({
          transport,
          processes: Object.keys(servers),
          postgres_connections: conns?.n ?? 0,
          latency,
          sustained,
          fan_out: fanOut,
          sustained_after: sustainedAfter,
          health,
        });
      } finally {
        await load.stop();
        await stopServers();
        await sql.end({ timeout: 5 });
      }
    }
  } finally {
    await nc.close();
    await nats.close();
    await receiver.stop();
  }

  const output = {
    date: new Date().toISOString(),
    machine: { ...machine(), postgres: postgresVersion, nats_server: natsVersion() },
    machine_busy_before_pct: busyBefore === null ? null : round(busyBefore),
    settings: { ...settings, server_env: serverEnv },
    latency_method:
      "receive time at the webhook receiver (or the external consumer) minus the row's t_ms, stamped by the database at INSERT with clock_timestamp(); same machine clock; exact nearest-rank percentiles over every change",
    jetstream_ceiling: ceiling,
    modes: results,
  };
  console.log(`\n${report(output.machine, results, ceiling)}`);
  writeResults(quick ? "nats-quick" : "nats", output);
});

/**
 * CPU time (ms) so far of each PostgreSQL backend serving `database`, by who it serves: ours
 * (application_name `fraiseql-observers…`) or the producers' (everything else but this session).
 */
async function backendTimes(
  sql: postgres.Sql,
  database: string,
): Promise<Map<number, { ours: boolean; ms: number }>> {
  const rows = await sql<{ pid: number; app: string }[]>`
    SELECT pid, coalesce(application_name, '') AS app FROM pg_stat_activity
    WHERE datname = ${database} AND pid <> pg_backend_pid()`;
  const times = new Map<number, { ours: boolean; ms: number }>();
  for (const row of rows) {
    const time = cpuTimeOf(row.pid);
    if (time) {
      times.set(row.pid, {
        ours: row.app.startsWith("fraiseql-observers"),
        ms: time.user + time.system,
      });
    }
  }
  return times;
}

/** Percent of one core the backends used between two readings (new backends: all their time). */
function backendUse(
  start: Map<number, { ours: boolean; ms: number }>,
  end: Map<number, { ours: boolean; ms: number }>,
  wallMs: number,
): { pg_ours: number; pg_producers: number } {
  let ours = 0;
  let producers = 0;
  for (const [pid, now] of end) {
    const used = now.ms - (start.get(pid)?.ms ?? 0);
    if (now.ours) ours += used;
    else producers += used;
  }
  return { pg_ours: round((ours / wallMs) * 100), pg_producers: round((producers / wallMs) * 100) };
}

/** The nats-server started with `-p <port>` (its CPU time is measured), from /proc. */
function pidListeningOn(port: number): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args[0]?.endsWith("nats-server") && args.includes(String(port))) return Number(entry);
    } catch {}
  }
  return null;
}

function pidsOf(servers: Record<string, ServerProcess>): Record<string, number> {
  return Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, server.pid]));
}

function cpuOf(cpu: {
  processes: Record<string, number | null>;
  machine_busy_pct: number | null;
}): Cpu {
  const rounded = (value: number | null) => (value === null ? null : round(value));
  return {
    ...Object.fromEntries(Object.entries(cpu.processes).map(([k, v]) => [k, rounded(v)])),
    machine_busy: rounded(cpu.machine_busy_pct),
  };
}

function roundStats(stats: LatencyStats): LatencyStats {
  return {
    samples: stats.samples,
    p50_ms: round(stats.p50_ms),
    p95_ms: round(stats.p95_ms),
    p99_ms: round(stats.p99_ms),
    max_ms: round(stats.max_ms),
  };
}

function natsVersion(): string {
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  return execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
}

function report(
  host: ReturnType<typeof machine>,
  modes: ModeResult[],
  ceiling: Ceiling | null,
): string {
  const pct = (value: number | null | undefined) =>
    value === null || value === undefined ? "-" : `${value.toFixed(0)}`;
  const rows: string[][] = [];
  for (const mode of modes) {
    const label = mode.transport === "nats" ? `nats (${mode.processes.join(", ")})` : "postgres";
    rows.push([
      label,
      `${integer.format(mode.latency.achieved_per_sec)}/s`,
      ms(mode.latency.hook.p50_ms),
      ms(mode.latency.hook.p95_ms),
      ms(mode.latency.hook.p99_ms),
      ms(mode.latency.hook.max_ms),
      `${integer.format(mode.sustained.changes_per_sec)}/s`,
      mode.fan_out ? `${integer.format(mode.fan_out.changes_per_sec)}/s` : "-",
      mode.sustained_after ? `${integer.format(mode.sustained_after.changes_per_sec)}/s` : "-",
      pct(mode.sustained.cpu.machine_busy),
    ]);
  }
  const cpuRows = modes.flatMap((mode) =>
    (["latency", "sustained"] as const).map((phase) => [
      `${mode.transport}, ${phase}`,
      Object.entries(mode[phase].cpu)
        .map(([name, value]) => `${name} ${pct(value)}`)
        .join(", "),
    ]),
  );
  return [
    `NATS benchmark: ${describeMachine(host)}`,
    table(
      [
        "transport",
        `at ${settings.rate}/s`,
        "hook p50",
        "p95",
        "p99",
        "max ms",
        "sustained",
        "with 2nd consumer",
        "again without",
        "busy %",
      ],
      rows,
      1,
    ),
    "",
    table(["CPU, % of one core", "processes"], cpuRows, 2),
    ceiling
      ? `\nJetStream alone (one client, ${ceiling.payload_bytes}-byte messages, batches of ${ceiling.batch}): publish ${integer.format(ceiling.publish_per_sec)}/s, consume and ack ${integer.format(ceiling.consume_per_sec)}/s`
      : "",
  ].join("\n");
}
