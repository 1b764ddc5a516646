/**
 * Per-entity ordering, pause/resume, replays and bulk cancel, with real runtimes against a real
 * PostgreSQL and a real receiver (docs/delivery.md).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createObserverRuntime,
  type ObserverRuntime,
  type ObserverRuntimeOptions,
} from "../../src/runtime/index.ts";
import { runReplayRound } from "../../src/runtime/replay-runner.ts";
import { claimDeliveries } from "../../src/store/claims.ts";
import { cancelDeliveries, setObserverPaused } from "../../src/store/delivery-control.ts";
import { deleteObserver } from "../../src/store/observers.ts";
import { cancelReplay, getReplay, startReplay } from "../../src/store/replays.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type ReceivedRequest, useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
const runtimes: ObserverRuntime[] = [];

beforeAll(async () => {
  db = await createTestDatabase("delivery_order");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer_replay SET status = 'cancelled' WHERE status = 'running'`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
});

/** Starts a runtime on `listenerId` (created at the end of the log the first time). */
async function startRuntime(
  listenerId: string,
  extra: Partial<ObserverRuntimeOptions> = {},
): Promise<ObserverRuntime> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log
    ON CONFLICT (listener_id) DO NOTHING`;
  const runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment(),
    listenerId,
    pollIntervalMs: 100,
    leaseMs: 10_000,
    shutdownTimeoutMs: 2_000,
    ...extra,
  });
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
}

interface Seen {
  path: string;
  entity: string;
  total: number;
  attempt: number;
  id: string;
}
const seen = (r: ReceivedRequest): Seen => {
  const body = JSON.parse(r.text);
  return {
    path: r.path,
    entity: String(body.entity_id),
    total: Number(body.after?.total),
    attempt: Number(body.attempt),
    id: String(r.headers["webhook-id"]),
  };
};

/** Creates `n` orders and returns their ids. */
async function createOrders(n: number, org: number | null = null): Promise<string[]> {
  const rows = await db.sql<{ id: string }[]>`
    INSERT INTO orders (status, total, org)
    SELECT 'new', 0, ${org} FROM generate_series(1, ${n}) RETURNING id::text AS id`;
  return rows.map((row) => row.id);
}

/** Updates each order `rounds` times, interleaved, one commit per update (total = round). */
async function interleavedUpdates(ids: readonly string[], rounds: number): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    for (const id of ids) await db.sql`UPDATE orders SET total = ${round} WHERE id = ${id}`;
  }
}

describe("ordering: per_entity", () => {
  it("delivers each entity's changes in commit order with retries and two runtimes", async () => {
    const inFlight = new Map<string, number>();
    let overlaps = 0;
    receiver.reply(async (request) => {
      const s = seen(request);
      if (s.entity === "" || Number.isNaN(s.total) || s.total === 0) return { status: 204 };
      const key = `${s.path}:${s.entity}`;
      const now = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, now);
      if (now > 1) overlaps++;
      await new Promise((resolve) => setTimeout(resolve, 3));
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
      // The first attempt of every third change of an entity fails (a retry holds the rest).
      return { status: s.attempt === 1 && (Number(s.entity) + s.total) % 3 === 0 ? 503 : 204 };
    });
    await insertObserver(db.sql, {
      name: "ordered",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/a`), webhook(`${receiver.url}/b`)],
      retry_config: { max_attempts: 5, initial_delay_ms: 10, max_delay_ms: 50 },
    });
    await db.sql`UPDATE core.tb_observer SET ordering = 'per_entity' WHERE name = 'ordered'`;
    await startRuntime("ordered");
    await startRuntime("ordered");
    const ids = await createOrders(12);
    const rounds = 8;
    await interleavedUpdates(ids, rounds);
    const expected = ids.length * rounds * 2;
    await eventually(() => {
      const ok = receiver.requests.map(seen).filter((s) => s.total > 0);
      const successes = ok.filter((s) => s.attempt > 1 || (Number(s.entity) + s.total) % 3 !== 0);
      return successes.length >= expected ? true : undefined;
    }, `${expected} successful deliveries`);
    const all = receiver.requests.map(seen).filter((s) => s.total > 0);
    for (const path of ["/a", "/b"]) {
      for (const id of ids) {
        const sequence = all.filter((s) => s.path === path && s.entity === id).map((s) => s.total);
        // In commit order, each failed first attempt followed by its retry, never by a later one.
        const expectedSequence = Array.from({ length: rounds }, (_, i) => i + 1).flatMap((total) =>
          (Number(id) + total) % 3 === 0 ? [total, total] : [total],
        );
        expect(sequence, `${path} entity ${id}`).toEqual(expectedSequence);
      }
    }
    expect(overlaps).toBe(0);
    // Nothing is left pending once the last outcomes are recorded.
    await eventually(async () => {
      const left = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
      return left[0]?.n === 0 ? true : undefined;
    }, "every outcome recorded");
  });

  it("holds back later changes of a retrying entity only; an unordered observer is not held", async () => {
    // Entity `stuck`'s first change fails and retries a minute later; then fails for good.
    let stuck = "";
    receiver.reply((request) => {
      const s = seen(request);
      if (s.entity !== stuck || s.total !== 1) return { status: 204 };
      return { status: s.attempt === 1 ? 503 : 400 };
    });
    // Fixed: the default exponential backoff has full jitter, so "a minute" could be a second.
    const retry = {
      max_attempts: 3,
      backoff_strategy: "fixed",
      initial_delay_ms: 60_000,
      max_delay_ms: 60_000,
    };
    await insertObserver(db.sql, {
      name: "ordered-held",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/ordered`)],
      retry_config: retry,
    });
    await db.sql`UPDATE core.tb_observer SET ordering = 'per_entity' WHERE name = 'ordered-held'`;
    await insertObserver(db.sql, {
      name: "unordered",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/unordered`)],
      retry_config: retry,
    });
    await startRuntime("held");
    const [a, b] = await createOrders(2);
    stuck = a as string;
    await interleavedUpdates([a as string, b as string], 3);
    // Unordered: everything but the failed one arrives (5 successes + 1 failure).
    await eventually(
      () =>
        receiver.requests.filter((r) => r.path === "/unordered").length >= 6 ? true : undefined,
      "the unordered observer's deliveries",
    );
    // Ordered: the other entity's three, and the stuck entity's first attempt only.
    await eventually(
      () => (receiver.requests.filter((r) => r.path === "/ordered").length >= 4 ? true : undefined),
      "the ordered observer's deliveries",
    );
    const ordered = receiver.requests.filter((r) => r.path === "/ordered").map(seen);
    expect(ordered.filter((s) => s.entity === b).map((s) => s.total)).toEqual([1, 2, 3]);
    expect(ordered.filter((s) => s.entity === a).map((s) => s.total)).toEqual([1]);
    const unordered = receiver.requests.filter((r) => r.path === "/unordered").map(seen);
    expect(
      unordered
        .filter((s) => s.entity === a)
        .map((s) => s.total)
        .sort(),
    ).toEqual([1, 2, 3]);
    // Two later deliveries of the stuck entity wait in the table, behind the retrying one.
    // The retrying one and the two behind it (the other entity's are done, once recorded).
    await eventually(async () => {
      const waiting = await db.sql<{ n: number; keyed: number }[]>`
        SELECT count(*)::int AS n, count(ordering_key)::int AS keyed FROM core.tb_observer_delivery d
        JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.name = 'ordered-held'`;
      return waiting[0]?.n === 3 && waiting[0]?.keyed === 3 ? true : undefined;
    }, "three deliveries of the stuck entity waiting");
    // Claims hold the two later ones out of the due range for long (30 s, behind a retry a
    // minute away; a hold behind a running delivery lasts 1 s): only the outcome of the retrying
    // one releases them within this test's wait. A long hold that ran out is renewed by the next
    // claim, so "more than 2 s left" is seen whenever this test gets there (on a loaded machine
    // the steps above may take longer than a hold).
    await eventually(async () => {
      const held = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery d
        JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
        WHERE o.name = 'ordered-held' AND d.held AND d.next_attempt_at > now() + interval '2 seconds'`;
      return held[0]?.n === 2 ? true : undefined;
    }, "the later deliveries held");
    // The unordered observer's retrying delivery carries no ordering key.
    const unorderedKeys = await eventually(async () => {
      const rows = await db.sql<{ n: number; keyed: number }[]>`
        SELECT count(*)::int AS n, count(ordering_key)::int AS keyed FROM core.tb_observer_delivery d
        JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.name = 'unordered'`;
      return rows[0]?.n === 1 ? rows[0] : undefined;
    }, "the unordered observer's retrying delivery");
    expect(unorderedKeys).toEqual({ n: 1, keyed: 0 });
    // A dead letter releases the rest: the retry comes due now and fails for good (400), and
    // the held ones go out, in order.
    await db.sql`UPDATE core.tb_observer_delivery d SET next_attempt_at = now()
      FROM core.tb_observer o WHERE o.pk_observer = d.fk_observer AND o.name = 'ordered-held'
        AND d.attempt = 2`;
    await eventually(
      () => (receiver.requests.filter((r) => r.path === "/ordered").length >= 7 ? true : undefined),
      "the held deliveries",
    );
    const released = receiver.requests.filter((r) => r.path === "/ordered").map(seen);
    expect(released.filter((s) => s.entity === a).map((s) => s.total)).toEqual([1, 1, 2, 3]);
    const dead = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_dlq
      WHERE observer_name = 'ordered-held'`;
    expect(dead[0]?.n).toBe(1);
  });
});

describe("pause and resume", () => {
  it("holds every delivery while paused, then delivers exactly those in order", async () => {
    const id = await insertObserver(db.sql, {
      name: "pausable",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/p`)],
    });
    await db.sql`UPDATE core.tb_observer SET ordering = 'per_entity' WHERE id = ${id}`;
    await startRuntime("pause");
    const paused = await setObserverPaused(db.client, id, true);
    expect(paused.paused).toBe(true);
    const [a, b] = await createOrders(2);
    await interleavedUpdates([a as string, b as string], 4);
    // All eight are matched and held.
    await eventually(async () => {
      const rows = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery d
        JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.id = ${id}`;
      return rows[0]?.n === 8 ? true : undefined;
    }, "eight held deliveries");
    // Several polls later, still nothing reached the receiver.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests.filter((r) => r.path === "/p")).toHaveLength(0);
    // Claims moved them out of the due range rather than walk past them on every claim.
    await eventually(async () => {
      const held = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE held AND next_attempt_at > now()`;
      return held[0]?.n === 8 ? true : undefined;
    }, "eight deliveries held out of the due range");
    // A retry that comes due while paused waits too.
    await db.sql`UPDATE core.tb_observer_delivery d SET attempt = 2, next_attempt_at = now()
      FROM core.tb_observer o WHERE o.pk_observer = d.fk_observer AND o.id = ${id}
        AND d.pk_observer_delivery = (SELECT min(pk_observer_delivery) FROM core.tb_observer_delivery)`;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(receiver.requests.filter((r) => r.path === "/p")).toHaveLength(0);
    const resumed = await setObserverPaused(db.client, id, false);
    expect(resumed.paused).toBe(false);
    await receiver.waitFor(8);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const got = receiver.requests.filter((r) => r.path === "/p").map(seen);
    expect(got).toHaveLength(8);
    for (const entity of [a, b]) {
      expect(got.filter((s) => s.entity === entity).map((s) => s.total)).toEqual([1, 2, 3, 4]);
    }
  });

  it("ends a paused observer's held deliveries when it is deleted, never sending them", async () => {
    const id = await insertObserver(db.sql, {
      name: "paused-then-deleted",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/pd`)],
    });
    await startRuntime("paused-deleted");
    await setObserverPaused(db.client, id, true);
    const [a] = await createOrders(1);
    await interleavedUpdates([a as string], 3);
    await eventually(async () => {
      const held = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE held AND next_attempt_at > now()`;
      return held[0]?.n === 3 ? true : undefined;
    }, "three deliveries held");
    await deleteObserver(db.client, id);
    // Not held until a resume that a deleted observer can never get: ended, logged, unsent.
    await eventually(async () => {
      const left = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery d
        JOIN core.tb_observer o ON o.pk_observer = d.fk_observer WHERE o.id = ${id}`;
      return left[0]?.n === 0 ? true : undefined;
    }, "the held deliveries to end");
    const logged = await db.sql<{ error_code: string }[]>`
      SELECT l.error_code FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer WHERE o.id = ${id}`;
    expect(logged.map((row) => row.error_code)).toEqual([
      "OBSERVER_DELETED",
      "OBSERVER_DELETED",
      "OBSERVER_DELETED",
    ]);
    expect(receiver.requests.filter((r) => r.path === "/pd")).toHaveLength(0);
  });

  it("claims a backlog due at one instant oldest first", async () => {
    const id = await insertObserver(db.sql, {
      name: "claim-order",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/co`)],
    });
    const [a] = await createOrders(1);
    await interleavedUpdates([a as string], 20);
    // Twenty pending deliveries due at the same instant, as resume leaves a paused backlog.
    await db.sql`INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer,
        fk_entity_change_log, action_index, next_attempt_at)
      SELECT gen_random_uuid(), c.id, o.pk_observer, c.pk_entity_change_log, 0,
        now() - interval '1 second'
      FROM core.tb_observer o, core.tb_entity_change_log c
      WHERE o.id = ${id} AND c.object_id = ${a as string} AND c.modification_type = 'UPDATE'
      ORDER BY c.pk_entity_change_log`;
    const claims = await claimDeliveries(db.client, "claim-order", 20, 60_000);
    const changes = claims.map((claim) => Number(claim.origin.fk_entity_change_log));
    expect(changes).toHaveLength(20);
    expect(changes).toEqual([...changes].sort((x, y) => x - y));
  });

  it("claims a resumed backlog oldest first one at a time, whatever the rows' physical order", async () => {
    // Regression: resume made a held backlog due at one instant, and a claim smaller than the
    // backlog took, among rows due at one instant, whichever the index yielded first: their
    // physical order, which row updates and vacuums shuffle. Here it is the reverse on purpose.
    const id = await insertObserver(db.sql, {
      name: "resume-physical-order",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/rpo`)],
    });
    const [a] = await createOrders(1);
    await interleavedUpdates([a as string], 12);
    await setObserverPaused(db.client, id, true);
    const [top] = await db.sql<{ pk: string }[]>`
      SELECT (COALESCE(max(pk_observer_delivery), 0) + 100)::text AS pk
      FROM core.tb_observer_delivery`;
    // Held deliveries of the 12 changes, the newest written (physically) first.
    await db.sql`INSERT INTO core.tb_observer_delivery (pk_observer_delivery, id, event_id,
        fk_observer, fk_entity_change_log, action_index, next_attempt_at, held)
      OVERRIDING SYSTEM VALUE
      SELECT ${top?.pk ?? "0"}::bigint + c.pk_entity_change_log, gen_random_uuid(), c.id,
        o.pk_observer, c.pk_entity_change_log, 0, now() + interval '1 minute', true
      FROM core.tb_observer o, core.tb_entity_change_log c
      WHERE o.id = ${id} AND c.object_id = ${a as string} AND c.modification_type = 'UPDATE'
      ORDER BY c.pk_entity_change_log DESC`;
    const physical = await db.sql<{ change: string }[]>`
      SELECT fk_entity_change_log::text AS change FROM core.tb_observer_delivery ORDER BY ctid`;
    expect(physical.map((row) => Number(row.change))).toEqual(
      physical.map((row) => Number(row.change)).sort((x, y) => y - x),
    );
    await setObserverPaused(db.client, id, false);
    const changes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [claim] = await claimDeliveries(db.client, "one-at-a-time", 1, 60_000);
      changes.push(Number(claim?.origin.fk_entity_change_log));
    }
    expect(changes).toHaveLength(12);
    expect(changes).toEqual([...changes].sort((x, y) => x - y));
  });

  it("resumes an unordered observer's backlog oldest first, not in any order", async () => {
    const id = await insertObserver(db.sql, {
      name: "pausable-unordered",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/u`)],
    });
    await startRuntime("pause-unordered", { concurrency: 1 });
    await setObserverPaused(db.client, id, true);
    const [a] = await createOrders(1);
    await interleavedUpdates([a as string], 12);
    await eventually(async () => {
      const held = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_delivery WHERE held AND next_attempt_at > now()`;
      return held[0]?.n === 12 ? true : undefined;
    }, "twelve deliveries held out of the due range");
    await setObserverPaused(db.client, id, false);
    await eventually(
      () => (receiver.requests.filter((r) => r.path === "/u").length >= 12 ? true : undefined),
      "twelve deliveries",
    );
    const totals = receiver.requests.filter((r) => r.path === "/u").map((r) => seen(r).total);
    expect(totals).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});

describe("replay", () => {
  it("delivers the matching changes in range once, with new webhook-ids, and resumes without duplicates", async () => {
    const id = await insertObserver(db.sql, {
      name: "replayable",
      event_type: "UPDATE",
      condition_expression: "total >= 2",
      actions: [webhook(`${receiver.url}/r`)],
    });
    // Earlier tests' changes are before the range.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = new Date().toISOString();
    const ids = await createOrders(5);
    await interleavedUpdates(ids, 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = new Date().toISOString();
    // Changes after the range are not replayed.
    await interleavedUpdates(ids, 3);
    const dry = await startReplay(db.client, id, { since: before, until, dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, matched: 10, deliveries: 10 });
    await expect(startReplay(db.client, id, { since: until, until: before })).rejects.toThrow(
      /before until|after until/,
    );
    const replay = await startReplay(db.client, id, { since: before, until });
    if ("dry_run" in replay) throw new Error("not a replay");
    expect(replay.status).toBe("running");
    // A second one while it runs: refused.
    await expect(startReplay(db.client, id, { since: before, until })).rejects.toThrow(/running/);
    // A runtime works one page and "crashes": its lease stands, nobody else may take it...
    const first = await runReplayRound({
      sql: db.client,
      owner: "crashed",
      leaseMs: 60_000,
      pageSize: 4,
      maxPages: 1,
      stopped: () => false,
    });
    expect(first.more).toBe(true);
    const other = await runReplayRound({
      sql: db.client,
      owner: "other",
      leaseMs: 60_000,
      pageSize: 4,
      stopped: () => false,
    });
    expect(other.created).toBe(0);
    // ...until the lease runs out: then another resumes from the cursor.
    await db.sql`UPDATE core.tb_observer_replay SET lease_until = now() - interval '1 second' WHERE id = ${replay.id}`;
    const rest = await runReplayRound({
      sql: db.client,
      owner: "other",
      leaseMs: 60_000,
      pageSize: 4,
      stopped: () => false,
    });
    expect(first.created + rest.created).toBe(10);
    const done = await getReplay(db.client, replay.id);
    // `scanned` counts what `total` counts (the 5 inserts are not the observer's): progress ends at 100%.
    expect(done).toMatchObject({
      status: "done",
      matched: 10,
      created: 10,
      scanned: 15,
      total: 15,
    });
    await startRuntime("replay");
    await receiver.waitFor(10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const got = receiver.requests.filter((r) => r.path === "/r").map(seen);
    expect(got).toHaveLength(10);
    expect(new Set(got.map((s) => `${s.entity}:${s.total}`)).size).toBe(10);
    expect(got.every((s) => s.total >= 2)).toBe(true);
    // New webhook-ids, not the original deliveries' (md5 of change, observer, action).
    const originals = await db.sql<{ id: string }[]>`
      SELECT md5(c.id::text || ':' || o.pk_observer || ':0')::uuid::text AS id
      FROM core.tb_entity_change_log c, core.tb_observer o WHERE o.id = ${id}`;
    const originalIds = new Set(originals.map((row) => row.id));
    expect(got.some((s) => originalIds.has(s.id))).toBe(false);
  });

  it("reads only its tenant's changes: scanned ends at total", async () => {
    const id = await insertObserver(db.sql, {
      name: "tenant-replay",
      event_type: "INSERT",
      fk_customer_org: 31,
      actions: [webhook(`${receiver.url}/t31`)],
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const since = new Date().toISOString();
    await createOrders(3, 31);
    await createOrders(4, 32);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = new Date().toISOString();
    const replay = await startReplay(db.client, id, { since, until });
    if ("dry_run" in replay) throw new Error("not a replay");
    expect(replay.total).toBe(3);
    await runReplayRound({
      sql: db.client,
      owner: "t",
      leaseMs: 60_000,
      stopped: () => false,
    });
    expect(await getReplay(db.client, replay.id)).toMatchObject({
      status: "done",
      matched: 3,
      created: 3,
      scanned: 3,
      total: 3,
    });
  });

  it("runs in the background on a runtime, once", async () => {
    const id = await insertObserver(db.sql, {
      name: "background",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/bg`)],
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const since = new Date().toISOString();
    const ids = await createOrders(3);
    await interleavedUpdates(ids, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = new Date().toISOString();
    await startRuntime("background");
    const replay = await startReplay(db.client, id, { since, until });
    if ("dry_run" in replay) throw new Error("not a replay");
    await eventually(async () => {
      const r = await getReplay(db.client, replay.id);
      return r.status === "done" ? r : undefined;
    }, "the replay to finish");
    await eventually(
      () => (receiver.requests.filter((r) => r.path === "/bg").length >= 6 ? true : undefined),
      "six replayed deliveries",
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests.filter((r) => r.path === "/bg")).toHaveLength(6);
    expect(await getReplay(db.client, replay.id)).toMatchObject({ matched: 6, created: 6 });
  });

  it("stops creating when cancelled", async () => {
    const id = await insertObserver(db.sql, {
      name: "cancellable",
      actions: [webhook(`${receiver.url}/c`)],
    });
    const ids = await createOrders(4);
    const since = new Date(Date.now() - 1000).toISOString();
    await interleavedUpdates(ids, 3);
    const replay = await startReplay(db.client, id, {
      since,
      until: new Date(Date.now() + 1000).toISOString(),
    });
    // The range may hold earlier tests' changes too: at least these 16.
    expect(replay).toMatchObject({ status: "running" });
    if ("dry_run" in replay) throw new Error("not a replay");
    const round = await runReplayRound({
      sql: db.client,
      owner: "w",
      leaseMs: 60_000,
      pageSize: 5,
      maxPages: 1,
      stopped: () => false,
    });
    expect(round.created).toBe(5);
    const cancelled = await cancelReplay(db.client, replay.id);
    expect(cancelled.status).toBe("cancelled");
    const after = await runReplayRound({
      sql: db.client,
      owner: "w",
      leaseMs: 60_000,
      pageSize: 5,
      stopped: () => false,
    });
    expect(after.created).toBe(0);
    expect((await getReplay(db.client, replay.id)).created).toBe(5);
    await expect(cancelReplay(db.client, replay.id)).rejects.toThrow(/ended/);
  });
});

describe("bulk cancel", () => {
  it("cancels exactly the filtered pending deliveries, never running ones, and logs them", async () => {
    const id = await insertObserver(db.sql, {
      name: "to-cancel",
      event_type: "UPDATE",
      actions: [webhook(`${receiver.url}/x`), webhook(`${receiver.url}/y`)],
    });
    await setObserverPaused(db.client, id, true);
    await startRuntime("cancel");
    const [a, b] = await createOrders(2);
    await interleavedUpdates([a as string, b as string], 2);
    // Held out of the due range by a claim (for a minute): until then the runtime's claims lock
    // them now and then, and a cancel skips a locked one (SKIP LOCKED), which would change the
    // counts below.
    await eventually(async () => {
      const rows = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n
        FROM core.tb_observer_delivery WHERE held AND next_attempt_at > now()`;
      return rows[0]?.n === 8 ? true : undefined;
    }, "eight held deliveries");
    // One is running (leased, lease not expired): never cancelled.
    await db.sql`UPDATE core.tb_observer_delivery SET lease_owner = 'someone',
      next_attempt_at = now() + interval '1 minute'
      WHERE pk_observer_delivery = (SELECT min(pk_observer_delivery) FROM core.tb_observer_delivery
        WHERE action_index = 0 AND fk_entity_change_log IN (
          SELECT pk_entity_change_log FROM core.tb_entity_change_log WHERE object_id = ${a as string}))`;
    const filter = { observer_id: id, entity_id: a as string, action_index: 0 };
    const dry = await cancelDeliveries(db.client, filter, { dryRun: true });
    expect(dry).toEqual({ dry_run: true, cancelled: 1, in_flight: 1, more: false });
    // Another tenant's key does not see the observer, nor any of its deliveries.
    await expect(cancelDeliveries(db.client, filter, { tenant: "99" })).rejects.toThrow(
      `no observer with id "${id}"`,
    );
    const foreign = await cancelDeliveries(db.client, { entity_id: a as string }, { tenant: "99" });
    expect(foreign.cancelled).toBe(0);
    const done = await cancelDeliveries(db.client, filter, { actor: "tester" });
    expect(done).toEqual({ dry_run: false, cancelled: 1, in_flight: 1, more: false });
    const left = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(left[0]?.n).toBe(7);
    const logged = await db.sql<{ status: string; error_code: string; entity_id: string }[]>`
      SELECT status, error_code, entity_id FROM core.tb_observer_log WHERE status = 'cancelled'
        AND entity_id = ${a as string}`;
    expect(logged).toEqual([{ status: "cancelled", error_code: "CANCELLED", entity_id: a }]);
    await expect(cancelDeliveries(db.client, {})).rejects.toThrow(/at least one filter/);
    // A pending one a claim has locked at this instant is skipped: `more` says to call again
    // (not "all done" while it stays pending and is delivered later).
    const others = { observer_id: id, entity_id: b as string };
    await db.sql.begin(async (claim) => {
      await claim`SELECT 1 FROM core.tb_observer_delivery
        WHERE pk_observer_delivery = (SELECT min(pk_observer_delivery)
          FROM core.tb_observer_delivery d JOIN core.tb_entity_change_log c
            ON c.pk_entity_change_log = d.fk_entity_change_log WHERE c.object_id = ${b as string})
        FOR UPDATE`;
      const skipped = await cancelDeliveries(db.client, others);
      expect(skipped).toEqual({ dry_run: false, cancelled: 3, in_flight: 0, more: true });
    });
    const rest = await cancelDeliveries(db.client, others);
    expect(rest).toEqual({ dry_run: false, cancelled: 1, in_flight: 0, more: false });
  });
});
