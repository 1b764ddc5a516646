import postgres from "postgres";
import { loadMigrations } from "../adapters/postgres/migrations-dir.ts";
import { createPostgresClient } from "../adapters/postgres/postgres-client.ts";
import { systemClock } from "../src/ports/clock.ts";
import { silentLogger } from "../src/ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../src/ports/sql.ts";
import { createObserverRuntime } from "../src/runtime/index.ts";
import { applyMigrations } from "../src/store/migrate.ts";
import { startLatencyReceiver } from "./runtime/receiver.ts";

const URL_ = "postgres://postgres@127.0.0.1:5432/fraiseql_observers_tmp";
const drain = Number(process.env.N ?? 30000);
const admin = postgres("postgres://postgres@127.0.0.1:5432/postgres", { max: 1, onnotice: () => {} });
await admin.unsafe(`DROP DATABASE IF EXISTS fraiseql_observers_tmp WITH (FORCE)`);
await admin.unsafe(`CREATE DATABASE fraiseql_observers_tmp`);
await admin.end();
const client = createPostgresClient(URL_, { max: 8 });
const producer = postgres(URL_, { max: 8, onnotice: () => {} });
const receiver = await startLatencyReceiver();
await applyMigrations(client, loadMigrations());
await producer.unsafe(`CREATE TABLE bench_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  t_ms double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()) * 1000, status text NOT NULL DEFAULT 'new')`);
await producer`SELECT core.fn_track_table('bench_orders', 'Order')`;
const action = process.env.LOG ? { type: "log" } : { type: "webhook", url: receiver.url };
await producer`INSERT INTO core.tb_observer (name, entity_type, event_type, actions)
  VALUES ('bench', 'Order', 'INSERT', ${JSON.stringify([action])}::text::jsonb)`;
await producer`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('default')`;
await producer`INSERT INTO bench_orders (status) SELECT 'drain' FROM generate_series(1, ${drain})`;
await producer`VACUUM ANALYZE`;

const stats = new Map<string, { n: number; ms: number; rows: number; max: number }>();
const busy = new Map<string, number>();
function key(text: string) {
  return text.replace(/\s+/g, " ").slice(0, 60);
}
function timed(ex: SqlExecutor, tag: string): SqlExecutor {
  return {
    async query(text, params) {
      const t = performance.now();
      const r = await ex.query(text, params);
      const d = performance.now() - t;
      const k = `${tag}${key(text)}`;
      const s = stats.get(k) ?? { n: 0, ms: 0, rows: 0, max: 0 };
      s.n++;
      s.ms += d;
      s.max = Math.max(s.max, d);
      const p = params?.[0];
      if (typeof p === "string" && p.startsWith("[")) s.rows += (JSON.parse(p) as unknown[]).length;
      else s.rows += r.length;
      stats.set(k, s);
      return r as never;
    },
  };
}
const wrapped: SqlClient = {
  ...timed(client, ""),
  async transaction(fn) {
    const t = performance.now();
    const r = await client.transaction((tx) => fn(timed(tx, "tx: ")));
    const s = stats.get("TRANSACTION") ?? { n: 0, ms: 0, rows: 0, max: 0 };
    s.n++;
    s.ms += performance.now() - t;
    stats.set("TRANSACTION", s);
    return r;
  },
  close: () => client.close(),
};
await receiver.reset();
const started = performance.now();
const runtime = createObserverRuntime({
  sql: wrapped,
  environment: { fetch: globalThis.fetch, env: {}, clock: systemClock, logger: silentLogger, allowPrivateTargets: true },
  concurrency: 64,
  perDestination: 64,
});
await runtime.start();
for (;;) {
  const [row] = await producer`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
  const [c] = await producer`SELECT events_processed::int AS n FROM core.tb_observer_checkpoint`;
  if ((process.env.LOG || (await receiver.count()) >= drain) && c?.n === drain && row?.n === 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
const secs = (performance.now() - started) / 1000;
await runtime.stop();
console.log(`drain ${drain} in ${secs.toFixed(2)}s = ${Math.round(drain / secs)}/s`);
for (const [k, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`${(s.ms / 1000 / secs * 100).toFixed(0).padStart(4)}% n=${String(s.n).padStart(5)} avg=${(s.ms / s.n).toFixed(1).padStart(6)}ms max=${s.max.toFixed(0).padStart(4)} rows/call=${(s.rows / s.n).toFixed(0).padStart(4)}  ${k}`);
}
await receiver.stop();
await producer.end();
await client.close();
