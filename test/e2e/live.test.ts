/**
 * Live notifications end to end: the Bun server as a process (`bun adapters/hosts/bun/main.ts`) against a
 * real PostgreSQL, and real WebSocket clients on `GET /api/observers/ws` (DESIGN section 5).
 * Changes written by another connection arrive as `change` messages, webhook attempts as
 * `execution` messages, filtered by entity type, event type, observer and tenant; a subscriber
 * resuming with `since` gets everything it missed exactly once; a subscriber that stops reading is
 * closed with 1013 without holding up the others; shutdown closes with 1001.
 *
 * Negative assertions ("never receives X") use a ping barrier: every item of the feed is
 * published to all of its topics at once, so once a subscriber that receives everything has an
 * item, any other socket that was going to get it has it queued before the `pong` it is sent next.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeCursor, isAfter, type LiveCursor } from "../../src/live/cursor.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  attemptUpgrade,
  connectLive,
  type LiveClient,
  type LiveConnectOptions,
  type LiveMessage,
  openRawLive,
} from "../support/live-client.ts";
import { createOrdersTable } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer, TEST_ADMIN_TOKEN } from "../support/server-process.ts";

const receiver = useReceiver((request) =>
  request.path.startsWith("/fail") ? { status: 500, body: "no" } : { status: 204 },
);
let db: TestDatabase;
const clients: LiveClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase("e2e_live");
  await createOrdersTable(db.sql);
  for (const [table, entity] of [
    ["payments", "Payment"],
    ["invoices", "Invoice"],
    ["resumes", "Resume"],
    ["tenanted", "Tenanted"],
    ["bulk", "Bulk"],
  ] as const) {
    await db.sql.unsafe(`CREATE TABLE public.${table} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      status text NOT NULL DEFAULT 'new',
      org bigint,
      body text
    )`);
    await db.sql.unsafe(
      `SELECT core.fn_track_table('public.${table}', '${entity}', '{"tenant_column": "org"}')`,
    );
  }
});
afterEach(() => {
  for (const client of clients.splice(0)) client.socket.close();
});
afterAll(() => db?.drop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isChange = (m: LiveMessage) => m.type === "change";
const isExecution = (m: LiveMessage) => m.type === "execution";

async function serve(env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServer({ DATABASE_URL: db.url, OBSERVERS_POLL_INTERVAL_MS: "100", ...env });
}

function open(
  server: ServerProcess,
  params: Record<string, string | undefined> = {},
  options: Partial<LiveConnectOptions> = {},
): LiveClient {
  const client = connectLive(server.url, { token: server.token, ...options, params });
  clients.push(client);
  return client;
}

/** Waits until everything published to `client` before now has arrived (see the file comment). */
async function barrier(client: LiveClient): Promise<void> {
  const pongs = client.of("pong").length;
  client.send({ type: "ping" });
  await client.waitFor(pongs + 1, (m) => m.type === "pong");
}

interface LoggedChange {
  pk: string;
  event_id: string;
  entity_type: string;
  entity_id: string;
  org: string | null;
}

/** Captured changes of `entities` after change-log key `afterPk`, in the runtime's read order. */
async function changeLog(entities: string[], afterPk = "0"): Promise<LoggedChange[]> {
  return db.sql<LoggedChange[]>`
    SELECT pk_entity_change_log::text AS pk, id::text AS event_id, object_type AS entity_type,
      object_id::text AS entity_id, fk_customer_org::text AS org
    FROM core.tb_entity_change_log
    WHERE object_type = ANY(${entities}) AND pk_entity_change_log > ${afterPk}::bigint
    ORDER BY transaction_id, pk_entity_change_log`;
}

async function lastPk(): Promise<string> {
  const [row] = await db.sql<{ pk: string }[]>`
    SELECT COALESCE(max(pk_entity_change_log), 0)::text AS pk FROM core.tb_entity_change_log`;
  return row?.pk ?? "0";
}

/** Every message's cursor decoded, checked never to go back in either stream; returns them. */
function expectCursorsNeverBack(messages: readonly LiveMessage[], from?: LiveCursor): LiveCursor[] {
  const cursors = messages
    .filter((m) => m.cursor !== undefined)
    .map((m) => decodeCursor(String(m.cursor)));
  let previous = from;
  let previousChange: LiveCursor | undefined;
  for (const [i, cursor] of cursors.entries()) {
    if (previous) {
      expect(isAfter(previous.changes, cursor.changes), `changes cursor went back at ${i}`).toBe(
        false,
      );
      expect(
        isAfter(previous.executions, cursor.executions),
        `executions cursor went back at ${i}`,
      ).toBe(false);
    }
    previous = cursor;
  }
  // Each change message moves the changes position forward.
  for (const message of messages.filter(isChange)) {
    const cursor = decodeCursor(String(message.cursor));
    if (previousChange) expect(isAfter(cursor.changes, previousChange.changes)).toBe(true);
    previousChange = cursor;
  }
  return cursors;
}

async function createObserver(
  server: ServerProcess,
  body: Record<string, unknown>,
  token = server.token,
): Promise<string> {
  const response = await fetch(`${server.url}/api/observers`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { id?: string };
  expect(response.status, JSON.stringify(json)).toBe(201);
  return json.id as string;
}

async function deleteObserver(server: ServerProcess, id: string): Promise<void> {
  const response = await server.api(`/api/observers/${id}`, { method: "DELETE" });
  expect(response.status).toBe(204);
}

async function createKey(
  server: ServerProcess,
  tenant: number,
  scope: "admin" | "read",
): Promise<string> {
  const response = await fetch(`${server.url}/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `tenant-${tenant}-${scope}`, scope, fk_customer_org: tenant }),
  });
  const json = (await response.json()) as { token?: string };
  expect(response.status, JSON.stringify(json)).toBe(201);
  return json.token as string;
}

const META_KEYS = [
  "created_at",
  "cursor",
  "entity_id",
  "entity_type",
  "event_id",
  "event_type",
  "fk_customer_org",
  "type",
];

describe("live notifications on one server", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await serve();
  });
  afterAll(() => server?.kill9());

  it("sends captured changes live, filtered by entity and event type, with images on payload=full", async () => {
    const all = open(server);
    const full = open(server, { entity_type: "Order", payload: "full" });
    const updates = open(server, { entity_type: "Order", event_type: "update" });
    const payments = open(server, { entity_type: "Payment" });
    const deletes = open(server, { event_type: "DELETE" });
    const readies = await Promise.all(
      [all, full, updates, payments, deletes].map((c) => c.ready()),
    );
    for (const ready of readies) {
      expect(Object.keys(ready).sort()).toEqual(["cursor", "type"]);
      decodeCursor(String(ready.cursor));
    }
    const mark = await lastPk();
    const [a] = await db.sql`INSERT INTO orders (status, total) VALUES ('a', 10) RETURNING id`;
    await db.sql`INSERT INTO orders (status, total, org) VALUES ('b', 20, 3), ('c', 30, 3)`;
    await db.sql`UPDATE orders SET status = 'a2' WHERE id = ${a?.id}`;
    await db.sql`INSERT INTO payments (status) VALUES ('p1')`;
    await db.sql`DELETE FROM orders WHERE status = 'c'`;
    await db.sql`UPDATE orders SET status = 'b2', total = 21 WHERE status = 'b'`;
    await db.sql`INSERT INTO payments (status) VALUES ('p2')`;
    const logged = await changeLog(["Order", "Payment"], mark);
    const kinds = ["INSERT", "INSERT", "INSERT", "UPDATE", "INSERT", "DELETE", "UPDATE", "INSERT"];
    expect(logged.map((c) => c.entity_type)).toEqual([
      "Order",
      "Order",
      "Order",
      "Order",
      "Payment",
      "Order",
      "Order",
      "Payment",
    ]);
    const expected = logged.map((c, i) => ({
      type: "change",
      event_id: c.event_id,
      entity_type: c.entity_type,
      entity_id: c.entity_id,
      event_type: kinds[i],
      fk_customer_org: c.org === null ? null : Number(c.org),
    }));
    const strip = (m: LiveMessage) => ({
      type: m.type,
      event_id: m.event_id,
      entity_type: m.entity_type,
      entity_id: m.entity_id,
      event_type: m.event_type,
      fk_customer_org: m.fk_customer_org,
    });

    const everything = await all.waitFor(8, isChange);
    expect(everything.map(strip)).toEqual(expected);
    for (const message of everything) {
      // Meta mode: no images.
      expect(Object.keys(message).sort()).toEqual(META_KEYS);
      expect(Number.isNaN(Date.parse(String(message.created_at)))).toBe(false);
    }
    expectCursorsNeverBack(all.messages);
    await Promise.all([full, updates, payments, deletes].map(barrier));

    const orders = expected.filter((m) => m.entity_type === "Order");
    expect(full.of("change").map(strip)).toEqual(orders);
    const images = full.of("change").map((m) => [m.before, m.after]);
    expect(images[0]).toEqual([null, expect.objectContaining({ status: "a", total: 10 })]);
    expect(images[1]?.[1]).toMatchObject({ status: "b", total: 20, org: 3 });
    expect(images[2]?.[1]).toMatchObject({ status: "c", total: 30, org: 3 });
    expect(images[3]).toEqual([
      expect.objectContaining({ status: "a" }),
      expect.objectContaining({ status: "a2", id: Number(a?.id) }),
    ]);
    expect(images[4]).toEqual([expect.objectContaining({ status: "c" }), null]);
    expect(images[5]).toEqual([
      expect.objectContaining({ status: "b", total: 20 }),
      expect.objectContaining({ status: "b2", total: 21 }),
    ]);
    expect(updates.of("change").map(strip)).toEqual(
      expected.filter((m) => m.entity_type === "Order" && m.event_type === "UPDATE"),
    );
    expect(payments.of("change").map(strip)).toEqual(
      expected.filter((m) => m.entity_type === "Payment"),
    );
    expect(deletes.of("change").map(strip)).toEqual(
      expected.filter((m) => m.event_type === "DELETE"),
    );
    for (const client of [all, full, updates, payments, deletes]) {
      expect(client.of("execution")).toEqual([]);
      expect(client.closeCode).toBeNull();
    }
  });

  it("sends executions with observer, delivery, status and attempt; observer_id selects one observer", async () => {
    // Invoices are written only from here on, so these observers see no older change.
    const ok = await createObserver(server, {
      name: "live-ok",
      entity_type: "Invoice",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/ok` }],
    });
    const failing = await createObserver(server, {
      name: "live-fail",
      entity_type: "Invoice",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: `${receiver.url}/fail` }],
      retry_config: { max_attempts: 2, initial_delay_ms: 50, max_delay_ms: 50 },
    });
    try {
      const all = open(server, { entity_type: "Invoice" });
      const onlyFailing = open(server, { observer_id: failing });
      const onlyOk = open(server, { observer_id: ok, payload: "full" });
      await Promise.all([all, onlyFailing, onlyOk].map((c) => c.ready()));
      const mark = await lastPk();
      await db.sql`INSERT INTO invoices (status) VALUES ('executed')`;
      const [change] = await changeLog(["Invoice"], mark);
      const eventId = change?.event_id;
      const ofEvent = (m: LiveMessage) => isExecution(m) && m.event_id === eventId;
      await all.waitFor(3, ofEvent);
      await Promise.all([onlyFailing, onlyOk].map(barrier));

      const executions = all.of("execution").filter((m) => m.event_id === eventId);
      const okRuns = executions.filter((m) => m.observer_id === ok);
      const failedRuns = executions.filter((m) => m.observer_id === failing);
      expect(okRuns).toHaveLength(1);
      expect(okRuns[0]).toMatchObject({
        observer_name: "live-ok",
        status: "success",
        attempt: 1,
        entity_type: "Invoice",
        entity_id: change?.entity_id,
        event_type: "INSERT",
        action_index: 0,
        action_type: "webhook",
        error_code: null,
      });
      expect(okRuns[0]?.delivery_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(failedRuns.map((m) => [m.status, m.attempt, m.max_attempts])).toEqual([
        ["failed", 1, 2],
        ["failed", 2, 2],
      ]);
      expect(failedRuns[0]?.delivery_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(failedRuns[1]?.delivery_id).toBe(failedRuns[0]?.delivery_id);
      expect(failedRuns[0]?.delivery_id).not.toBe(okRuns[0]?.delivery_id);
      expect(receiver.requests.map((r) => r.path).sort()).toEqual(["/fail", "/fail", "/ok"]);
      // The change came first, then its executions, in one order for everyone.
      expect(all.messages.filter((m) => m.type !== "ready")[0]).toMatchObject({
        type: "change",
        event_id: eventId,
      });
      expectCursorsNeverBack(all.messages);

      // observer_id: that observer's executions (and changes of its entity and event type).
      expect(onlyFailing.of("execution")).toEqual(failedRuns);
      expect(onlyFailing.of("change").map((m) => m.event_id)).toEqual([eventId]);
      expect(onlyOk.of("execution")).toEqual(okRuns);
      expect(onlyOk.of("change")).toHaveLength(1);
      expect(onlyOk.of("change")[0]?.after).toMatchObject({ status: "executed" });
    } finally {
      await deleteObserver(server, ok);
      await deleteObserver(server, failing);
    }
  });

  it("resumes with since: every change exactly once, in order, while changes keep coming", async () => {
    const insert = (status: string) => db.sql`INSERT INTO resumes (status) VALUES (${status})`;
    const first = open(server, { entity_type: "Resume" });
    await first.ready();
    for (let i = 0; i < 5; i++) await insert(`live-${i}`);
    await first.waitFor(5, isChange);
    await first.close();
    const last = String(first.of("change").at(-1)?.cursor);

    // Written while it is away (a witness shows the feed has passed them, so they are replayed
    // from the tables), then a writer that keeps going through the reconnect.
    const witness = open(server, { entity_type: "Resume" });
    await witness.ready();
    for (let i = 0; i < 5; i++) await insert(`offline-${i}`);
    // Enough to replay for a while (pages of 500), so live items arrive meanwhile.
    const backlog = 3_000;
    await db.sql`INSERT INTO resumes (status) SELECT 'offline' FROM generate_series(1, ${backlog})`;
    await witness.waitFor(5 + backlog, isChange);
    let writing = true;
    let written = 0;
    let writtenAtReady = -1;
    const writer = (async () => {
      while (writing) {
        await insert(`loop-${written}`);
        written++;
        await sleep(2);
      }
    })();
    while (written < 3) await sleep(5);
    const second = open(server, { entity_type: "Resume", since: last });
    void second.ready().then(() => {
      writtenAtReady = written;
    });
    await second.ready();
    // A few rows written after it is live (waited for: on a loaded machine one insert may take
    // longer than any fixed pause).
    await sleep(400);
    while (written < writtenAtReady + 3) await sleep(5);
    writing = false;
    await writer;
    expect(writtenAtReady).toBeGreaterThanOrEqual(3);
    expect(written).toBeGreaterThan(writtenAtReady);

    const log = (await changeLog(["Resume"])).map((c) => c.event_id);
    expect(log).toHaveLength(10 + backlog + written);
    await second.waitFor(log.length - 5, isChange);
    await barrier(second);
    const before = first.of("change").map((m) => m.event_id);
    const after = second.of("change").map((m) => m.event_id);
    expect(before).toEqual(log.slice(0, 5));
    expect([...before, ...after]).toEqual(log);
    expectCursorsNeverBack(first.messages);
    expectCursorsNeverBack(second.messages, decodeCursor(last));
    expect(second.closeCode).toBeNull();

    // Resume from the middle of that replay, and from the middle of the live part.
    const readyAt = second.messages.findIndex((m) => m.type === "ready");
    const replayed = second.messages.slice(0, readyAt);
    expect(replayed.slice(0, 5).map((m) => m.event_id)).toEqual(log.slice(5, 10));
    const middle = replayed[2] as LiveMessage;
    const fromReplay = open(server, { entity_type: "Resume", since: String(middle.cursor) });
    const fromLive = open(server, {
      entity_type: "Resume",
      since: String(first.of("change")[1]?.cursor),
    });
    await Promise.all([fromReplay, fromLive].map((c) => c.ready()));
    await Promise.all([fromReplay, fromLive].map(barrier));
    expect(fromReplay.of("change").map((m) => m.event_id)).toEqual(
      log.slice(log.indexOf(String(middle.event_id)) + 1),
    );
    expect(fromLive.of("change").map((m) => m.event_id)).toEqual(log.slice(2));
    expectCursorsNeverBack(fromReplay.messages, decodeCursor(String(middle.cursor)));
    expectCursorsNeverBack(fromLive.messages);
  });

  it("refuses upgrades without a valid token or with bad parameters, as problem documents", async () => {
    const refused = async (options: LiveConnectOptions) => {
      const client = open(server, options.params, options);
      const closed = await client.closed;
      expect(closed.code).toBe(1006);
      expect(client.errored).toBe(true);
      await expect(client.opened).rejects.toThrow();
      expect(client.messages).toEqual([]);
      const answer = await attemptUpgrade(server.url, options);
      expect(answer.headers["content-type"]).toContain("application/problem+json");
      return { status: answer.status, body: JSON.parse(answer.body) as Record<string, unknown> };
    };

    const none = await refused({ token: null });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    for (const auth of ["header", "query"] as const) {
      const wrong = await refused({ token: "not-a-valid-token", auth });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    }
    const bogus = await refused({ token: server.token, params: { event_type: "bogus" } });
    expect(bogus.status).toBe(400);
    expect(bogus.body.issues).toEqual([
      expect.objectContaining({ path: "event_type", message: expect.stringContaining("INSERT") }),
    ]);
    const badCursor = await refused({ token: server.token, params: { since: "1.2.3" } });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.issues).toEqual([expect.objectContaining({ path: "since" })]);
    // Digits, but beyond the key's bigint: refused here, not accepted and then closed with 1011.
    const overflow = await refused({
      token: server.token,
      params: { since: "1.0.99999999999999999999.0.0" },
    });
    expect(overflow.status).toBe(400);
    expect(overflow.body.issues).toEqual([expect.objectContaining({ path: "since" })]);

    const tenant7 = await createKey(server, 7, "read");
    const tenant8 = await createKey(server, 8, "admin");
    const theirs = await createObserver(
      server,
      {
        name: "tenant-8",
        entity_type: "Tenanted",
        actions: [{ type: "webhook", url: `${receiver.url}/ok` }],
      },
      tenant8,
    );
    try {
      const other = await refused({ token: tenant7, params: { observer_id: theirs } });
      expect(other.status).toBe(404);
      expect(other.body).toMatchObject({ status: 404, code: "NOT_FOUND" });
      // Their own tenant, and the admin, may follow it.
      const own = open(server, { observer_id: theirs }, { token: tenant8 });
      const admin = open(server, { observer_id: theirs });
      const mine = open(server, {}, { token: tenant7, auth: "query" });
      await Promise.all([own, admin, mine].map((c) => c.ready()));
    } finally {
      await deleteObserver(server, theirs);
    }
    // Not an upgrade at all: 426 for a valid token.
    const plain = await server.api("/api/observers/ws");
    expect(plain.status).toBe(426);
    expect(plain.headers.get("content-type")).toContain("application/problem+json");
  });

  it("sends a tenant-bound key only its tenant's changes and its observers' executions", async () => {
    const t7 = await createKey(server, 7, "admin");
    const t8 = await createKey(server, 8, "read");
    const hook = { type: "webhook", url: `${receiver.url}/ok` };
    // A global observer runs on every tenant's changes, but its executions are the admin's: only
    // unscoped subscribers receive them, live or replayed.
    const shared = await createObserver(server, {
      name: "tenanted",
      entity_type: "Tenanted",
      event_type: "INSERT",
      actions: [hook],
    });
    const own = await createObserver(
      server,
      { name: "tenant-7-own", entity_type: "Tenanted", event_type: "INSERT", actions: [hook] },
      t7,
    );
    try {
      const admin = open(server, { entity_type: "Tenanted" });
      const seven = open(server, {}, { token: t7 });
      const sevenFull = open(server, { payload: "full" }, { token: t7, auth: "query" });
      const sevenOwn = open(server, { observer_id: own, payload: "full" }, { token: t7 });
      const eight = open(server, { payload: "full" }, { token: t8 });
      const sockets = [admin, seven, sevenFull, sevenOwn, eight];
      const [, sevenReady] = await Promise.all(sockets.map((c) => c.ready()));
      const mark = await lastPk();
      for (const org of [7, 8, null, 7, 8]) {
        await db.sql`INSERT INTO tenanted (status, org) VALUES (${`org-${org}`}, ${org})`;
      }
      const logged = await changeLog(["Tenanted"], mark);
      expect(logged.map((c) => c.org)).toEqual(["7", "8", null, "7", "8"]);
      await admin.waitFor(5, isChange);
      // The shared observer's five, and the tenant-7 observer's two.
      await admin.waitFor(7, isExecution);
      await Promise.all(sockets.slice(1).map(barrier));

      const ids = (org: string | null) =>
        logged.filter((c) => c.org === org).map((c) => c.event_id);
      const executed = (client: LiveClient, observer: string) =>
        client
          .of("execution")
          .filter((m) => m.observer_id === observer)
          .map((m) => m.event_id)
          .sort();
      expect(admin.of("change").map((m) => m.event_id)).toEqual(logged.map((c) => c.event_id));
      expect(executed(admin, shared)).toEqual(logged.map((c) => c.event_id).sort());
      expect(executed(admin, own)).toEqual(ids("7").sort());
      expect(
        admin
          .of("execution")
          .map((m) => m.fk_customer_org)
          .sort(),
      ).toEqual([7, 7, 7, 7, 8, 8, null].sort());
      for (const client of [seven, sevenFull]) {
        expect(client.of("change").map((m) => m.event_id)).toEqual(ids("7"));
        expect(executed(client, shared)).toEqual([]);
        expect(executed(client, own)).toEqual(ids("7").sort());
        expect(client.of("execution")).toHaveLength(2);
      }
      for (const client of [sevenFull, sevenOwn]) {
        expect(client.of("change").map((m) => m.after)).toEqual([
          expect.objectContaining({ org: 7, status: "org-7" }),
          expect.objectContaining({ org: 7, status: "org-7" }),
        ]);
      }
      // observer_id: its own observer's executions only.
      expect(sevenOwn.of("change").map((m) => m.event_id)).toEqual(ids("7"));
      expect(executed(sevenOwn, own)).toEqual(ids("7").sort());
      expect(sevenOwn.of("execution")).toHaveLength(2);
      expect(eight.of("change").map((m) => m.event_id)).toEqual(ids("8"));
      expect(eight.of("change").map((m) => (m.after as { org: number }).org)).toEqual([8, 8]);
      expect(executed(eight, shared)).toEqual([]);
      expect(eight.of("execution")).toHaveLength(0);
      // Resuming from before the changes replays the same selection from the tables.
      const resumed = open(server, { since: String(sevenReady?.cursor) }, { token: t7 });
      await resumed.ready();
      expect(resumed.of("change").map((m) => m.event_id)).toEqual(ids("7"));
      expect(executed(resumed, shared)).toEqual([]);
      expect(executed(resumed, own)).toEqual(ids("7").sort());
      for (const client of [seven, sevenFull, sevenOwn]) {
        for (const message of client.messages.filter(
          (m) => m.type !== "pong" && m.type !== "ready",
        )) {
          expect(message.fk_customer_org).toBe(7);
        }
      }
      // The shared observer is not the tenant's to follow.
      const hidden = await attemptUpgrade(server.url, {
        token: t7,
        params: { observer_id: shared },
      });
      expect(hidden.status).toBe(404);
    } finally {
      await deleteObserver(server, shared);
      await deleteObserver(server, own);
    }
  });

  it("answers a ping with a pong, and anything else with an error", async () => {
    const client = open(server, {}, { auth: "query" });
    await client.ready();
    client.send({ type: "ping" });
    const [pong] = await client.waitFor(1, (m) => m.type === "pong");
    expect(pong).toEqual({ type: "pong" });
    client.socket.send("hello");
    const [error] = await client.waitFor(1, (m) => m.type === "error");
    expect(error).toEqual({ type: "error", message: 'the server only answers {"type":"ping"}' });
    expect(client.closeCode).toBeNull();
  });
});

describe("a subscriber that stops reading", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await serve({ OBSERVERS_LIVE_MAX_BUFFERED_BYTES: "65536" });
  });
  afterAll(() => server?.kill9());

  it("is closed with 1013 while the others keep receiving everything", async () => {
    const params = { entity_type: "Bulk", payload: "full" };
    const normal = open(server, params);
    await normal.ready();
    const raw = await openRawLive(server.url, server.token, params);
    try {
      const ready = await raw.waitForFrame((f) => f.opcode === 1);
      expect(JSON.parse(ready.payload.toString())).toMatchObject({ type: "ready" });
      raw.socket.pause();

      const mark = await lastPk();
      const batches = 10;
      const rows = 500;
      for (let i = 0; i < batches; i++) {
        await db.sql`INSERT INTO bulk (status, body)
          SELECT 'bulk', repeat(md5(g::text), 64) FROM generate_series(1, ${rows}) g`;
      }
      const log = (await changeLog(["Bulk"], mark)).map((c) => c.event_id);
      expect(log).toHaveLength(batches * rows);
      await normal.waitFor(log.length, isChange, 30_000);
      expect(normal.of("change").map((m) => m.event_id)).toEqual(log);
      expect(normal.of("change")[0]?.after).toMatchObject({ body: expect.any(String) });
      expect((normal.of("change")[0]?.after as { body: string } | undefined)?.body).toHaveLength(
        2048,
      );

      raw.socket.resume();
      const close = await Promise.race([
        raw.closeFrame,
        sleep(15_000).then(() => {
          throw new Error(`no close frame after ${raw.frames.length} frames`);
        }),
      ]);
      expect(close.code).toBe(1013);
      expect(close.reason).toContain("too slow");
      // What it did get is a prefix of the feed, without a gap: it can resume from its last cursor.
      const received = raw.frames
        .filter((f) => f.opcode === 1)
        .map((f) => JSON.parse(f.payload.toString()) as LiveMessage)
        .filter(isChange);
      expect(received.length).toBeLessThan(log.length);
      expect(received.map((m) => m.event_id)).toEqual(log.slice(0, received.length));
      expect(received.length).toBeGreaterThan(0);
      const resumed = open(server, { ...params, since: String(received.at(-1)?.cursor) });
      await resumed.ready(30_000);
      expect(resumed.of("change").map((m) => m.event_id)).toEqual(log.slice(received.length));

      await barrier(normal);
      expect(normal.closeCode).toBeNull();
      expect(normal.of("change")).toHaveLength(log.length);
    } finally {
      raw.socket.destroy();
    }
  });
});

describe("shutdown", () => {
  it("closes every socket with 1001", async () => {
    const server = await serve();
    try {
      const byHeader = open(server, { entity_type: "Order" });
      const byQuery = open(server, { payload: "full" }, { auth: "query" });
      const resuming = open(server, { since: "1.0.0.0.0" });
      await Promise.all([byHeader, byQuery, resuming].map((c) => c.ready()));
      expect(await server.stop()).toBe(0);
      for (const client of [byHeader, byQuery, resuming]) {
        const closed = await client.closed;
        expect(closed.code).toBe(1001);
        expect(closed.reason).toContain("shutting down");
      }
    } finally {
      await server.kill9();
    }
  });
});
