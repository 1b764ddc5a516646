/**
 * Verifies a chaos run (bench/chaos/run.ts) from the database and the receivers' records in
 * `$DIR` (default /tmp/chaos): per observer and action, every matching change delivered (2xx at
 * the receiver), dead-lettered or logged `cancelled`, nothing left in the delivery table;
 * duplicates only under one webhook-id; per-entity commit order of first successful deliveries;
 * batch member order; signatures; the rate limit across servers; the replay's exact range once;
 * every dead letter of `dlq-widgets` reported by its on_dead_letter action; the servers' logs.
 * Prints a JSON summary. Usage: `DATABASE_URL=... bun verify.ts`.
 */
import { readFileSync } from "node:fs";
import postgres from "postgres";

const dir = process.env.DIR ?? "/tmp/chaos";
const sql = postgres(String(process.env.DATABASE_URL), { max: 2, onnotice: () => {} });
const run = JSON.parse(readFileSync(`${dir}/run.json`, "utf8"));
type Rec = {
  t: number;
  port: number;
  path: string;
  id: string;
  status: number;
  verified: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: a webhook body (one event, or a batch's events)
  body: any;
};
const recs: Rec[] = [];
for (const port of [19001, 19002, 19003])
  for (const line of readFileSync(`${dir}/recv-${port}.jsonl`, "utf8").split("\n"))
    if (line) recs.push(JSON.parse(line));
recs.sort((a, b) => a.t - b.t);
/** `list[i]`, which must exist. */
function at<T>(list: readonly T[], i: number): T {
  const value = list[i];
  if (value === undefined) throw new Error(`no element ${i}`);
  return value;
}
const ok = (r: Rec) => r.status >= 200 && r.status < 300;
const report: Record<string, unknown> = {
  requests: recs.length,
  unverified: recs.filter((r) => !r.verified).length,
};

// Commit position of every change, by event id.
const changes =
  await sql`SELECT id::text AS id, pk_entity_change_log::text AS pk, transaction_id::text AS txid,
  object_type, modification_type, object_id, (object_data->'after'->>'hot')::boolean AS hot, created_at
  FROM core.tb_entity_change_log`;
const position = new Map<string, [bigint, bigint]>();
for (const c of changes) position.set(c.id, [BigInt(c.txid), BigInt(c.pk)]);
const before = (a: string, b: string) => {
  const [x, y] = [position.get(a), position.get(b)];
  if (x === undefined || y === undefined) throw new Error(`unknown change ${a} or ${b}`);
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
};
report.changes = changes.length;

/** Delivery ids (webhook-ids, batch members' ids) answered 2xx at `path`, with their arrivals. */
function deliveredAt(path: string) {
  const firsts = new Map<string, Rec>();
  const counts = new Map<string, number>();
  for (const r of recs) {
    if (r.path !== path || !ok(r)) continue;
    const members: { id: string }[] = path === "/b" ? r.body.events : [r.body];
    for (const m of members) {
      counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
      if (!firsts.has(m.id)) firsts.set(m.id, r);
    }
  }
  return { firsts, counts };
}

const observerRows =
  await sql`SELECT pk_observer::text AS pk, id::text AS id, name FROM core.tb_observer`;
const pkOf = (id: string): string => {
  const row = observerRows.find((o) => o.id === id);
  if (row === undefined) throw new Error(`no observer ${id}`);
  return row.pk;
};
const paths: Record<string, string> = {
  ordered: "/a",
  batch: "/b",
  rate: "/c",
  dlq: "/d",
  paused: "/e",
};
type Change = (typeof changes)[number];
const match: Record<string, (c: Change) => boolean> = {
  ordered: (c) => c.object_type === "Item",
  batch: (c) => c.object_type === "Item" && c.modification_type === "UPDATE",
  rate: (c) => c.object_type === "Widget" && c.hot === true,
  dlq: (c) => c.object_type === "Widget",
  paused: (c) => c.object_type === "Item",
};
const ids = await sql`SELECT c.id::text AS event_id, o.pk_observer::text AS pk,
  md5(c.id::text || ':' || o.pk_observer || ':' || 0)::uuid::text AS delivery_id
  FROM core.tb_entity_change_log c CROSS JOIN core.tb_observer o`;
const deliveryId = new Map<string, string>();
for (const r of ids) deliveryId.set(`${r.event_id}:${r.pk}`, r.delivery_id);
const dlqRows =
  await sql`SELECT id::text AS id, delivery_id::text AS delivery_id, fk_observer::text AS pk, error_code,
  response_status_code, dead_letter IS NOT NULL AS is_odl FROM core.tb_observer_dlq`;
const dlqIds = new Set(dlqRows.map((d) => d.delivery_id));
const cancelled = new Set(
  (
    await sql`SELECT DISTINCT delivery_id::text AS id FROM core.tb_observer_log WHERE status = 'cancelled'`
  ).map((r) => r.id),
);
const stuck =
  await sql`SELECT fk_observer::text AS pk, count(*)::int AS n FROM core.tb_observer_delivery GROUP BY 1`;
report.stuck = stuck;

for (const [name, oid] of Object.entries(run.observers as Record<string, string>)) {
  const pk = pkOf(oid);
  const { firsts, counts } = deliveredAt(paths[name] ?? "");
  const expected = changes
    .filter(match[name] ?? (() => false))
    .map((c) => ({ c, id: deliveryId.get(`${c.id}:${pk}`) ?? "" }));
  const lost = expected.filter(
    (e) => !firsts.has(e.id) && !dlqIds.has(e.id) && !cancelled.has(e.id),
  );
  const dup = [...counts.values()].filter((n) => n > 1).length;
  // A duplicate is expected when a server died between the receiver's 2xx and its record: a
  // kill -9 between the first and the second success.
  const kills = (run.kills as { t: string }[]).map((k) => new Date(k.t).getTime());
  const unexplained: string[] = [];
  for (const [id, n] of counts) {
    if (n < 2) continue;
    const times = recs
      .filter(
        (x) =>
          x.path === paths[name] &&
          ok(x) &&
          (paths[name] === "/b"
            ? x.body.events.some((e: { id: string }) => e.id === id)
            : x.id === id),
      )
      .map((x) => x.t);
    // The receiver logs at its answer, up to 3 s (a hang) after the request came in.
    if (!kills.some((k) => k >= at(times, 0) - 3_500 && k <= at(times, 1))) unexplained.push(id);
  }
  const r: Record<string, unknown> = {
    expected: expected.length,
    delivered: expected.filter((e) => firsts.has(e.id)).length,
    dead_lettered: expected.filter((e) => dlqIds.has(e.id)).length,
    cancelled: expected.filter((e) => cancelled.has(e.id)).length,
    delivered_and_cancelled: expected.filter((e) => cancelled.has(e.id) && firsts.has(e.id)).length,
    lost: lost.length,
    lost_sample: lost
      .slice(0, 5)
      .map((e) => ({ event: e.c.id, entity: e.c.object_id, delivery: e.id })),
    ids_with_duplicates: dup,
    duplicates_without_a_kill_between: unexplained.length,
    unexplained_sample: unexplained.slice(0, 3),
  };
  if (name === "ordered" || name === "paused") {
    const expectedIds = new Set(expected.map((e) => e.id));
    const byEntity = new Map<string, { event: string; t: number }[]>();
    for (const [id, rec] of firsts) {
      if (!expectedIds.has(id)) continue; // replays: checked below
      const list = byEntity.get(rec.body.entity_id) ?? [];
      list.push({ event: rec.body.event_id, t: rec.t });
      byEntity.set(rec.body.entity_id, list);
    }
    let violations = 0;
    const samples: unknown[] = [];
    for (const [entity, list] of byEntity)
      for (let i = 1; i < list.length; i++)
        if (before(at(list, i).event, at(list, i - 1).event)) {
          violations++;
          if (samples.length < 5)
            samples.push({
              entity,
              earlier: at(list, i).event,
              overtaken_by: at(list, i - 1).event,
            });
        }
    r.order_violations = violations;
    r.order_samples = samples;
  }
  if (name === "paused") {
    // Sent while paused (2 s after the pause, for attempts already running, until the resume).
    const from = new Date(run.pausedAt).getTime() + 2000;
    const to = new Date(run.resumedAt).getTime();
    r.requests_while_paused = recs.filter((x) => x.path === "/e" && x.t > from && x.t < to).length;
  }
  if (name === "batch") {
    let bad = 0;
    for (const rec of recs)
      if (rec.path === "/b")
        for (let i = 1; i < rec.body.events.length; i++)
          if (before(rec.body.events[i].event_id, rec.body.events[i - 1].event_id)) bad++;
    r.batch_member_order_violations = bad;
  }
  if (name === "rate") {
    const times = recs.filter((x) => x.path === "/c").map((x) => x.t);
    let worst = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (at(times, i) - at(times, j) >= 1000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    const span = times.length ? (at(times, times.length - 1) - at(times, 0)) / 1000 : 0;
    r.requests = times.length;
    r.max_requests_in_1s = worst;
    r.bound = `rate 10/s x ${span.toFixed(1)} s + burst 10 = ${(10 * span + 10).toFixed(0)}`;
    // At the source: attempts started in any one second (the receiver's times move with its
    // slow answers), and the tokens the shared bucket granted against rate x elapsed + burst.
    const [source] = await sql<{ worst: number }[]>`WITH a AS (
        SELECT started_at AS t FROM core.tb_observer_log
        WHERE fk_observer = ${pk} AND started_at IS NOT NULL)
      SELECT COALESCE(max((SELECT count(*) FROM a b WHERE b.t >= a.t
        AND b.t < a.t + interval '1 second')), 0)::int AS worst FROM a`;
    r.max_attempts_started_in_1s = source?.worst;
    const [bucket] = await sql<{ granted: string; elapsed: number }[]>`SELECT granted_total::text
        AS granted, extract(epoch FROM refilled_at - created_at)::float8 AS elapsed
      FROM core.tb_observer_rate_limit WHERE fk_observer = ${pk}`;
    r.granted = bucket?.granted;
    r.granted_bound = bucket === undefined ? null : Math.floor(10 * bucket.elapsed + 10);
  }
  if (name === "dlq") {
    const mine = dlqRows.filter((d) => d.pk === pk && !d.is_odl);
    const reported = new Map<string, Rec>();
    for (const rec of recs)
      if (rec.path === "/dl" && ok(rec)) reported.set(rec.body.dead_letter?.dead_letter_id, rec);
    r.dead_letters = mine.length;
    r.reported_by_on_dead_letter = mine.filter((d) => reported.has(d.id)).length;
    const odl =
      await sql`SELECT d.id::text AS dlq, l.status, count(*)::int AS n FROM core.tb_observer_dlq d
      JOIN core.tb_observer_log l ON l.delivery_id = md5('on_dead_letter:' || d.id || ':' || d.retry_count || ':' || 0)::uuid
      WHERE d.fk_observer = ${pk} AND d.dead_letter IS NULL GROUP BY 1, 2`;
    const odlCancelled = new Set(odl.filter((x) => x.status === "cancelled").map((x) => x.dlq));
    const missing = mine.filter((d) => !reported.has(d.id));
    // A report that failed for good is itself dead-lettered (never reported again: no loops).
    const odlDead = new Set(
      (
        await sql`SELECT dead_letter->>'dead_letter_id' AS id FROM core.tb_observer_dlq
      WHERE fk_observer = ${pk} AND dead_letter IS NOT NULL`
      ).map((x) => x.id),
    );
    r.report_cancelled = missing.filter((d) => odlCancelled.has(d.id)).length;
    r.report_dead_lettered = missing.filter(
      (d) => !odlCancelled.has(d.id) && odlDead.has(d.id),
    ).length;
    r.not_reported = missing
      .filter((d) => !odlCancelled.has(d.id) && !odlDead.has(d.id))
      .map((d) => d.id)
      .slice(0, 5);
    r.reports_with_error = [...reported.values()].filter(
      (x) => x.body.dead_letter?.error_code,
    ).length;
    const codes: Record<string, number> = {};
    for (const d of mine) {
      const code = `${d.error_code}/${d.response_status_code}`;
      codes[code] = (codes[code] ?? 0) + 1;
    }
    r.dead_letter_codes = codes;
  }
  report[name] = r;
}

// Replay.
const replay = run.replay;
const orderedPk = pkOf(run.observers.ordered);
const inRange = changes.filter(
  (c) =>
    c.object_type === "Item" &&
    c.created_at >= new Date(replay.since) &&
    c.created_at < new Date(replay.until),
);
const replayIds =
  await sql`SELECT md5(${replay.id}::text || ':' || c.id || ':' || ${orderedPk}::text || ':' || 0)::uuid::text AS id, c.id::text AS event
  FROM core.tb_entity_change_log c WHERE c.object_type = 'Item' AND c.created_at >= ${replay.since}::timestamptz AND c.created_at < ${replay.until}::timestamptz`;
const { firsts: aFirsts, counts: aCounts } = deliveredAt("/a");
const originalA = new Set(
  changes.filter(match.ordered ?? (() => false)).map((c) => deliveryId.get(`${c.id}:${orderedPk}`)),
);
const replaySet = new Set(replayIds.map((r) => r.id));
const stranger = [...aFirsts.keys()].filter((id) => !originalA.has(id) && !replaySet.has(id));
const replayRow =
  await sql`SELECT status, matched, created, scanned, total FROM core.tb_observer_replay WHERE id = ${replay.id}`;
let replayOrder = 0;
const replayByEntity = new Map<string, string[]>();
for (const [id, rec] of aFirsts)
  if (replaySet.has(id))
    replayByEntity.set(rec.body.entity_id, [
      ...(replayByEntity.get(rec.body.entity_id) ?? []),
      rec.body.event_id,
    ]);
for (const list of replayByEntity.values())
  for (let i = 1; i < list.length; i++) if (before(at(list, i), at(list, i - 1))) replayOrder++;
report.replay = {
  row: replayRow[0],
  in_range: inRange.length,
  delivered: replayIds.filter((r) => aFirsts.has(r.id)).length,
  dead_lettered_or_cancelled: replayIds.filter((r) => dlqIds.has(r.id) || cancelled.has(r.id))
    .length,
  missing: replayIds.filter((r) => !aFirsts.has(r.id) && !dlqIds.has(r.id) && !cancelled.has(r.id))
    .length,
  ids_with_duplicates: replayIds.filter((r) => (aCounts.get(r.id) ?? 0) > 1).length,
  order_violations: replayOrder,
  unexpected_ids_at_a: stranger.length,
};

// Servers' logs.
const problems: string[] = [];
for (let i = 0; i < 3; i++) {
  let text = "";
  try {
    text = readFileSync(`${dir}/server-${i}.log`, "utf8");
  } catch {
    continue;
  }
  for (const line of text.split("\n")) {
    if (
      line.includes("chaos-admin-token") ||
      line.includes("whsec_") ||
      line.includes("Y2hhb3Mtc2VjcmV0")
    )
      problems.push(`secret: ${line.slice(0, 200)}`);
    // An attempt's or a batch's failure (a receiver's refusal, a timeout): expected here.
    else if (/"message":"action (attempt|batch) /.test(line)) continue;
    else if (/"level":"(error|fatal)"|Unhandled|uncaught|TypeError|RangeError|panic/i.test(line))
      problems.push(line.slice(0, 300));
  }
}
report.server_log_problems = problems.length;
report.server_log_samples = [
  ...new Set(problems.map((p) => p.replace(/"time":"[^"]*",?/, "").slice(0, 220))),
].slice(0, 12);
interface Health {
  running: boolean;
  errors: number;
  lag: unknown;
  destinations: unknown;
}
report.health = (run.health as Health[] | undefined)?.map((h) => ({
  running: h.running,
  errors: h.errors,
  lag: h.lag,
  destinations: h.destinations,
}));
const negative: string[] = [];
for (let i = 0; i < 3; i++) {
  try {
    for (const line of readFileSync(`${dir}/metrics-${i}.txt`, "utf8").split("\n"))
      if (!line.startsWith("#") && /\s-\d/.test(line)) negative.push(`${i}: ${line}`);
      else if (
        /in_flight|inflight|deliveries_held|batch_waiting/.test(line) &&
        !line.startsWith("#") &&
        !/\s0$/.test(line)
      )
        negative.push(`${i} nonzero: ${line}`);
  } catch {}
}
report.metrics_suspicious = negative;
console.log(JSON.stringify(report, null, 1));
await sql.end();
