/**
 * The live feed against a real PostgreSQL: it tails the change log and the delivery log in their
 * gap-free order, and a replay from any cursor yields exactly the messages that followed it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { decodeCursor, encodeCursor, type LiveCursor, START } from "../../src/live/cursor.ts";
import { createLiveFeed, type LiveBatch, type LiveFeed } from "../../src/live/feed.ts";
import { replay } from "../../src/live/replay.ts";
import { parseSubscription } from "../../src/live/subscription.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { readLivePositions } from "../../src/store/live.ts";
import { fakeClock } from "../support/clock.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";

let db: TestDatabase;
let feed: LiveFeed | undefined;
beforeAll(async () => {
  db = await createTestDatabase("live_feed");
  await createOrdersTable(db.sql);
});
afterEach(async () => {
  await feed?.stop();
  feed = undefined;
});
afterAll(() => db?.drop());

function startFeed(): { feed: LiveFeed; batches: LiveBatch[] } {
  const batches: LiveBatch[] = [];
  feed = createLiveFeed({
    sql: db.client,
    clock: systemClock,
    logger: silentLogger,
    pollIntervalMs: 20,
  });
  feed.onBatch((batch) => batches.push(batch));
  return { feed, batches };
}

async function logRow(eventId: string, status: string, org: number | null = null) {
  await db.sql`INSERT INTO core.tb_observer_log (event_id, entity_type, event_type, status,
    action_index, action_type, attempt_number, max_attempts, fk_customer_org)
    VALUES (${eventId}, 'Order', 'INSERT', ${status}, 0, 'webhook', 1, 3, ${org})`;
}

/**
 * The tables' end once it includes every row written so far: the horizon is the whole server's,
 * so a transaction open in a parallel test file's database can hold it back for a moment.
 */
async function tablesEnd(): Promise<LiveCursor> {
  const [last] = await db.sql`SELECT
    (SELECT max(pk_entity_change_log) FROM core.tb_entity_change_log)::text AS change,
    (SELECT max(pk_observer_log) FROM core.tb_observer_log)::text AS execution`;
  return eventually(async () => {
    const end = await readLivePositions(db.client);
    const covers = (id: string, max: unknown) => max == null || BigInt(id) >= BigInt(String(max));
    return covers(end.changes.id, last?.change) && covers(end.executions.id, last?.execution)
      ? end
      : undefined;
  }, "the tables' end past every row written");
}

const texts = (batches: LiveBatch[]) =>
  batches.flatMap((b) => b.items.map((i) => JSON.parse(i.text("meta")) as Record<string, unknown>));

describe("subscriptions", () => {
  it("refuse a cursor ahead of the tables (another or a restored database) instead of waiting forever", async () => {
    const ahead = "1.18446744073709551615.9223372036854775807.0.0";
    const error = await parseSubscription(db.client, { since: ahead }, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        path: "since",
        message: "is ahead of this database's tables: not a cursor this server sent",
      },
    ]);
    // The tables' end itself is a fine place to resume from.
    const { feed } = startFeed();
    await feed.start();
    const current = encodeCursor(feed.position);
    await expect(parseSubscription(db.client, { since: current }, {})).resolves.toMatchObject({
      since: feed.position,
    });
  });
});

describe("the live feed", () => {
  it("starts at the end, then hands out changes and executions in order", async () => {
    await db.sql`INSERT INTO orders (status) VALUES ('before-start')`;
    // Until the server-wide horizon passes it, the feed would count that row as after its start
    // (and send it, by design: nothing is missed).
    await tablesEnd();
    const { feed, batches } = startFeed();
    await feed.start();
    await db.sql`INSERT INTO orders (status) VALUES ('a'), ('b')`;
    const [change] =
      await db.sql`SELECT id::text AS id FROM core.tb_entity_change_log ORDER BY pk_entity_change_log DESC LIMIT 1`;
    await logRow(String(change?.id), "success");
    const messages = await eventually(() => {
      const all = texts(batches);
      return all.length >= 3 ? all : undefined;
    }, "three messages");
    expect(messages.map((m) => m.type)).toEqual(["change", "change", "execution"]);
    expect(messages[2]).toMatchObject({
      type: "execution",
      status: "success",
      event_id: change?.id,
    });
    // Cursors increase in both streams.
    const cursors = messages.map((m) => decodeCursor(String(m.cursor)));
    for (let i = 1; i < cursors.length; i++) {
      const [a, b] = [cursors[i - 1] as LiveCursor, cursors[i] as LiveCursor];
      expect(BigInt(b.changes.id) >= BigInt(a.changes.id)).toBe(true);
      expect(BigInt(b.executions.id) >= BigInt(a.executions.id)).toBe(true);
    }
  });

  it("sends a change whose transaction commits after a later one, after it, not never", async () => {
    const { feed, batches } = startFeed();
    await feed.start();
    const early = await db.sql.reserve();
    try {
      await early`BEGIN`;
      await early`INSERT INTO orders (status) VALUES ('early')`;
      await db.sql`INSERT INTO orders (status) VALUES ('later')`;
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Held back by the open transaction: nothing yet.
      expect(texts(batches)).toEqual([]);
      await early`COMMIT`;
    } finally {
      early.release();
    }
    const messages = await eventually(() => {
      const all = texts(batches);
      return all.length >= 2 ? all : undefined;
    }, "both changes");
    expect(messages).toHaveLength(2);
  });

  it("replays from any cursor exactly what followed it, filtered, without gap or duplicate", async () => {
    const from: LiveCursor = await (async () => {
      const { feed } = startFeed();
      await feed.start();
      const position = feed.position;
      await feed.stop();
      return position;
    })();
    await db.sql`INSERT INTO orders (status) VALUES ('r1'), ('r2'), ('r3')`;
    const ids =
      await db.sql`SELECT id::text AS id FROM core.tb_entity_change_log ORDER BY pk_entity_change_log DESC LIMIT 3`;
    for (const row of ids) await logRow(String(row.id), "failed");
    const to = await tablesEnd();
    const { feed, batches } = startFeed();
    await feed.start();
    const all: string[] = [];
    const subscription = await parseSubscription(db.client, {}, {});
    await replay(db.client, subscription, from, to, (text) => {
      all.push(text);
      return true;
    });
    const messages = all.map((t) => JSON.parse(t) as { type: string; cursor: string });
    expect(messages.map((m) => m.type)).toEqual([
      "change",
      "change",
      "change",
      "execution",
      "execution",
      "execution",
    ]);
    // Resuming from the third message's cursor yields exactly the rest.
    const rest: string[] = [];
    await replay(
      db.client,
      subscription,
      decodeCursor(messages[2]?.cursor as string),
      to,
      (text) => {
        rest.push(text);
        return true;
      },
    );
    expect(rest).toEqual(all.slice(3));
    expect(encodeCursor(to)).toBe(messages[5]?.cursor);
    expect(batches).toEqual([]);
    expect(encodeCursor({ changes: START, executions: START })).toBe("1.0.0.0.0");
  });

  it("replays only the subscriber's tenant and entity", async () => {
    const { feed } = startFeed();
    await feed.start();
    const from = feed.position;
    await feed.stop();
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data, fk_customer_org)
      VALUES ('Order', 'INSERT', '1', '{}', 7), ('Order', 'INSERT', '2', '{}', 8), ('User', 'INSERT', '3', '{}', 7)`;
    const to = await tablesEnd();
    const seen: Record<string, unknown>[] = [];
    const subscription = await parseSubscription(
      db.client,
      { entity_type: "Order" },
      { tenant: "7" },
    );
    await replay(db.client, subscription, from, to, (text) => {
      seen.push(JSON.parse(text));
      return true;
    });
    expect(seen.map((m) => [m.entity_type, m.fk_customer_org, m.entity_id])).toEqual([
      ["Order", 7, "1"],
    ]);
  });
});

describe("stopping the live feed", () => {
  it("does not wait past its bound for a read whose query never answers", async () => {
    // A query whose connection died can stay pending in the driver (postgres.js 3.4.9): the feed's
    // stop must not hold the server's shutdown for it.
    let hang = false;
    let hung = 0;
    const sql = {
      query: <Row extends object>(text: string, params?: readonly unknown[]) => {
        if (!hang) return db.client.query<Row>(text, params);
        hung++;
        return new Promise<Row[]>(() => {});
      },
    };
    const clock = fakeClock();
    const logged: string[] = [];
    const stalled = createLiveFeed({
      sql,
      clock,
      logger: { log: (_level, message) => logged.push(message) },
      stopTimeoutMs: 5_000,
    });
    await stalled.start();
    hang = true;
    stalled.wake();
    expect(hung).toBe(1);
    let stopped = false;
    const stopping = stalled.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    clock.advance(5_000);
    await stopping;
    expect(stopped).toBe(true);
    expect(logged).toContain("live feed stopped with a read still in flight");
  });

  it("returns at once when no read is in flight", async () => {
    const clock = fakeClock();
    const idle = createLiveFeed({ sql: db.client, clock, logger: silentLogger });
    await idle.start();
    await idle.stop();
    expect(clock.pending).toBe(0);
  });
});
