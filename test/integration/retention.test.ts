/**
 * The retention sweep on a real PostgreSQL: each table on its own clock, nothing unread or still
 * needed deleted, dead letters never removed by log cleanup.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepRetention } from "../../src/store/retention.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("retention");
});
afterAll(() => db?.drop());

const days = (n: number) => `${n} days`;

async function change(ageDays: number, label: string): Promise<string> {
  const [row] =
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_data, created_at)
    VALUES ('Order', 'INSERT', ${JSON.stringify({ label })}::text::jsonb, now() - ${days(ageDays)}::interval)
    RETURNING pk_entity_change_log::text AS pk`;
  return row?.pk as string;
}

async function labels(): Promise<string[]> {
  const rows =
    await db.sql`SELECT object_data ->> 'label' AS label FROM core.tb_entity_change_log ORDER BY 1`;
  return rows.map((r) => r.label as string);
}

describe("sweepRetention", () => {
  it("keeps what is young, unread, pending or dead-lettered, and deletes the rest", async () => {
    const observerId = await insertObserver(db.sql, { name: "kept", actions: [{ type: "log" }] });
    const [observer] =
      await db.sql`SELECT pk_observer FROM core.tb_observer WHERE id = ${observerId}`;
    await change(10, "old-read");
    const pending = await change(10, "old-read-pending-delivery");
    await change(1, "young-read");
    // The listener has read everything so far; what follows is unread.
    await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
      SELECT 'default', max(transaction_id), max(pk_entity_change_log) FROM core.tb_entity_change_log`;
    await change(10, "old-unread");
    await db.sql`INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index)
      VALUES (gen_random_uuid(), ${observer?.pk_observer}, ${pending}, 0)`;

    for (const [age, status] of [
      [40, "success"],
      [5, "success"],
    ] as const) {
      await db.sql`INSERT INTO core.tb_observer_log (event_id, status, created_at)
        VALUES (gen_random_uuid(), ${status}, now() - ${days(age)}::interval)`;
    }
    for (const [age, status] of [
      [40, "pending"],
      [40, "retrying"],
      [10, "pending"],
    ] as const) {
      await db.sql`INSERT INTO core.tb_observer_dlq (observer_name, delivery_id, action_index, action_type,
          event_id, object_type, modification_type, change_created_at, attempts, max_attempts, status,
          created_at, last_attempt_at)
        VALUES ('kept', gen_random_uuid(), 0, 'log', gen_random_uuid(), 'Order', 'INSERT', now(), 1, 1,
          ${status}, now() - ${days(age)}::interval, now() - ${days(age)}::interval)`;
    }

    for (const [age, status] of [
      [40, "succeeded"],
      [5, "cancelled"],
      [40, "failed"],
      [10, "failed"],
    ] as const) {
      await db.sql`INSERT INTO core.tb_job (task, payload, status, finished_at)
        VALUES (${`${status}-${age}`}, '{}'::jsonb, ${status}, now() - ${days(age)}::interval)`;
    }
    await db.sql`INSERT INTO core.tb_job (task, payload, created_at)
      VALUES ('pending-40', '{}'::jsonb, now() - ${days(40)}::interval)`;

    // Replays: one ended 10 days ago (swept with a 1-day log retention), one still running.
    for (const [status, finished] of [
      ["done", days(10)],
      ["running", null],
    ] as const) {
      await db.sql`INSERT INTO core.tb_observer_replay (fk_observer, since, until, status, finished_at)
        VALUES (${observer?.pk_observer}, now() - interval '2 days', now() - interval '1 day',
          ${status}, now() - ${finished}::interval)`;
    }

    // Log retention shorter than the dead letters' age: dead letters follow their own setting.
    const first = await sweepRetention(db.client, { changeLogDays: 7, logDays: 1, dlqDays: 60 });
    expect(first).toEqual({ changes: 1, logs: 2, deadLetters: 0, jobs: 2, replays: 1 });
    const replays = await db.sql`SELECT status FROM core.tb_observer_replay`;
    expect(replays.map((r) => r.status)).toEqual(["running"]);
    expect(await labels()).toEqual(["old-read-pending-delivery", "old-unread", "young-read"]);

    const second = await sweepRetention(db.client, { changeLogDays: 7, logDays: 30, dlqDays: 30 });
    expect(second).toEqual({ changes: 0, logs: 0, deadLetters: 1, jobs: 1, replays: 0 });
    const jobs = await db.sql`SELECT task FROM core.tb_job ORDER BY task`;
    expect(jobs.map((job) => job.task)).toEqual(["failed-10", "pending-40"]);
    const left = await db.sql`SELECT status, extract(day FROM now() - created_at)::int AS age
      FROM core.tb_observer_dlq ORDER BY age`;
    expect(left.map((r) => [r.status, r.age])).toEqual([
      ["pending", 10],
      ["retrying", 40],
    ]);
  });
});
