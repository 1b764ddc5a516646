/**
 * Bulk retry of dead letters and the queue's statistics on a real PostgreSQL: each filter with
 * exact counts, the deliveries it queues, no double queueing, and tenant scoping.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { deadLetterStats } from "../../src/store/dead-letters.ts";
import { retryDeadLetters } from "../../src/store/dlq-replay.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";

let db: TestDatabase;
const ids: Record<"P" | "Q" | "R" | "S", string> = { P: "", Q: "", R: "", S: "" };
const pks: Record<string, string> = {};
const at = (hhmm: string) => `2024-05-01T${hhmm}:00.000Z`;

interface DeadSeed {
  label: string;
  observer: keyof typeof ids | null;
  tenant: number | null;
  time: string;
  errorCode: string | null;
  action: string;
  status?: "pending" | "retrying";
  retries?: number;
}

// The label goes in object_id, so tests can name items.
const ITEMS: DeadSeed[] = [
  {
    label: "p1",
    observer: "P",
    tenant: null,
    time: at("01:00"),
    errorCode: "HTTP_STATUS",
    action: "webhook",
  },
  {
    label: "p2",
    observer: "P",
    tenant: null,
    time: at("02:00"),
    errorCode: "TIMEOUT",
    action: "webhook",
  },
  {
    label: "p3",
    observer: "P",
    tenant: 7,
    time: at("03:00"),
    errorCode: "HTTP_STATUS",
    action: "email",
  },
  {
    label: "q1",
    observer: "Q",
    tenant: 7,
    time: at("01:30"),
    errorCode: "HTTP_STATUS",
    action: "webhook",
  },
  {
    label: "q2",
    observer: "Q",
    tenant: 7,
    time: at("04:00"),
    errorCode: null,
    action: "slack",
    status: "retrying",
    retries: 2,
  },
  {
    label: "r1",
    observer: "R",
    tenant: 8,
    time: at("02:30"),
    errorCode: "TIMEOUT",
    action: "webhook",
  },
  // Its observer row is gone (hard-deleted: ON DELETE SET NULL).
  {
    label: "g1",
    observer: null,
    tenant: 7,
    time: at("05:00"),
    errorCode: "HTTP_STATUS",
    action: "webhook",
  },
  // Its observer is soft-deleted.
  {
    label: "s1",
    observer: "S",
    tenant: null,
    time: at("05:30"),
    errorCode: "TIMEOUT",
    action: "webhook",
  },
];

async function insertDeadLetter(seed: DeadSeed): Promise<void> {
  const pk = seed.observer === null ? null : (pks[seed.observer] as string);
  await db.sql`INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id,
      action_index, action_type, event_id, object_type, modification_type, object_id,
      object_data, fk_customer_org, change_created_at, attempts, max_attempts, error_code,
      error_message, status, retry_count, created_at)
    VALUES (${pk}::bigint, ${seed.observer === null ? "bulk-GONE" : `bulk-${seed.observer}`},
      gen_random_uuid(), ${seed.label === "p3" ? 1 : 0}, ${seed.action}, gen_random_uuid(),
      'Order', 'UPDATE', ${seed.label}, '{"op":"u"}'::jsonb, ${seed.tenant}::bigint,
      ${seed.time}::timestamptz, 3, 3, ${seed.errorCode}, 'it failed', ${seed.status ?? "pending"},
      ${seed.retries ?? 0}, ${seed.time}::timestamptz)`;
}

beforeAll(async () => {
  db = await createTestDatabase("dead_letter_bulk");
  for (const [name, tenant] of [
    ["P", null],
    ["Q", 7],
    ["R", 8],
    ["S", null],
  ] as const) {
    ids[name] = await insertObserver(db.sql, {
      name: `bulk-${name}`,
      actions: [{ type: "log" }],
      fk_customer_org: tenant,
    });
    const [row] =
      await db.sql`SELECT pk_observer::text AS pk FROM core.tb_observer WHERE id = ${ids[name]}`;
    pks[name] = row?.pk as string;
  }
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${ids.S}`;
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`DELETE FROM core.tb_observer_dlq`;
  for (const item of ITEMS) await insertDeadLetter(item);
});

/** Each item's status and retry count, by label. */
async function states(): Promise<Record<string, string>> {
  const rows =
    await db.sql`SELECT object_id, status, retry_count, last_retry_at IS NOT NULL AS stamped
    FROM core.tb_observer_dlq ORDER BY object_id`;
  return Object.fromEntries(
    rows.map((r) => [r.object_id, `${r.status}/${r.retry_count}${r.stamped ? "/stamped" : ""}`]),
  );
}

/** The queued deliveries, joined to the dead letter each replays, by label. */
async function deliveries() {
  return db.sql`SELECT q.object_id AS label, d.id::text = q.delivery_id::text AS same_id,
      d.fk_observer::text = q.fk_observer::text AS same_observer, d.action_index,
      d.fk_customer_org::int AS tenant, d.fk_entity_change_log, d.attempt
    FROM core.tb_observer_delivery d
    JOIN core.tb_observer_dlq q ON q.pk_observer_dlq = d.fk_observer_dlq
    ORDER BY q.object_id`;
}

async function queuedLabels(): Promise<string[]> {
  return (await deliveries()).map((d) => d.label as string);
}

describe("retryDeadLetters", () => {
  it("queues one delivery per pending item of an observer, with its delivery id", async () => {
    const result = await retryDeadLetters(db.client, { observerId: ids.P });
    expect(result).toEqual({
      items_retried: 3,
      items_failed: 0,
      items_already_retrying: 0,
      message: "3 dead letters queued for retry",
    });
    expect(await deliveries()).toEqual([
      {
        label: "p1",
        same_id: true,
        same_observer: true,
        action_index: 0,
        tenant: null,
        fk_entity_change_log: null,
        attempt: 1,
      },
      {
        label: "p2",
        same_id: true,
        same_observer: true,
        action_index: 0,
        tenant: null,
        fk_entity_change_log: null,
        attempt: 1,
      },
      {
        label: "p3",
        same_id: true,
        same_observer: true,
        action_index: 1,
        tenant: 7,
        fk_entity_change_log: null,
        attempt: 1,
      },
    ]);
    expect(await states()).toEqual({
      g1: "pending/0",
      p1: "retrying/1/stamped",
      p2: "retrying/1/stamped",
      p3: "retrying/1/stamped",
      q1: "pending/0",
      q2: "retrying/2",
      r1: "pending/0",
      s1: "pending/0",
    });
  });

  it("never queues an item twice", async () => {
    await retryDeadLetters(db.client, { observerId: ids.P });
    const again = await retryDeadLetters(db.client, { observerId: ids.P });
    expect(again).toEqual({
      items_retried: 0,
      items_failed: 0,
      items_already_retrying: 3,
      message: "0 dead letters queued for retry, 3 already retrying",
    });
    expect(await queuedLabels()).toEqual(["p1", "p2", "p3"]);
    expect((await states()).p1).toBe("retrying/1/stamped");
  });

  it("queues each item once when two calls race", async () => {
    const results = await Promise.all([
      retryDeadLetters(db.client, { observerId: ids.P }),
      retryDeadLetters(db.client, { observerId: ids.P }),
    ]);
    expect(results.map((r) => r.items_retried).sort()).toEqual([0, 3]);
    for (const r of results) expect(r.items_retried + r.items_already_retrying).toBe(3);
    expect(await queuedLabels()).toEqual(["p1", "p2", "p3"]);
  });

  it("takes a half-open window on created_at", async () => {
    const result = await retryDeadLetters(db.client, {
      since: "2024-05-01T02:00:00Z",
      until: "2024-05-01T04:00:00Z",
    });
    expect(result).toMatchObject({ items_retried: 3, items_failed: 0, items_already_retrying: 0 });
    expect(await queuedLabels()).toEqual(["p2", "p3", "r1"]);
    const including = await retryDeadLetters(db.client, {
      since: "2024-05-01T02:00:00Z",
      until: "2024-05-01T04:00:01Z",
    });
    expect(including).toMatchObject({
      items_retried: 0,
      items_failed: 0,
      items_already_retrying: 4,
    });
  });

  it("filters by error code; a deleted observer's items fail", async () => {
    const result = await retryDeadLetters(db.client, { errorCode: "TIMEOUT" });
    expect(result).toEqual({
      items_retried: 2,
      items_failed: 1,
      items_already_retrying: 0,
      message: "2 dead letters queued for retry, 1 not retryable (observer deleted)",
    });
    expect(await queuedLabels()).toEqual(["p2", "r1"]);
    expect((await states()).s1).toBe("pending/0");
  });

  it("takes only the tenant's items of the tenant's observers", async () => {
    // Not p3 (the global observer P's) nor g1 (its observer is gone: whose it was is unknown).
    const seven = await retryDeadLetters(db.client, { tenant: "7" });
    expect(seven).toMatchObject({ items_retried: 1, items_failed: 0, items_already_retrying: 1 });
    expect(await queuedLabels()).toEqual(["q1"]);
    expect(await retryDeadLetters(db.client, { tenant: "7", observerId: ids.P })).toMatchObject({
      items_retried: 0,
      items_failed: 0,
      items_already_retrying: 0,
    });
    expect(await retryDeadLetters(db.client, { tenant: "8", observerId: ids.Q })).toMatchObject({
      items_retried: 0,
      items_failed: 0,
      items_already_retrying: 0,
    });
    expect(await retryDeadLetters(db.client, { tenant: "8" })).toMatchObject({
      items_retried: 1,
    });
    expect(await queuedLabels()).toEqual(["q1", "r1"]);
    expect((await states()).p1).toBe("pending/0");
    expect((await states()).p3).toBe("pending/0");
  });

  it("retries everything without a filter, and combines filters", async () => {
    const combined = await retryDeadLetters(db.client, {
      observerId: ids.P,
      errorCode: "HTTP_STATUS",
      until: "2024-05-01T02:00:00Z",
    });
    expect(combined).toMatchObject({ items_retried: 1 });
    expect(await queuedLabels()).toEqual(["p1"]);
    expect(await retryDeadLetters(db.client)).toEqual({
      items_retried: 4,
      items_failed: 2,
      items_already_retrying: 2,
      message:
        "4 dead letters queued for retry, 2 already retrying, 2 not retryable (observer deleted)",
    });
    expect(await queuedLabels()).toEqual(["p1", "p2", "p3", "q1", "r1"]);
  });

  it("refuses bad filter values with a ConfigError naming the field", async () => {
    for (const [filter, path] of [
      [{ observerId: "nope" }, "observer_id"],
      [{ since: "last week" }, "since"],
      [{ until: "2024-05-01" }, "until"],
      [{ since: "2024-05-02T00:00:00Z", until: "2024-05-01T00:00:00Z" }, "since"],
    ] as const) {
      const error = await retryDeadLetters(db.client, filter).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([path]);
    }
    expect(await queuedLabels()).toEqual([]);
  });
});

describe("deadLetterStats", () => {
  it("counts the whole queue", async () => {
    expect(await deadLetterStats(db.client)).toEqual({
      total_items: 8,
      total_retries: 2,
      dropped: 0,
      by_action: { webhook: 6, email: 1, slack: 1 },
      pending: 7,
      retrying: 1,
      oldest_created_at: "2024-05-01T01:00:00.000Z",
      by_error_code: { HTTP_STATUS: 4, TIMEOUT: 3, none: 1 },
      by_observer: [
        { observer_id: ids.P, observer_name: "bulk-P", count: 3 },
        { observer_id: ids.Q, observer_name: "bulk-Q", count: 2 },
        { observer_id: null, observer_name: "bulk-GONE", count: 1 },
        { observer_id: ids.R, observer_name: "bulk-R", count: 1 },
        { observer_id: ids.S, observer_name: "bulk-S", count: 1 },
      ],
    });
  });

  it("follows retries", async () => {
    await retryDeadLetters(db.client, { observerId: ids.P });
    expect(await deadLetterStats(db.client)).toMatchObject({
      total_items: 8,
      total_retries: 5,
      pending: 4,
      retrying: 4,
    });
  });

  it("counts a tenant's items of its observers only", async () => {
    // q1 and q2: not p3 (the global observer P's) nor g1 (its observer is gone).
    expect(await deadLetterStats(db.client, { tenant: "7" })).toEqual({
      total_items: 2,
      total_retries: 2,
      dropped: 0,
      by_action: { webhook: 1, slack: 1 },
      pending: 1,
      retrying: 1,
      oldest_created_at: "2024-05-01T01:30:00.000Z",
      by_error_code: { HTTP_STATUS: 1, none: 1 },
      by_observer: [{ observer_id: ids.Q, observer_name: "bulk-Q", count: 2 }],
    });
    expect(await deadLetterStats(db.client, { tenant: "9" })).toEqual({
      total_items: 0,
      total_retries: 0,
      dropped: 0,
      by_action: {},
      pending: 0,
      retrying: 0,
      oldest_created_at: null,
      by_error_code: {},
      by_observer: [],
    });
  });

  it("lists at most 50 observers, the most items first", async () => {
    // Gone observers' items are counted unscoped only (a tenant cannot tell whose they were).
    await db.sql`DELETE FROM core.tb_observer_dlq`;
    await db.sql`INSERT INTO core.tb_observer_dlq (observer_name, delivery_id, action_index,
        action_type, event_id, object_type, modification_type, change_created_at, attempts,
        max_attempts, fk_customer_org)
      SELECT 'gone-' || lpad(n::text, 2, '0'), gen_random_uuid(), 0, 'webhook',
        gen_random_uuid(), 'Order', 'UPDATE', now(), 3, 3, 99
      FROM generate_series(1, 55) AS n, generate_series(1, CASE WHEN n = 42 THEN 3 ELSE 1 END)`;
    const stats = await deadLetterStats(db.client);
    expect(stats.total_items).toBe(57);
    expect(stats.by_observer).toHaveLength(50);
    expect(stats.by_observer[0]).toEqual({
      observer_id: null,
      observer_name: "gone-42",
      count: 3,
    });
    expect(stats.by_observer[1]?.observer_name).toBe("gone-01");
    expect(stats.by_observer[49]?.observer_name).toBe("gone-50");
  });
});
