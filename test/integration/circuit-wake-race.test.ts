/**
 * A circuit closing while a runtime puts a delivery back for it (docs/delivery.md, "Gentle with
 * struggling receivers"): the close's wake-up must not miss the delivery. Each order of the two
 * transactions is forced here: one is held open until the other has run or is waiting for it.
 * Missed, the delivery waited for the probe time it was put back to, or parked for HELD_PARK_MS
 * (15 minutes), though its receiver was back (seen as the whole-backlog waits of
 * held-backlog.test.ts and destination-health.test.ts timing out on a loaded machine).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deferDeliveries } from "../../src/store/deferred-deliveries.ts";
import { recordSuccess, resetDestination } from "../../src/store/destination-health.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";

const DESTINATION = "webhook:http://127.0.0.1:9";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("circuit_wake_race");
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`DELETE FROM core.tb_observer_destination`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});

/**
 * An open circuit whose probe is `probeOwner`'s, and a delivery runtime `w` claimed for it: what
 * a runtime holds when it finds the circuit open and is about to put the delivery back.
 */
async function openCircuitAndLeasedDelivery(probeOwner: string | null = null) {
  await insertObserver(db.sql, { name: `race-${Date.now()}`, actions: [webhook("http://x/")] });
  const [destination] = await db.sql<{ id: string }[]>`
    INSERT INTO core.tb_observer_destination (destination, state, consecutive_failures,
      open_count, opened_at, next_probe_at, failing_since, probe_owner, probe_until)
    VALUES (${DESTINATION}, 'open', 5, 1, now(), now() + interval '10 minutes', now(),
      ${probeOwner}, now() + interval '1 minute')
    RETURNING id::text AS id`;
  const [delivery] = await db.sql<{ pk: string }[]>`
    INSERT INTO core.tb_observer_delivery (id, fk_observer, fk_entity_change_log, action_index,
      lease_owner, next_attempt_at)
    SELECT gen_random_uuid(), pk_observer, 0, 0, 'w', now() + interval '1 minute'
    FROM core.tb_observer WHERE deleted_at IS NULL
    RETURNING pk_observer_delivery::text AS pk`;
  if (!destination || !delivery) throw new Error("no fixture");
  // Put back to the next probe, ten minutes away, as a runtime does with an open circuit.
  const putBack = [
    {
      pk: delivery.pk,
      at: new Date(Date.now() + 10 * 60_000).toISOString(),
      destination: DESTINATION,
    },
  ];
  return { destinationId: destination.id, putBack };
}

/** Resolves once `promise` settled or another backend of this database waits for a lock. */
async function settledOrWaiting(promise: Promise<unknown>): Promise<void> {
  let settled = false;
  void promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await eventually(async () => {
    if (settled) return true;
    const [row] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = ${db.name} AND wait_event_type = 'Lock'`;
    return (row?.n ?? 0) > 0 ? true : undefined;
  }, "the other transaction to run or to wait for this one");
}

/** The delivery is due now, for any runtime to claim. */
async function expectWoken(): Promise<void> {
  const [row] = await db.sql<{ due: boolean; owner: string | null }[]>`
    SELECT next_attempt_at <= now() AS due, lease_owner AS owner FROM core.tb_observer_delivery`;
  expect(row).toEqual({ due: true, owner: null });
}

describe("a circuit closing while a delivery is put back for it", () => {
  it("an operator's reset committing after the put-back read the circuit still wakes it", async () => {
    const { destinationId, putBack } = await openCircuitAndLeasedDelivery();
    let closing: Promise<unknown> = Promise.resolve();
    await db.client.transaction(async (tx) => {
      await deferDeliveries(tx, "w", putBack);
      closing = resetDestination(db.client, destinationId);
      await settledOrWaiting(closing);
    });
    expect(await closing).not.toBeNull();
    await expectWoken();
  });

  it("a put-back reading the circuit while an operator's reset is not yet committed makes it due", async () => {
    const { destinationId, putBack } = await openCircuitAndLeasedDelivery();
    let putting: Promise<unknown> = Promise.resolve();
    await db.client.transaction(async (tx) => {
      expect(await resetDestination(tx, destinationId)).not.toBeNull();
      putting = deferDeliveries(db.client, "w", putBack);
      await settledOrWaiting(putting);
    });
    await putting;
    await expectWoken();
  });

  it("a probe's success committing after the put-back read the circuit still wakes it", async () => {
    const { putBack } = await openCircuitAndLeasedDelivery("prober");
    let closing: Promise<{ wasOpen: boolean } | null> = Promise.resolve(null);
    await db.client.transaction(async (tx) => {
      await deferDeliveries(tx, "w", putBack);
      closing = recordSuccess(db.client, DESTINATION, "prober");
      await settledOrWaiting(closing);
    });
    expect(await closing).toEqual({ wasOpen: true });
    await expectWoken();
  });
});
