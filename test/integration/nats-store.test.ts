/**
 * What NATS mode keeps in PostgreSQL (migration 0013), on a real database: the bridges' lease
 * (one holder; another takes over only once it expires), matching a change exactly once whatever
 * number of workers race on it (with the PostgreSQL path's webhook-ids), undecodable messages
 * kept once with their raw bytes, and retention.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  holdBridgeLease,
  pruneTransportTables,
  readIngested,
  recordUndecodedMessage,
  releaseBridgeLease,
  writeTransportIngest,
} from "../../src/store/transport.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("nats-store");
});
afterAll(() => db?.drop());

describe("the bridge lease", () => {
  it("has one holder, renewed by it, taken over only once expired, given up on stop", async () => {
    const { client } = db;
    expect(await holdBridgeLease(client, "nats:a", "bridge-1", 60_000)).toBe(true);
    expect(await holdBridgeLease(client, "nats:a", "bridge-2", 60_000)).toBe(false);
    expect(await holdBridgeLease(client, "nats:a", "bridge-1", 60_000)).toBe(true);
    // Another stream has a lease of its own.
    expect(await holdBridgeLease(client, "nats:b", "bridge-2", 60_000)).toBe(true);
    // bridge-1 stops renewing (killed): once expired, bridge-2 takes it, and bridge-1 cannot.
    await db.sql`UPDATE core.tb_nats_bridge_lease SET expires_at = now() - interval '1 second'
      WHERE name = 'nats:a'`;
    expect(await holdBridgeLease(client, "nats:a", "bridge-2", 60_000)).toBe(true);
    expect(await holdBridgeLease(client, "nats:a", "bridge-1", 60_000)).toBe(false);
    // A graceful stop gives it up at once.
    await releaseBridgeLease(client, "nats:a", "bridge-2");
    expect(await holdBridgeLease(client, "nats:a", "bridge-1", 60_000)).toBe(true);
  });
});

describe("matching a change exactly once", () => {
  it("creates the deliveries of racing workers' copies once, under the PostgreSQL path's webhook-ids", async () => {
    const observerId = await insertObserver(db.sql, { name: "once", actions: [{ type: "log" }] });
    const [observer] =
      await db.sql`SELECT pk_observer::text AS pk FROM core.tb_observer WHERE id = ${observerId}`;
    const [change] = await db.sql`INSERT INTO core.tb_entity_change_log
        (object_type, modification_type, object_data) VALUES ('Order', 'INSERT', '{}')
      RETURNING pk_entity_change_log::text AS pk, id::text AS id`;
    const batch = (owner: string) => ({
      changes: [{ eventId: change?.id as string, changeLogId: change?.pk as string }],
      deliveries: [0, 1].map((index) => ({
        event_id: change?.id as string,
        fk_observer: observer?.pk as string,
        fk_entity_change_log: change?.pk as string,
        action_index: index,
        fk_customer_org: null,
        leased: true,
      })),
      owner,
      leaseMs: 30_000,
    });
    const results = await Promise.all(
      ["worker-1", "worker-2", "worker-3"].map((owner) =>
        writeTransportIngest(db.client, batch(owner)),
      ),
    );
    const winners = results.filter((r) => r.recorded.size === 1);
    expect(winners).toHaveLength(1);
    expect(winners[0]?.leased).toHaveLength(2);
    expect(results.filter((r) => r.recorded.size === 0 && r.leased.length === 0)).toHaveLength(2);
    const rows = await db.sql`SELECT id::text AS id, action_index FROM core.tb_observer_delivery
      ORDER BY action_index`;
    const expected =
      await db.sql`SELECT md5(${change?.id as string} || ':' || ${observer?.pk as string} || ':' || i)::uuid::text AS id
      FROM generate_series(0, 1) i ORDER BY i`;
    expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    expect(winners[0]?.leased.map((d) => d.id).sort()).toEqual(expected.map((r) => r.id).sort());
    // A redelivery later finds it matched, and which observer revision is current.
    const again = await readIngested(db.client, [change?.id as string, crypto.randomUUID()]);
    expect([...again.ingested]).toEqual([change?.id]);
    expect(Number(again.revision)).toBeGreaterThan(0);
  });
});

describe("undecodable messages and retention", () => {
  it("keeps the raw bytes once per stream sequence, and prunes both tables by age", async () => {
    const raw = new Uint8Array([0xff, 0x00, 0x7b, 0x6e]);
    const message = {
      stream: "fraiseql_events",
      sequence: 41,
      subject: "fraiseql.mutation.Order.INSERT",
      headers: { "Nats-Msg-Id": ["x"] },
      payload: raw,
      error: "the payload is not UTF-8 JSON",
    };
    await recordUndecodedMessage(db.client, message);
    await recordUndecodedMessage(db.client, message);
    const kept = await db.sql`SELECT payload, headers, error FROM core.tb_nats_dead_letter`;
    expect(kept).toHaveLength(1);
    expect([...((kept[0]?.payload as Buffer | undefined) ?? [])]).toEqual([...raw]);
    expect(kept[0]?.headers).toEqual({ "Nats-Msg-Id": ["x"] });

    await db.sql`UPDATE core.tb_nats_dead_letter SET created_at = now() - interval '40 days'`;
    await db.sql`INSERT INTO core.tb_nats_ingested (event_id, created_at)
      VALUES (gen_random_uuid(), now() - interval '10 days'), (gen_random_uuid(), now())`;
    const before = await db.sql`SELECT count(*)::int AS n FROM core.tb_nats_ingested`;
    expect(await pruneTransportTables(db.client, 7, 30)).toEqual({ matched: 1, undecodable: 1 });
    const after = await db.sql`SELECT count(*)::int AS n FROM core.tb_nats_ingested`;
    expect(after[0]?.n).toBe((before[0]?.n as number) - 1);
  });
});
