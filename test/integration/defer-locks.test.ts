/**
 * Putting deliveries back (a circuit open, a rate limit) never waits for a row lock. Found by the
 * chaos trial (bench/chaos): a circuit's close on one server, waking the deliveries held for it,
 * keeps the lock of a row another server has claimed meanwhile; that server's deferral waited for
 * it while holding the rows it had already put back, which the wake-up was waiting for:
 * PostgreSQL aborted one of the two ("runtime defer failed" / "runtime circuit failed: deadlock
 * detected").
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { deferDeliveries } from "../../src/store/deferred-deliveries.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("defer_locks");
});
afterAll(() => db?.drop());

it("puts back the deliveries it can lock at once and leaves a locked one leased", async () => {
  const observerId = await insertObserver(db.sql, {
    name: "deferred",
    actions: [webhook("http://127.0.0.1:9/hook")],
  });
  const rows = await db.sql<{ pk: string }[]>`INSERT INTO core.tb_observer_delivery (id, event_id,
      fk_observer, fk_entity_change_log, action_index, lease_owner, next_attempt_at)
    SELECT gen_random_uuid(), gen_random_uuid(), o.pk_observer, g, 0, 'me', now() + interval '30 seconds'
    FROM core.tb_observer o, generate_series(1, 3) g WHERE o.id = ${observerId}
    ORDER BY g RETURNING pk_observer_delivery::text AS pk`;
  const pks = rows.map((row) => row.pk);
  const locked = pks[0] ?? "";
  const at = new Date(Date.now() + 60_000).toISOString();

  // Another server's wake-up holds the first delivery's row (found leased, so left as it was).
  const waker = await db.sql.reserve();
  try {
    await waker`BEGIN`;
    await waker`SELECT 1 FROM core.tb_observer_delivery WHERE pk_observer_delivery = ${locked}
      FOR UPDATE`;
    let done = false;
    const deferral = deferDeliveries(
      db.client,
      "me",
      pks.map((pk) => ({ pk, at, destination: null })),
    ).then(() => {
      done = true;
    });
    // Done while the lock is still held: a deferral waiting for it is what deadlocked.
    await eventually(() => (done ? true : undefined), "the deferral, while a row is locked");
    await waker`COMMIT`;
    await deferral;
  } finally {
    waker.release();
  }
  const after = await db.sql<{ pk: string; lease_owner: string | null; at_set: boolean }[]>`
    SELECT pk_observer_delivery::text AS pk, lease_owner,
      next_attempt_at = ${at}::timestamptz AS at_set
    FROM core.tb_observer_delivery ORDER BY pk_observer_delivery`;
  expect(after).toEqual([
    { pk: locked, lease_owner: "me", at_set: false },
    { pk: pks[1], lease_owner: null, at_set: true },
    { pk: pks[2], lease_owner: null, at_set: true },
  ]);
});
