/** Two runtimes reading the same batch: only the first to write matches it. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readNextChanges } from "../../src/store/change-log.ts";
import { type NewDelivery, writeIngest } from "../../src/store/deliveries.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver } from "../support/observers.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("ingest_race");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());

describe("writeIngest", () => {
  it("moves the cursor and creates deliveries only from where the read found it", async () => {
    const observerId = await insertObserver(db.sql, { name: "race", actions: [{ type: "log" }] });
    const [observer] =
      await db.sql`SELECT pk_observer::text AS pk FROM core.tb_observer WHERE id = ${observerId}`;
    await db.sql`INSERT INTO orders (status) VALUES ('a'), ('b')`;

    // The reader only sees below the cluster-wide xmin horizon: a transaction open in a parallel
    // test file's database holds it back for a moment.
    const first = await eventually(async () => {
      const batch = await readNextChanges(db.client, "race", 100);
      return batch?.rows.length === 2 ? batch : undefined;
    }, "both changes below the xmin horizon");
    const second = await readNextChanges(db.client, "race", 100);
    expect(first?.rows).toHaveLength(2);
    expect(second?.cursor).toEqual(first?.cursor);

    const write = (batch: NonNullable<typeof first>, owner: string) => {
      const last = batch.rows.at(-1);
      if (!last) throw new Error("empty batch");
      const deliveries: NewDelivery[] = batch.rows.map((row) => ({
        event_id: row.id,
        fk_observer: observer?.pk as string,
        fk_entity_change_log: row.pk_entity_change_log,
        action_index: 0,
        fk_customer_org: null,
        leased: true,
      }));
      return writeIngest(db.client, {
        listenerId: "race",
        from: batch.cursor,
        to: { transactionId: last.transaction_id, changeLogId: last.pk_entity_change_log },
        changes: batch.rows.length,
        deliveries,
        owner,
        leaseMs: 30_000,
      });
    };
    const [a, b] = await Promise.all([write(first as never, "a"), write(second as never, "b")]);
    expect([a.moved, b.moved].sort()).toEqual([false, true]);
    const winner = a.moved ? a : b;
    expect(winner.leased).toHaveLength(2);
    expect((a.moved ? b : a).leased).toEqual([]);

    const deliveries =
      await db.sql`SELECT lease_owner, count(*)::int AS n FROM core.tb_observer_delivery GROUP BY 1`;
    expect(deliveries).toEqual([{ lease_owner: a.moved ? "a" : "b", n: 2 }]);
    const after = await readNextChanges(db.client, "race", 100);
    expect(after?.rows).toEqual([]);
    const [checkpoint] =
      await db.sql`SELECT events_processed::int AS n FROM core.tb_observer_checkpoint WHERE listener_id = 'race'`;
    expect(checkpoint?.n).toBe(2);
  });
});
