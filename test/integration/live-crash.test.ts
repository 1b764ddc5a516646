/**
 * Live-feed cursors survive a PostgreSQL crash. The runtime's outcome batches commit with
 * `synchronous_commit = off`: a crash can undo them and then issue their transaction ids and keys
 * again. A cursor the feed handed out for such a row would then point past rows written after the
 * restart (a resuming client skips them, or is told its cursor is ahead of the tables), and the
 * feed itself, still at that position, would skip them too. The feed only hands out positions it
 * has made durable (src/store/live.ts), which this test checks on an instance it crashes.
 *
 * The loss is forced, not hoped for: the WAL writer is stopped (SIGSTOP) before the relaxed rows
 * are written, the checkpointer and background writer are kept idle, so those commits sit in
 * shared memory until the crash unless something flushes them; `pg_ctl stop -m immediate` then
 * discards them as a power cut would. Rows written after the feed's last read are lost in every
 * case (the test checks it, so it knows the crash really lost commits); on the old code the rows
 * the feed had already handed out were lost too, and their positions reissued.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../adapters/drivers/postgres/migrations-dir.ts";
import {
  createPostgresClient,
  type PostgresClient,
} from "../../adapters/drivers/postgres/postgres-client.ts";
import { decodeCursor, encodeCursor, type LiveCursor } from "../../src/live/cursor.ts";
import { createLiveFeed, type LiveFeed } from "../../src/live/feed.ts";
import { replay } from "../../src/live/replay.ts";
import { parseSubscription } from "../../src/live/subscription.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { applyMigrations } from "../../src/store/migrate.ts";
import { type OutcomeRecord, recordOutcomes } from "../../src/store/outcomes.ts";
import { eventually } from "../support/observers.ts";
import { logOnlyRecord } from "../support/outcomes.ts";
import { createOwnPostgres, type OwnPostgres } from "../support/own-postgres.ts";

let pg: OwnPostgres;
let client: PostgresClient;
let feed: LiveFeed | undefined;
/** The WAL writer while it is stopped: killed on the way out if the test fails before it does. */
let stoppedWalWriter: number | undefined;

beforeAll(async () => {
  pg = await createOwnPostgres({
    // Nothing but the statements themselves may flush the WAL before the crash.
    checkpoint_timeout: "1h",
    max_wal_size: "1GB",
    autovacuum: "off",
    bgwriter_lru_maxpages: "0",
    wal_writer_delay: "10s",
  });
  client = createPostgresClient(pg.url, { max: 4, connectTimeoutSeconds: 10 });
  await applyMigrations(client, loadMigrations());
}, 120_000);

afterAll(async () => {
  if (stoppedWalWriter !== undefined) process.kill(stoppedWalWriter, "SIGKILL");
  await feed?.stop();
  await client?.close();
  await pg?.destroy();
});

/** One attempt's log row, as an outcome batch writes it, told apart by its event id. */
function logRow(n: number): OutcomeRecord {
  return logOnlyRecord({
    event_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    error_message: `row ${n}`,
    entity_id: String(n),
  });
}

/** Writes rows `from`..`to`-1, each in its own relaxed commit (its own transaction id). */
async function writeRelaxed(from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await recordOutcomes(client, "test", [logRow(n)]);
}

async function eventIdsInTable(): Promise<string[]> {
  const rows = await client.query<{ event_id: string }>(
    "SELECT event_id::text AS event_id FROM core.tb_observer_log ORDER BY event_id",
  );
  return rows.map((row) => row.event_id);
}

function rowNumber(eventId: string): number {
  return Number(eventId.slice(-12));
}

interface Message {
  event_id: string;
  cursor: string;
}

describe("live cursors across a PostgreSQL crash", () => {
  it("a live subscriber and one resuming with its old cursor each get every row once", async () => {
    // Rows from before anything below, made durable by a checkpoint.
    await writeRelaxed(0, 5);
    await client.query("CHECKPOINT");

    const live: Message[] = [];
    feed = createLiveFeed({
      sql: client,
      clock: systemClock,
      logger: silentLogger,
      // It reads when woken: rows written while it is not woken stay unseen until the crash.
      pollIntervalMs: 600_000,
    });
    await feed.start();
    // The feed starts at the tables' end: rows 0..4 are history, replayed to a client from START.
    const startedAt = feed.position;
    feed.onBatch((batch) => {
      for (const item of batch.items) live.push(JSON.parse(item.text("meta")) as Message);
    });

    // From here on only the statements' own commits can flush the WAL.
    const walWriter = await pg.pidOf("walwriter");
    process.kill(walWriter, "SIGSTOP");
    stoppedWalWriter = walWriter;
    await writeRelaxed(5, 25);
    feed.wake();
    await eventually(() => (live.length === 20 ? true : undefined), "20 live messages");
    // The subscriber that goes away now and resumes after the restart.
    const resumeFrom = (live.at(-1) as Message).cursor;

    // Rows the feed never read: nothing flushes them, so the crash loses them.
    await writeRelaxed(25, 30);

    process.kill(walWriter, "SIGKILL");
    stoppedWalWriter = undefined;
    await pg.crash();
    await pg.start();
    await eventually(async () => (await client.query("SELECT 1")).length, "a connection again");
    const survivors = (await eventIdsInTable()).map(rowNumber);
    // The loss was real (rows 25..29 are gone) and touched nothing the feed had handed out.
    expect(survivors.filter((n) => n >= 25)).toEqual([]);
    expect(survivors.filter((n) => n >= 5)).toHaveLength(20);

    // Right after the restart, before anything new: its cursor is not "ahead" of the tables.
    const resumed = await parseSubscription(client, { since: resumeFrom }, {});
    expect(resumed.since).toEqual(decodeCursor(resumeFrom));

    // Rows written after the restart take the transaction ids (and keys) a lost commit would have
    // freed; the feed, still running, goes on past the crash.
    await writeRelaxed(30, 65);
    // Everything written after the feed started that exists (rows 5..24, and 30..64 written since)
    // reaches the live subscriber exactly once, and nothing it was sent is gone from the tables.
    const afterStart = async () => (await eventIdsInTable()).filter((id) => rowNumber(id) >= 5);
    const sorted = (messages: Message[]) => messages.map((m) => m.event_id).sort();
    await eventually(async () => {
      feed?.wake();
      return live.length >= (await afterStart()).length ? true : undefined;
    }, "the live feed to catch up").catch(() => undefined);
    expect(sorted(live)).toEqual(await afterStart());
    expect(live).toHaveLength(55);

    // The resuming subscriber: what it had before the crash, then the replay from its cursor up
    // to where the feed is. Together, every row after its starting point, once each.
    const replayed: Message[] = [];
    const to: LiveCursor = feed.position;
    await replay(client, resumed, decodeCursor(resumeFrom), to, (text) => {
      replayed.push(JSON.parse(text) as Message);
      return true;
    });
    expect(sorted([...live.slice(0, 20), ...replayed])).toEqual(await afterStart());

    // A client that subscribed when the feed started, resuming now, likewise.
    const fromStart: Message[] = [];
    await replay(client, resumed, decodeCursor(encodeCursor(startedAt)), to, (text) => {
      fromStart.push(JSON.parse(text) as Message);
      return true;
    });
    expect(sorted(fromStart)).toEqual(await afterStart());
  }, 180_000);
});
