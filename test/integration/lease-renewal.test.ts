/**
 * A runtime's lease renewal never waits for a row lock. Found by the chaos trial (bench/chaos):
 * the heartbeat's renewal and the same runtime's outcome batch or deferral (on other connections)
 * locked the same in-flight rows in different orders and deadlocked; PostgreSQL aborted one of
 * them ("runtime renew failed: deadlock detected", "runtime record failed", "runtime defer
 * failed"), and a renewal lost that way could let a running delivery's lease lapse.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { renewLeases } from "../../src/store/claims.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("lease_renewal");
});
afterAll(() => db?.drop());

it("renews the leases it can take at once and skips a row another statement is writing", async () => {
  const observerId = await insertObserver(db.sql, {
    name: "renewed",
    actions: [webhook("http://127.0.0.1:9/hook")],
  });
  const rows = await db.sql<{ pk: string }[]>`INSERT INTO core.tb_observer_delivery (id, event_id,
      fk_observer, fk_entity_change_log, action_index, lease_owner, next_attempt_at)
    SELECT gen_random_uuid(), gen_random_uuid(), o.pk_observer, g, 0, 'me', now() + interval '5 seconds'
    FROM core.tb_observer o, generate_series(1, 3) g WHERE o.id = ${observerId}
    ORDER BY g RETURNING pk_observer_delivery::text AS pk`;
  const pks = rows.map((row) => row.pk);
  const busy = pks[1] ?? "";

  // The same runtime's outcome batch is writing the second delivery (not committed yet).
  const writer = await db.sql.reserve();
  try {
    await writer`BEGIN`;
    await writer`UPDATE core.tb_observer_delivery SET attempt = attempt
      WHERE pk_observer_delivery = ${busy}`;
    let renewed = false;
    const renewal = renewLeases(db.client, "me", pks, 600_000).then(() => {
      renewed = true;
    });
    // Done while the lock is still held: a renewal waiting for it is what deadlocked.
    await eventually(() => (renewed ? true : undefined), "the renewal, while a row is locked");
    await writer`COMMIT`;
    await renewal;
  } finally {
    writer.release();
  }
  const leases = await db.sql<{ pk: string; renewed: boolean }[]>`
    SELECT pk_observer_delivery::text AS pk, next_attempt_at > now() + interval '60 seconds' AS renewed
    FROM core.tb_observer_delivery ORDER BY pk_observer_delivery`;
  expect(leases).toEqual([
    { pk: pks[0], renewed: true },
    { pk: busy, renewed: false },
    { pk: pks[2], renewed: true },
  ]);
  // Only the owner's leases: another runtime's stay as they are.
  await db.sql`UPDATE core.tb_observer_delivery SET lease_owner = 'other',
    next_attempt_at = now() + interval '5 seconds' WHERE pk_observer_delivery = ${pks[0] ?? ""}`;
  await renewLeases(db.client, "me", pks, 600_000);
  const [other] = await db.sql<{ renewed: boolean }[]>`
    SELECT next_attempt_at > now() + interval '60 seconds' AS renewed
    FROM core.tb_observer_delivery WHERE pk_observer_delivery = ${pks[0] ?? ""}`;
  expect(other?.renewed).toBe(false);
});
