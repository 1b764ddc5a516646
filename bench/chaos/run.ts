/**
 * Chaos trial of the delivery guarantees with features combined (then `bench/chaos/verify.ts`).
 * Starts three misbehaving receivers (receiver.ts) and `$SERVERS` (3) Bun servers on one fresh
 * database `$DATABASE_URL` (`createdb`), tracks two tables (Item, Widget) and creates five
 * observers: per-entity ordering with retries, a batch webhook, a rate limit (10/s), a small
 * `max_attempts` with `on_dead_letter`, and one paused then resumed. For `$LOAD_S` (120) seconds
 * eight producers write single-row and multi-row transactions (a few hundred changes a second)
 * while a random server is killed with SIGKILL every 10-20 s and restarted; mid-run it replays a
 * time range (killing two servers as it starts) and bulk-cancels the Widget deliveries. Then the
 * receivers calm down and it waits for the delivery table to drain. Everything lands in `$DIR`
 * (/tmp/chaos): receivers' records, servers' logs and metrics, `run.json` (observer ids, times,
 * kills, health). Usage: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chaos_1 bun
 * bench/chaos/run.ts` from the repository root.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import postgres from "postgres";

const dir = process.env.DIR ?? "/tmp/chaos";
const databaseUrl = String(process.env.DATABASE_URL);
const loadSeconds = Number(process.env.LOAD_S ?? 120);
const serverCount = Number(process.env.SERVERS ?? 3);
const token = "chaos-admin-token-0123456789";
const secret = `whsec_${btoa("chaos-secret-0123456789abcdef!")}`;
const root = new URL("../..", import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
rmSync(`${dir}/calm`, { force: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]) => console.log(new Date().toISOString(), ...a);

/** Starts `bun <script>` with `env`, its output appended to `file` (or inherited). */
function start(script: string, env: Record<string, string>, file?: string): ChildProcess {
  const fd = file === undefined ? null : openSync(file, "a");
  const child = spawn("bun", [script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: fd === null ? "inherit" : ["ignore", fd, fd],
  });
  if (fd !== null) closeSync(fd);
  return child;
}

const receivers = [19001, 19002, 19003].map((port, i) =>
  start("bench/chaos/receiver.ts", {
    PORT: String(port),
    OUT: `${dir}/recv-${port}.jsonl`,
    SECRET: secret,
    PHASE: String(i * 13),
    CALM_FILE: `${dir}/calm`,
  }),
);

const servers: (ChildProcess | null)[] = [];
const alive = (child: ChildProcess | null | undefined): child is ChildProcess =>
  child != null && child.exitCode === null && child.signalCode === null && !child.killed;
function startServer(i: number): void {
  if (alive(servers[i])) return;
  const file = `${dir}/server-${i}.log`;
  appendFileSync(file, `--- start ${new Date().toISOString()}\n`);
  servers[i] = start(
    "adapters/hosts/bun/main.ts",
    {
      DATABASE_URL: databaseUrl,
      PORT: String(18081 + i),
      OBSERVERS_ADMIN_TOKEN: token,
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
      OBSERVERS_LEASE_MS: "10000",
      LOG_LEVEL: "info",
    },
    file,
  );
}
async function healthy(i: number) {
  for (let n = 0; n < 300; n++) {
    try {
      const r = await fetch(`http://127.0.0.1:${18081 + i}/api/observers/runtime/health`);
      if (r.ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`server ${i} not healthy`);
}
const api = async (method: string, path: string, body?: unknown) => {
  for (let n = 0; ; n++) {
    const i = servers.findIndex(alive);
    try {
      const r = await fetch(`http://127.0.0.1:${18081 + i}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    } catch (error) {
      if (n > 20) throw error;
      await sleep(300);
    }
  }
};

startServer(0);
await healthy(0);
const sql = postgres(databaseUrl, { max: 10, onnotice: () => {} });
await sql`CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, v int NOT NULL, note text)`;
await sql`CREATE TABLE IF NOT EXISTS widgets (id int PRIMARY KEY, v int NOT NULL, hot boolean NOT NULL)`;
await sql`SELECT core.fn_track_table('public.items', 'Item')`;
await sql`SELECT core.fn_track_table('public.widgets', 'Widget')`;
for (let i = 1; i < serverCount; i++) startServer(i);
for (let i = 1; i < serverCount; i++) await healthy(i);

const retry = {
  max_attempts: 10,
  backoff_strategy: "exponential",
  initial_delay_ms: 200,
  max_delay_ms: 5000,
};
const hook = (port: number, path: string, extra: Record<string, unknown> = {}) => ({
  type: "webhook",
  url: `http://127.0.0.1:${port}${path}`,
  signing_secret: secret,
  ...extra,
});
const observers = {
  ordered: await api("POST", "/api/observers", {
    name: "ordered-items",
    entity_type: "Item",
    ordering: "per_entity",
    retry_config: retry,
    timeout_ms: 2000,
    actions: [hook(19001, "/a")],
  }),
  batch: await api("POST", "/api/observers", {
    name: "batch-items",
    entity_type: "Item",
    event_type: "UPDATE",
    retry_config: retry,
    timeout_ms: 2000,
    actions: [hook(19002, "/b", { batch: { max_size: 20, max_wait_ms: 300 } })],
  }),
  rate: await api("POST", "/api/observers", {
    name: "rate-widgets",
    entity_type: "Widget",
    condition_expression: "hot == true",
    retry_config: retry,
    timeout_ms: 2000,
    actions: [hook(19003, "/c", { rate_limit_per_second: 10 })],
  }),
  dlq: await api("POST", "/api/observers", {
    name: "dlq-widgets",
    entity_type: "Widget",
    retry_config: {
      max_attempts: 2,
      backoff_strategy: "fixed",
      initial_delay_ms: 200,
      max_delay_ms: 200,
    },
    timeout_ms: 2000,
    actions: [hook(19003, "/d")],
    on_dead_letter: [hook(19001, "/dl")],
  }),
  paused: await api("POST", "/api/observers", {
    name: "paused-items",
    entity_type: "Item",
    ordering: "per_entity",
    retry_config: retry,
    timeout_ms: 2000,
    actions: [hook(19002, "/e")],
  }),
};
const run: Record<string, unknown> = {
  observers: Object.fromEntries(Object.entries(observers).map(([k, o]) => [k, o.id])),
  kills: [] as unknown[],
  events: [] as unknown[],
};
const event = (what: string, detail?: unknown) => {
  (run.events as unknown[]).push({ t: new Date().toISOString(), what, detail });
  log(what, detail ? JSON.stringify(detail) : "");
};

// Producers.
const t0 = Date.now();
run.t0 = new Date(t0).toISOString();
await sql`INSERT INTO items SELECT g, 0, 'n' FROM generate_series(1, 300) g`;
await sql`INSERT INTO widgets SELECT g, 0, random() < 0.1 FROM generate_series(1, 100) g`;
let producing = true;
let nextItem = 301;
let txs = 0;
const rnd = (n: number) => 1 + Math.floor(Math.random() * n);
async function producer() {
  while (producing) {
    try {
      const p = Math.random();
      if (p < 0.55) await sql`UPDATE items SET v = v + 1 WHERE id = ${rnd(300)}`;
      else if (p < 0.7)
        await sql`UPDATE widgets SET v = v + 1, hot = random() < 0.1 WHERE id = ${rnd(100)}`;
      else if (p < 0.73) await sql`INSERT INTO items VALUES (${nextItem++}, 0, 'late')`;
      else
        await sql.begin(async (tx) => {
          // In id order, so that two producers' transactions cannot deadlock.
          const ids = Array.from({ length: 2 + rnd(4) }, () => rnd(300)).sort((a, b) => a - b);
          for (const id of ids) await tx`UPDATE items SET v = v + 1 WHERE id = ${id}`;
          await tx`UPDATE widgets SET v = v + 1, hot = random() < 0.1 WHERE id = ${rnd(100)}`;
        });
      txs++;
    } catch (error) {
      log("producer error", String(error));
    }
    await sleep(40);
  }
}
const producers = Array.from({ length: 8 }, producer);

// Killer.
let killing = true;
const killer = (async () => {
  while (killing) {
    await sleep(10_000 + Math.random() * 10_000);
    if (!killing) break;
    const i = Math.floor(Math.random() * serverCount);
    servers[i]?.kill("SIGKILL");
    (run.kills as unknown[]).push({ t: new Date().toISOString(), server: i });
    log("kill -9 server", i);
    await sleep(500 + Math.random() * 1500);
    startServer(i);
  }
})();

// Timeline.
const at = async (s: number) => {
  const wait = t0 + s * 1000 - Date.now();
  if (wait > 0) await sleep(wait);
};
await at(Math.min(20, loadSeconds * 0.15));
event("pause", (await api("POST", `/api/observers/${observers.paused.id}/pause`)).paused);
run.pausedAt = new Date().toISOString();
const replaySince = new Date(t0 + 5_000).toISOString();
const replayUntil = new Date(t0 + 35_000).toISOString();
await at(Math.min(40, loadSeconds * 0.3));
const replay = await api("POST", `/api/observers/${observers.ordered.id}/replay`, {
  since: replaySince,
  until: replayUntil,
});
run.replay = { id: replay.id, since: replaySince, until: replayUntil };
event("replay", replay);
// A kill -9 while the replay runs: another server resumes it from its cursor.
for (const delay of [300, 1200]) {
  await sleep(delay);
  const i = Math.floor(Math.random() * serverCount);
  servers[i]?.kill("SIGKILL");
  (run.kills as unknown[]).push({ t: new Date().toISOString(), server: i, during: "replay" });
  log("kill -9 server", i, "during the replay");
  setTimeout(() => startServer(i), 1000);
}
await at(Math.min(60, loadSeconds * 0.5));
run.resumedAt = new Date().toISOString();
event("resume", (await api("POST", `/api/observers/${observers.paused.id}/resume`)).paused);
await at(Math.min(75, loadSeconds * 0.6));
const cancelBefore = new Date().toISOString();
event(
  "bulk cancel Widget",
  await api("POST", "/api/observers/deliveries/cancel", { entity_type: "Widget" }),
);
run.cancelAt = cancelBefore;
await at(loadSeconds);
producing = false;
await Promise.all(producers);
killing = false;
await killer;
run.t1 = new Date().toISOString();
run.transactions = txs;
event("load stopped", { txs });
for (let i = 0; i < serverCount; i++) startServer(i);
writeFileSync(`${dir}/calm`, "");
event("receivers calm");

// Drain.
for (let n = 0; n < 600; n++) {
  const [row] = await sql<
    { pending: number; replays: number }[]
  >`SELECT (SELECT count(*) FROM core.tb_observer_delivery)::int AS pending,
    (SELECT count(*) FROM core.tb_observer_replay WHERE status = 'running')::int AS replays`;
  if (n % 10 === 0) log("pending deliveries", row?.pending, "running replays", row?.replays);
  if (row?.pending === 0 && row?.replays === 0) break;
  await sleep(1000);
}
run.drained = new Date().toISOString();
const health = [];
for (let i = 0; i < serverCount; i++) {
  await healthy(i);
  health.push(
    await (await fetch(`http://127.0.0.1:${18081 + i}/api/observers/runtime/health`)).json(),
  );
  writeFileSync(
    `${dir}/metrics-${i}.txt`,
    await (
      await fetch(`http://127.0.0.1:${18081 + i}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).text(),
  );
}
run.health = health;
writeFileSync(`${dir}/run.json`, JSON.stringify(run, null, 2));
event("done");
for (const s of servers) s?.kill("SIGTERM");
await sleep(3000);
for (const r of receivers) r.kill();
await sql.end();
process.exit(0);
