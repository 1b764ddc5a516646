/**
 * The bridge on a real PostgreSQL with an in-memory publisher: it publishes every committed
 * change once in the gap-free order (a change held back by a running transaction is published
 * when it commits, not skipped), keeps its cursor where it was while publishing fails, and of two
 * bridges only the lease holder publishes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { ChangePublisher, OutgoingChange } from "../../src/ports/transport.ts";
import { type Bridge, createBridge } from "../../src/transport/bridge.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";

let db: TestDatabase;
const bridges: Bridge[] = [];
beforeAll(async () => {
  db = await createTestDatabase("nats-bridge");
  await createOrdersTable(db.sql);
});
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});
afterAll(() => db?.drop());

/**
 * A publisher keeping what it was given; `failing` makes it refuse, `connected: false` says its
 * broker is unreachable (and refuses too).
 */
function memoryPublisher() {
  const published: OutgoingChange[] = [];
  const state = { failing: false, connected: true, attempts: 0 };
  const publisher: ChangePublisher = {
    async publish(changes) {
      state.attempts++;
      if (state.failing || !state.connected) throw new Error("broker unreachable");
      published.push(...changes);
    },
    connected: () => state.connected,
  };
  return { publisher, published, state };
}

function bridge(name: string, publisher: ChangePublisher): Bridge {
  const created = createBridge({
    sql: db.client,
    publisher,
    clock: systemClock,
    logger: silentLogger,
    subjectPrefix: "fraiseql.mutation",
    name,
    pollIntervalMs: 50,
    leaseMs: 1_000,
  });
  bridges.push(created);
  return created;
}

const ids = (published: OutgoingChange[]) => published.map((c) => c.messageId);

async function changeIds(): Promise<string[]> {
  const rows = await db.sql`SELECT id::text AS id FROM core.tb_entity_change_log
    ORDER BY transaction_id, pk_entity_change_log`;
  return rows.map((r) => r.id as string);
}

describe("the bridge", () => {
  it("publishes a change held back by a running transaction once it commits, in order", async () => {
    await db.sql`TRUNCATE core.tb_entity_change_log`;
    const { publisher, published } = memoryPublisher();
    await bridge("nats:held", publisher).start();
    // A transaction that started first commits last: its change must not be skipped.
    const reserved = await db.sql.reserve();
    try {
      await reserved`BEGIN`;
      await reserved`INSERT INTO public.orders (status) VALUES ('slow')`;
      await db.sql`INSERT INTO public.orders (status) VALUES ('fast')`;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(published).toHaveLength(0);
      await reserved`COMMIT`;
    } finally {
      reserved.release();
    }
    await eventually(() => (published.length === 2 ? true : undefined), "both changes");
    expect(ids(published)).toEqual(await changeIds());
    expect(published.map((c) => c.subject)).toEqual([
      "fraiseql.mutation.Order.INSERT",
      "fraiseql.mutation.Order.INSERT",
    ]);
  });

  it("keeps its cursor while publishing fails, and publishes everything once it works", async () => {
    await db.sql`TRUNCATE core.tb_entity_change_log`;
    const { publisher, published, state } = memoryPublisher();
    state.failing = true;
    const b = bridge("nats:failing", publisher);
    await b.start();
    await db.sql`INSERT INTO public.orders (status) SELECT 'x' FROM generate_series(1, 5)`;
    await eventually(() => (state.attempts >= 2 ? true : undefined), "retries");
    expect(b.status()).toMatchObject({ published: 0, cursor: null });
    expect(b.status().lastError).toMatch(/broker unreachable/);
    state.failing = false;
    await eventually(() => (published.length === 5 ? true : undefined), "the five changes", 10_000);
    expect(ids(published)).toEqual(await changeIds());
    // Cleared when the round ends (its cursor moved), just after the publishes the test saw.
    await eventually(() => (b.status().lastError === null ? true : undefined), "the error cleared");
    expect(b.status().lastError).toBeNull();
  });

  it("of two bridges, only the lease holder publishes; the other takes over when it stops", async () => {
    await db.sql`TRUNCATE core.tb_entity_change_log`;
    const one = memoryPublisher();
    const two = memoryPublisher();
    const first = bridge("nats:pair", one.publisher);
    const second = bridge("nats:pair", two.publisher);
    await first.start();
    await second.start();
    await db.sql`INSERT INTO public.orders (status) SELECT 'x' FROM generate_series(1, 20)`;
    await eventually(
      () => (one.published.length + two.published.length === 20 ? true : undefined),
      "twenty changes",
    );
    const leader = first.status().leader ? one : two;
    expect([first.status().leader, second.status().leader].filter(Boolean)).toHaveLength(1);
    expect(leader.published).toHaveLength(20);
    // The leader stops (gives the lease up): the other publishes what follows.
    const [stopping, other] = first.status().leader ? [first, two] : [second, one];
    await stopping.stop();
    await db.sql`INSERT INTO public.orders (status) VALUES ('after')`;
    await eventually(() => (other.published.length === 1 ? true : undefined), "the next change");
    expect([...ids(one.published), ...ids(two.published)]).toEqual(await changeIds());
  });

  for (const cause of ["its broker unreachable", "its publishes failing"] as const) {
    it(`gives the lease up to the other bridge with ${cause}, and competes again once it publishes`, async () => {
      await db.sql`TRUNCATE core.tb_entity_change_log`;
      const one = memoryPublisher();
      const two = memoryPublisher();
      const name = cause === "its broker unreachable" ? "nats:unreachable" : "nats:failing-long";
      const first = bridge(name, one.publisher);
      await first.start();
      await eventually(() => (first.status().leader ? true : undefined), "the first leads");
      const second = bridge(name, two.publisher);
      await second.start();
      await db.sql`INSERT INTO public.orders (status) VALUES ('before')`;
      await eventually(() => (one.published.length === 1 ? true : undefined), "the first change");

      if (cause === "its broker unreachable") one.state.connected = false;
      else one.state.failing = true;
      await db.sql`INSERT INTO public.orders (status) VALUES ('during')`;
      await eventually(
        () => (two.published.length === 1 ? true : undefined),
        "the second bridge publishing",
        10_000,
      );
      expect(first.status().leader).toBe(false);
      expect(second.status().leader).toBe(true);

      one.state.connected = true;
      one.state.failing = false;
      await second.stop();
      await db.sql`INSERT INTO public.orders (status) VALUES ('after')`;
      await eventually(
        () => (one.published.length === 2 ? true : undefined),
        "the first bridge again",
        10_000,
      );
      expect(first.status().leader).toBe(true);
      expect([...ids(one.published), ...ids(two.published)].sort()).toEqual(
        (await changeIds()).sort(),
      );
    });
  }
});
