/**
 * The Workers live hub (adapters/hosts/workers) in `wrangler dev` (workerd, local): a Durable Object
 * per tenant holding hibernatable WebSockets, fed by the cron-driven publisher over Hyperdrive
 * (pointed at a fresh test database), with real WebSocket clients. Fails, never skips, when
 * wrangler cannot start.
 */
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeCursor, isAfter } from "../../src/live/cursor.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { insertChange } from "../support/changes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { openRawLive, type RawLiveSocket } from "../support/live-client.ts";
import { insertObserver } from "../support/observers.ts";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev.ts";

const ADMIN_TOKEN = "live-do-admin-token";

let db: TestDatabase;
let worker: WranglerDev | undefined;
let tenantToken = "";
const sockets: WebSocket[] = [];
const rawSockets: RawLiveSocket[] = [];

beforeAll(async () => {
  db = await createTestDatabase("live_do");
  tenantToken = (await insertApiKey(db.client, { name: "t7", scope: "read", fk_customer_org: "7" }))
    .token;
  worker = await startWranglerDev({
    config: join(import.meta.dirname, "../runtimes/live-wrangler.toml"),
    databaseUrl: db.url,
    vars: { OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  // The first tick records the tables' current end as the feed's position.
  await tick();
}, 60_000);

afterAll(async () => {
  // LIVE_DO_DEBUG=1 prints what wrangler and the Worker logged.
  if (process.env.LIVE_DO_DEBUG) console.log(worker?.output());
  for (const ws of sockets) ws.close();
  for (const raw of rawSockets) raw.socket.destroy();
  await worker?.stop();
  await db?.drop();
});

/** Fires the cron handler (publishLive) and waits for it. */
const tick = () => (worker as WranglerDev).tick();
const output = () => worker?.output() ?? "";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const port = () => new URL((worker as WranglerDev).url).port;

interface Message {
  type: string;
  cursor: string;
  event_id: string;
  entity_type: string;
  fk_customer_org: number | null;
  status?: string;
  before?: unknown;
  after?: unknown;
}

/** A connected client and everything it received. */
interface Client {
  ws: WebSocket;
  messages: Message[];
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(query: string, headers?: Record<string, string>): Promise<Client> {
  const url = `ws://127.0.0.1:${port()}/api/observers/ws${query}`;
  // Node's WebSocket (undici) takes headers in its options object.
  const init = headers ? ({ headers } as unknown as string[]) : undefined;
  const ws = new WebSocket(url, init);
  sockets.push(ws);
  const messages: Message[] = [];
  ws.addEventListener("message", (event) => {
    messages.push(JSON.parse(String(event.data)) as Message);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener(
      "error",
      () => reject(new Error(`could not connect: ${url}\n${output()}`)),
      {
        once: true,
      },
    );
  });
  return { ws, messages, closed };
}

const DATA = ["change", "execution"];

/**
 * Waits until `client` has `count` messages of `types` (default: changes and executions), then a
 * little longer, so that an extra one would show; returns them. Waiting for changes and
 * executions, it fires the cron every 250 ms like a (fast) schedule would: rows are published once
 * no older transaction is running anywhere on the server (the xmin horizon is cluster-wide, and
 * other test files share the server), which may take more than one tick.
 */
async function received(
  client: Client,
  count: number,
  types = DATA,
  where: (message: Message) => boolean = () => true,
): Promise<Message[]> {
  const deadline = Date.now() + 20_000;
  const matching = () => client.messages.filter((m) => types.includes(m.type) && where(m));
  for (let waited = 0; matching().length < count; waited += 25) {
    if (Date.now() > deadline) {
      throw new Error(`expected ${count} messages, got ${JSON.stringify(client.messages)}`);
    }
    if (types === DATA && waited > 0 && waited % 250 === 0) await tick();
    await sleep(25);
  }
  await sleep(250);
  return matching();
}

/** Connects and waits for `ready` (replay done, live from here). */
async function subscribe(query: string, headers?: Record<string, string>): Promise<Client> {
  const client = await connect(query, headers);
  await received(client, 1, ["ready"]);
  return client;
}

const readyCursor = (client: Client) =>
  decodeCursor((client.messages.find((m) => m.type === "ready") as Message).cursor);

const now = () => new Date().toISOString();

/** Waits until every row written so far is below the xmin horizon (readable by the feed). */
async function settled(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await db.sql<{ done: boolean }[]>`
      SELECT pg_snapshot_xmin(pg_current_snapshot()) > greatest(
        (SELECT max(transaction_id) FROM core.tb_entity_change_log),
        (SELECT max(transaction_id) FROM core.tb_observer_log)) AS done`;
    if (row?.done) return;
    if (Date.now() > deadline) throw new Error("the xmin horizon did not move for 20 s");
    await sleep(50);
  }
}

async function logRow(
  eventId: string,
  status: string,
  org: number | null,
  observer: string | null = null,
): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_log (fk_observer, event_id, entity_type, event_type,
      status, action_index, action_type, attempt_number, max_attempts, fk_customer_org)
    VALUES ((SELECT pk_observer FROM core.tb_observer WHERE id = ${observer}::uuid), ${eventId},
      'Order', 'INSERT', ${status}, 0, 'webhook', 1, 3, ${org})`;
}

/** Whether every cursor comes after the one before it in at least one stream and never moves back. */
function increasing(messages: Message[]): boolean {
  for (let i = 1; i < messages.length; i++) {
    const a = decodeCursor((messages[i - 1] as Message).cursor);
    const b = decodeCursor((messages[i] as Message).cursor);
    if (isAfter(a.changes, b.changes) || isAfter(a.executions, b.executions)) return false;
    if (!isAfter(b.changes, a.changes) && !isAfter(b.executions, a.executions)) return false;
  }
  return true;
}

function upgradeStatus(query: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port: port(),
      path: `/api/observers/ws${query}`,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    req.on("response", (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("upgrade", (_response, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("revoked keys in the live hub Durable Object", () => {
  /**
   * A key and a raw socket of it, once ready. Raw, because the close frame (with its code) comes
   * at once, while the close event of a WebSocket client waits for the connection to shut, which
   * wrangler dev's local proxy may hold open for a long while.
   */
  async function socketOf(name: string, tenant: string | null) {
    const key = await insertApiKey(db.client, { name, scope: "read", fk_customer_org: tenant });
    const socket = await openRawLive((worker as WranglerDev).url, key.token);
    rawSockets.push(socket);
    await socket.waitForFrame((f) => f.opcode === 1 && f.payload.toString().includes('"ready"'));
    return { key, socket };
  }

  /** The close frame, within `withinMs`. */
  async function closedWithin(socket: RawLiveSocket, withinMs: number) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no close frame within ${withinMs} ms`)), withinMs);
    });
    try {
      return await Promise.race([socket.closeFrame, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  it("closes a key's sockets with 1008 at once when DELETE /api/keys/{id} revokes it", async () => {
    const doomed = await socketOf("doomed-do", "7");
    const kept = await subscribe("", { authorization: `Bearer ${tenantToken}` });
    const admin = await subscribe(`?token=${ADMIN_TOKEN}`);
    const response = await fetch(`${(worker as WranglerDev).url}/api/keys/${doomed.key.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(204);
    // The DELETE answered once the hub had closed the socket; the hub's own check (every 3 s in
    // this test Worker, set when the socket connected) cannot have come yet.
    expect(await closedWithin(doomed.socket, 1_000)).toEqual({
      code: 1008,
      reason: "the API key was revoked",
    });
    // The others are still served.
    for (const client of [kept, admin]) {
      const pongs = client.messages.filter((m) => m.type === "pong").length;
      client.ws.send('{"type":"ping"}');
      await received(client, pongs + 1, ["pong"]);
    }
  });

  it("closes a key revoked without telling the hub (by hand in SQL) at its next key check", async () => {
    const doomed = await socketOf("doomed-sql", null);
    await db.sql`UPDATE core.tb_api_key SET deleted_at = now() WHERE id = ${doomed.key.id}::uuid`;
    // The test hub checks every 3 s; the slack covers a loaded machine.
    expect(await closedWithin(doomed.socket, 3_000 + 9_000)).toEqual({
      code: 1008,
      reason: "the API key was revoked",
    });
  });
});

describe("the live hub Durable Object in wrangler dev", () => {
  it("refuses an upgrade without a valid token (401) and bad filters (400)", async () => {
    expect(await upgradeStatus("")).toBe(401);
    expect(await upgradeStatus("?token=nope")).toBe(401);
    expect(await upgradeStatus(`?token=${ADMIN_TOKEN}&event_type=NOPE`)).toBe(400);
    expect(await upgradeStatus(`?token=${ADMIN_TOKEN}`)).toBe(101);
  });

  it("sends changes and executions by tenant: an admin sees all, a tenant key its own", async () => {
    const admin = await subscribe(`?token=${ADMIN_TOKEN}`);
    const tenant = await subscribe("", { authorization: `Bearer ${tenantToken}` });
    const full = await subscribe(`?token=${tenantToken}&payload=full&entity_type=Order`);
    const seven = await insertChange(db.sql, { org: 7, at: now(), data: { n: 1 } });
    const eight = await insertChange(db.sql, { org: 8, at: now() });
    const other = await insertChange(db.sql, { org: 7, at: now(), entity: "Invoice" });
    await logRow(seven, "success", 7);
    await logRow(eight, "failed", 8);
    // A global observer's execution on tenant 7's change: the admin's, not the tenant hub's.
    const global = await insertObserver(db.sql, { name: "global-do", actions: [{ type: "log" }] });
    await logRow(seven, "failed", 7, global);
    await tick();

    const all = await received(admin, 6);
    expect(all.map((m) => [m.type, m.event_id])).toEqual([
      ["change", seven],
      ["change", eight],
      ["change", other],
      ["execution", seven],
      ["execution", eight],
      ["execution", seven],
    ]);
    expect(increasing(all)).toBe(true);
    expect(all[0]).not.toHaveProperty("after");

    const own = await received(tenant, 3);
    expect(own.map((m) => [m.type, m.event_id, m.fk_customer_org])).toEqual([
      ["change", seven, 7],
      ["change", other, 7],
      ["execution", seven, 7],
    ]);
    expect(increasing(own)).toBe(true);

    const orders = await received(full, 2);
    expect(orders.map((m) => [m.type, m.event_id])).toEqual([
      ["change", seven],
      ["execution", seven],
    ]);
    expect(orders[0]).toMatchObject({ after: { n: 1 } });
  });

  it("answers a ping with a pong (asleep or awake), and anything else with an error", async () => {
    const client = await subscribe(`?token=${ADMIN_TOKEN}`);
    client.ws.send('{"type":"ping"}'); // the runtime's auto-response
    client.ws.send('{ "type": "ping" }'); // the hub's handler
    client.ws.send("hello");
    expect(await received(client, 3, ["pong", "error"])).toEqual([
      { type: "pong" },
      { type: "pong" },
      { type: "error", message: 'the server only answers {"type":"ping"}' },
    ]);
  });

  it("resumes from a cursor: what was missed, then live, without gap or duplicate", async () => {
    const first = await subscribe(`?token=${ADMIN_TOKEN}&entity_type=Order`);
    const a = await insertChange(db.sql, { org: 7, at: now() });
    await tick();
    const [seen] = await received(first, 1);
    first.ws.close();
    await first.closed;

    // Missed while away: published (b) and not yet published (c, and its execution).
    const b = await insertChange(db.sql, { org: 8, at: now() });
    await insertChange(db.sql, { org: 7, at: now(), entity: "Invoice" });
    await tick();
    const c = await insertChange(db.sql, { org: null, at: now() });
    await logRow(c, "success", null);

    // Readable now (other test files' transactions can hold the horizon back), so replayed.
    await settled();
    const since = encodeURIComponent((seen as Message).cursor);
    const witness = await subscribe(`?token=${ADMIN_TOKEN}&entity_type=Order`);
    const resumed = await subscribe(`?token=${ADMIN_TOKEN}&entity_type=Order&since=${since}`);
    const replayed = await received(resumed, 3);
    // `ready` follows the replay, with a cursor no earlier than the last replayed.
    expect(resumed.messages.map((m) => m.type)).toEqual(["change", "change", "execution", "ready"]);
    const last = decodeCursor((replayed[2] as Message).cursor);
    expect(isAfter(last.changes, readyCursor(resumed).changes)).toBe(false);
    expect(isAfter(last.executions, readyCursor(resumed).executions)).toBe(false);
    expect(replayed.map((m) => [m.type, m.event_id])).toEqual([
      ["change", b],
      ["change", c],
      ["execution", c],
    ]);

    // c and its execution are published now (the witness, live, gets them; b too, if the
    // horizon held it back at the earlier tick): already replayed, so not sent again.
    await tick();
    const published = await received(witness, 2, DATA, (m) => m.event_id === c);
    expect(published.map((m) => m.type)).toEqual(["change", "execution"]);
    const d = await insertChange(db.sql, { org: 8, at: now() });
    await tick();
    const everything = await received(resumed, 4);
    expect(everything.map((m) => [m.type, m.event_id])).toEqual([
      ["change", b],
      ["change", c],
      ["execution", c],
      ["change", d],
    ]);
    expect(increasing([seen as Message, ...everything])).toBe(true);
    expect(a).toBe((seen as Message).event_id);

    // A tenant key resuming from the same cursor replays only its tenant's.
    const tenant = await subscribe(`?token=${tenantToken}&since=${since}`);
    const own = await received(tenant, 1);
    expect(own.map((m) => m.fk_customer_org)).toEqual([7]);
  });

  it("holds what is published during a long catch-up and sends it after, in order, once", async () => {
    const first = await subscribe(`?token=${ADMIN_TOKEN}&entity_type=Bulk`);
    await insertChange(db.sql, { entity: "Bulk", at: now() });
    await tick();
    const [seen] = await received(first, 1);
    first.ws.close();
    await first.closed;
    await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id,
      object_data, fk_customer_org)
      SELECT 'Bulk', 'INSERT', n::text, '{}'::jsonb, 7 FROM generate_series(1, 3000) n`;
    await tick();

    const since = encodeURIComponent((seen as Message).cursor);
    // While the 3 000 are replayed, new rows are committed and published (quick ticks): they
    // come after the replay's end, and must wait for it.
    const resuming = connect(`?token=${ADMIN_TOKEN}&entity_type=Bulk&since=${since}`);
    for (let i = 0; i < 5; i++) {
      await insertChange(db.sql, { entity: "Bulk", at: now(), org: 7 });
      await tick();
    }
    const resumed = await resuming;
    const expected = await db.sql<{ id: string }[]>`
      SELECT id::text AS id FROM core.tb_entity_change_log
      WHERE object_type = 'Bulk' AND pk_entity_change_log > (
        SELECT pk_entity_change_log FROM core.tb_entity_change_log WHERE id = ${(seen as Message).event_id})
      ORDER BY transaction_id, pk_entity_change_log`;
    expect(expected).toHaveLength(3005);
    const messages = await received(resumed, expected.length);
    expect(messages.map((m) => m.event_id)).toEqual(expected.map((row) => row.id));
    expect(increasing([seen as Message, ...messages])).toBe(true);
  }, 30_000);
});
