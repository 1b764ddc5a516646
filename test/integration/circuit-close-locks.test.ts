/**
 * A circuit's close wakes the deliveries held for its destination without waiting for a row
 * lock. Found by the chaos trial (bench/chaos): the close's wake-up kept the lock of a row it
 * found leased meanwhile by another server, then waited for a row that server's put-back was
 * writing, while that put-back waited for the first: PostgreSQL aborted one of the two ("runtime
 * defer failed" / "runtime circuit failed: deadlock detected"), 5 times in a 150 s run.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { recordSuccess, resetDestination } from "../../src/store/destination-health.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";

const DESTINATION = "webhook:http://127.0.0.1:9";
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("circuit_close_locks");
});
afterAll(() => db?.drop());

/** Three deliveries held for the destination (parked), and the destination's open circuit. */
async function heldDeliveries(name: string): Promise<string[]> {
  const observerId = await insertObserver(db.sql, {
    name,
    actions: [webhook(`http://127.0.0.1:9/${name}`)],
  });
  const rows = await db.sql<{ pk: string }[]>`INSERT INTO core.tb_observer_delivery (id, event_id,
      fk_observer, fk_entity_change_log, action_index, held_destination, next_attempt_at)
    SELECT gen_random_uuid(), gen_random_uuid(), o.pk_observer, g, 0, ${DESTINATION},
      now() + interval '15 minutes'
    FROM core.tb_observer o, generate_series(1, 3) g WHERE o.id = ${observerId}
    ORDER BY g RETURNING pk_observer_delivery::text AS pk`;
  await db.sql`INSERT INTO core.tb_observer_destination (destination, state, consecutive_failures,
      open_count, opened_at, next_probe_at, failing_since)
    VALUES (${DESTINATION}, 'open', 5, 1, now(), now() + interval '1 hour', now())
    ON CONFLICT (destination) DO UPDATE SET state = 'open', consecutive_failures = 5`;
  return rows.map((row) => row.pk);
}

/** Runs `close` while another transaction holds the first delivery's row; returns what is due. */
async function closeWhileLocked(pks: string[], close: () => Promise<unknown>) {
  const locker = await db.sql.reserve();
  try {
    await locker`BEGIN`;
    await locker`SELECT 1 FROM core.tb_observer_delivery WHERE pk_observer_delivery = ${pks[0] ?? ""}
      FOR UPDATE`;
    let done = false;
    const closing = close().then(() => {
      done = true;
    });
    // Done while the lock is still held: a wake-up waiting for it is what deadlocked.
    await eventually(() => (done ? true : undefined), "the close, while a held row is locked");
    await locker`COMMIT`;
    await closing;
  } finally {
    locker.release();
  }
  return db.sql<{ pk: string; woken: boolean }[]>`SELECT pk_observer_delivery::text AS pk,
      next_attempt_at <= now() AND held_destination IS NULL AS woken
    FROM core.tb_observer_delivery WHERE pk_observer_delivery = ANY(${pks}::bigint[])
    ORDER BY pk_observer_delivery`;
}

it("a success closing the circuit wakes the held deliveries it can lock at once", async () => {
  const pks = await heldDeliveries("closed-by-success");
  const after = await closeWhileLocked(pks, () => recordSuccess(db.client, DESTINATION, null));
  expect(after).toEqual([
    { pk: pks[0], woken: false },
    { pk: pks[1], woken: true },
    { pk: pks[2], woken: true },
  ]);
});

it("an operator's reset likewise", async () => {
  const pks = await heldDeliveries("reset");
  const [row] = await db.sql<{ id: string }[]>`SELECT id::text FROM core.tb_observer_destination
    WHERE destination = ${DESTINATION}`;
  const after = await closeWhileLocked(pks, () => resetDestination(db.client, row?.id ?? ""));
  expect(after).toEqual([
    { pk: pks[0], woken: false },
    { pk: pks[1], woken: true },
    { pk: pks[2], woken: true },
  ]);
});
