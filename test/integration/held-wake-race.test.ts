/**
 * Deliveries a server put back for an open circuit at the very moment another server closed it
 * are woken by the first server once it reads the circuit closed. Found by the chaos trial
 * (bench/chaos): the close's wake-up passed over them (still leased to the deferring server), and
 * the deferral, not seeing the close yet, parked them for 15 minutes: after the receivers had
 * recovered, 34 on_dead_letter reports sat in the delivery table of a closed destination.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Delivery } from "../../src/executor/outcome.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { createDeliveryGate } from "../../src/runtime/destination-health.ts";
import type { ClaimedDelivery } from "../../src/store/claims.ts";
import { HELD_PARK_MS, wakeHeldIfClosed } from "../../src/store/deferred-deliveries.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually, insertObserver, webhook } from "../support/observers.ts";

const DESTINATION = "webhook:http://127.0.0.1:9";
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("held_wake_race");
});
afterAll(() => db?.drop());

it("wakes what it parked for a circuit that another server closed meanwhile", async () => {
  const observerId = await insertObserver(db.sql, {
    name: "held",
    actions: [webhook("http://127.0.0.1:9/hook")],
  });
  const rows = await db.sql<{ pk: string; id: string }[]>`INSERT INTO core.tb_observer_delivery
      (id, event_id, fk_observer, fk_entity_change_log, action_index, lease_owner, next_attempt_at)
    SELECT gen_random_uuid(), gen_random_uuid(), o.pk_observer, g, 0, 'me', now() + interval '30 seconds'
    FROM core.tb_observer o, generate_series(1, 3) g WHERE o.id = ${observerId}
    RETURNING pk_observer_delivery::text AS pk, id::text AS id`;
  await db.sql`INSERT INTO core.tb_observer_destination (destination, state, consecutive_failures,
      open_count, opened_at, next_probe_at, failing_since)
    VALUES (${DESTINATION}, 'open', 5, 1, now(), now() + interval '1 hour', now())`;

  let woken = 0;
  const errors: unknown[] = [];
  const gate = createDeliveryGate({
    sql: db.client,
    owner: "me",
    clock: systemClock,
    cacheMs: 0,
    onWake: () => {
      woken++;
    },
    onError: (error) => errors.push(error),
  });
  // This server's claims meet the open circuit: each is kept back for the next probe.
  for (const row of rows) {
    gate.track({
      id: row.id,
      fk_observer: "1",
      action_index: 0,
      dead_letter: null,
    } as unknown as ClaimedDelivery);
    const delivery = {
      id: row.id,
      action: { type: "webhook", url: "http://127.0.0.1:9/hook" },
      observer: { id: observerId, name: "held", tenant: null },
    } as unknown as Delivery;
    expect(await gate.admit(delivery, DESTINATION)).toMatchObject({ destination: DESTINATION });
  }
  // Its put-back, still seeing the circuit open, parks them; while it is open they stay parked.
  const park = (ms: number) =>
    db.sql`UPDATE core.tb_observer_delivery SET lease_owner = NULL,
      held_destination = ${DESTINATION}, next_attempt_at = now() + ${ms} * interval '1 millisecond'`;
  await park(HELD_PARK_MS);
  expect(await wakeHeldIfClosed(db.client, DESTINATION)).toBe(0);
  const due = async () => {
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n
      FROM core.tb_observer_delivery WHERE next_attempt_at <= now() AND held_destination IS NULL`;
    return row?.n ?? 0;
  };
  expect(await due()).toBe(0);

  // Another server's probe succeeded and closed the circuit; its wake-up ran before the put-back
  // committed, so it passed over these (then leased).
  await db.sql`UPDATE core.tb_observer_destination SET state = 'closed', consecutive_failures = 0,
    opened_at = NULL, next_probe_at = NULL WHERE destination = ${DESTINATION}`;
  await eventually(async () => {
    gate.tick();
    return (await due()) === rows.length ? true : undefined;
  }, "the parked deliveries due again");
  expect(woken).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});
