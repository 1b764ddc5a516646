/**
 * Live notifications on the Deno server (`deno run -A adapters/hosts/deno/main.ts`), whose hub keeps its
 * topics in memory and, with no drain event, polls `bufferedAmount`: a subscriber resuming with
 * `since` gets a large backlog exactly once and in order, paced to what it reads, and one that
 * stops reading is closed with 1013 while the others keep receiving everything. The same
 * behaviour as on Bun (live.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  connectLive,
  type LiveClient,
  type LiveMessage,
  openRawLive,
} from "../support/live-client.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let db: TestDatabase;
let server: ServerProcess;
const clients: LiveClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase("e2e_deno_live");
  await db.sql.unsafe(`CREATE TABLE public.bulk (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status text NOT NULL DEFAULT 'new',
    body text
  )`);
  await db.sql.unsafe(`SELECT core.fn_track_table('public.bulk', 'Bulk')`);
  server = await startServer(
    {
      DATABASE_URL: db.url,
      OBSERVERS_POLL_INTERVAL_MS: "100",
      OBSERVERS_LIVE_MAX_BUFFERED_BYTES: "65536",
    },
    { runtime: "deno" },
  );
});
afterEach(() => {
  for (const client of clients.splice(0)) client.socket.close();
});
afterAll(async () => {
  await server?.kill9();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isChange = (m: LiveMessage) => m.type === "change";

function open(params: Record<string, string | undefined>): LiveClient {
  const client = connectLive(server.url, { token: server.token, params });
  clients.push(client);
  return client;
}

async function bulkLog(): Promise<string[]> {
  const rows = await db.sql<{ event_id: string }[]>`
    SELECT id::text AS event_id FROM core.tb_entity_change_log
    WHERE object_type = 'Bulk' ORDER BY transaction_id, pk_entity_change_log`;
  return rows.map((r) => r.event_id);
}

describe("live notifications on Deno", () => {
  it("closes a subscriber that stops reading with 1013, the others get everything, and it resumes with since", async () => {
    const params = { entity_type: "Bulk", payload: "full" };
    const normal = open(params);
    await normal.ready();
    const raw = await openRawLive(server.url, server.token, params);
    try {
      const ready = await raw.waitForFrame((f) => f.opcode === 1);
      expect(JSON.parse(ready.payload.toString())).toMatchObject({ type: "ready" });
      raw.socket.pause();

      for (let i = 0; i < 10; i++) {
        await db.sql`INSERT INTO bulk (status, body)
          SELECT 'bulk', repeat(md5(g::text), 64) FROM generate_series(1, 500) g`;
      }
      const log = await bulkLog();
      expect(log).toHaveLength(5_000);
      await normal.waitFor(log.length, isChange, 30_000);
      expect(normal.of("change").map((m) => m.event_id)).toEqual(log);

      raw.socket.resume();
      const close = await Promise.race([
        raw.closeFrame,
        sleep(15_000).then(() => {
          throw new Error(`no close frame after ${raw.frames.length} frames`);
        }),
      ]);
      expect(close.code).toBe(1013);
      expect(close.reason).toContain("too slow");
      const received = raw.frames
        .filter((f) => f.opcode === 1)
        .map((f) => JSON.parse(f.payload.toString()) as LiveMessage)
        .filter(isChange);
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(log.length);
      expect(received.map((m) => m.event_id)).toEqual(log.slice(0, received.length));

      // The rest, megabytes over a 64 KiB limit: the replay waits for the socket to drain.
      const resumed = open({ ...params, since: String(received.at(-1)?.cursor) });
      await resumed.ready(30_000);
      expect(resumed.closeCode).toBeNull();
      expect(resumed.of("change").map((m) => m.event_id)).toEqual(log.slice(received.length));

      normal.send({ type: "ping" });
      await normal.waitFor(1, (m) => m.type === "pong");
      expect(normal.closeCode).toBeNull();
      expect(normal.of("change")).toHaveLength(log.length);
    } finally {
      raw.socket.destroy();
    }
  });
});
