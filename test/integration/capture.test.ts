/** core.fn_track_table's capture triggers on a real PostgreSQL, read back as change events. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeChangeEvent } from "../../src/events/normalize.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

/** expect.poll waits 1 s unless told: too short for a notification on a loaded machine. */
const POLL_MS = 15_000;

let db: TestDatabase;
const payloads: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase("capture");
  await db.sql.listen("fraiseql_observers", (payload) => payloads.push(payload));
});
afterAll(() => db?.drop());

/** A fresh table per test, so that each test's change-log rows are its own. */
async function table(name: string, columns: string, entity: string, options = "{}") {
  await db.sql.unsafe(`CREATE TABLE ${name} (${columns})`);
  await db.sql`SELECT core.fn_track_table(${name}::regclass, ${entity}, ${options}::text::jsonb)`;
}

/** Change-log rows of an entity type, as the runtime reads them (JSONB as text). */
function changes(entity: string) {
  return db.client.query<Record<string, unknown>>(
    `SELECT id, pk_entity_change_log, object_type, modification_type, object_id,
       object_data::text AS object_data, object_data_before::text AS object_data_before,
       fk_customer_org, tenant_id, created_at, transaction_id::text AS transaction_id
     FROM core.tb_entity_change_log WHERE object_type = $1 ORDER BY pk_entity_change_log`,
    [entity],
  );
}

async function notified(marker: string): Promise<void> {
  await db.sql`SELECT pg_notify('fraiseql_observers', ${marker})`;
  await expect.poll(() => payloads.includes(marker), { interval: 10, timeout: POLL_MS }).toBe(true);
}

/** The notifications `fn` causes: everything between two markers (delivered in commit order). */
async function notificationsDuring(label: string, fn: () => Promise<unknown>) {
  await notified(`${label}:start`);
  await fn();
  await notified(`${label}:end`);
  return payloads.slice(payloads.indexOf(`${label}:start`) + 1, payloads.indexOf(`${label}:end`));
}

describe("core.fn_track_table", () => {
  it("records INSERT, UPDATE and DELETE as Debezium envelopes the reader understands", async () => {
    await table(
      "orders",
      "id bigint PRIMARY KEY, org int, status text, total numeric(10,2)",
      "Order",
      '{"tenant_column": "org"}',
    );
    const notes = await notificationsDuring("crud", async () => {
      await db.sql`INSERT INTO orders VALUES (1, 7, 'new', 100.00)`;
      await db.sql`UPDATE orders SET status = 'shipped' WHERE id = 1`;
      await db.sql`DELETE FROM orders WHERE id = 1`;
    });
    expect(notes).toEqual(["", "", ""]);

    const rows = await changes("Order");
    expect(rows.map((r) => [r.modification_type, r.object_id, r.fk_customer_org])).toEqual([
      ["INSERT", "1", "7"],
      ["UPDATE", "1", "7"],
      ["DELETE", "1", "7"],
    ]);
    const envelopes = rows.map((r) => JSON.parse(String(r.object_data)));
    const image = { id: 1, org: 7, status: "new", total: 100.0 };
    const shipped = { ...image, status: "shipped" };
    expect(envelopes).toMatchObject([
      { op: "c", before: null, after: image },
      { op: "u", before: image, after: shipped },
      { op: "d", before: shipped, after: null },
    ]);
    for (const [i, envelope] of envelopes.entries()) {
      expect(envelope.source).toMatchObject({
        schema: "public",
        table: "orders",
        txid: rows[i]?.transaction_id,
      });
      expect(envelope.source.ts_ms).toEqual(expect.any(Number));
    }
    // numeric(10,2) keeps its scale in the stored JSON text.
    expect(String(rows[0]?.object_data)).toContain('"total": 100.00');

    const events = rows.map((row) => normalizeChangeEvent(row));
    expect(
      events.map((e) => [e.event_type, e.op, e.entity_type, e.entity_id, e.tenant_id]),
    ).toEqual([
      ["INSERT", "c", "Order", "1", "7"],
      ["UPDATE", "u", "Order", "1", "7"],
      ["DELETE", "d", "Order", "1", "7"],
    ]);
    expect(events[1]?.changes).toEqual({ status: { old: "new", new: "shipped" } });
    expect(events[1]?.transaction_id).toBe(rows[1]?.transaction_id);
    expect(events[2]?.before).toMatchObject({ status: "shipped" });
  });

  it("captures a 10 000-row INSERT as 10 000 rows and one notification", async () => {
    await table("bulk", "id int PRIMARY KEY, twice int", "Bulk");
    const notes = await notificationsDuring(
      "bulk",
      () => db.sql`INSERT INTO bulk SELECT g, g * 2 FROM generate_series(1, 10000) g`,
    );
    expect(notes).toEqual([""]);
    const [counts] = await db.sql`
      SELECT count(*)::int AS rows, count(DISTINCT transaction_id)::int AS transactions,
        count(DISTINCT object_id)::int AS ids
      FROM core.tb_entity_change_log WHERE object_type = 'Bulk'`;
    expect(counts).toEqual({ rows: 10_000, transactions: 1, ids: 10_000 });
  });

  it("captures without notifying when tracked with notify: false", async () => {
    await table("silent", "id int PRIMARY KEY", "Silent", '{"notify": false}');
    const notes = await notificationsDuring(
      "silent",
      () => db.sql`INSERT INTO silent VALUES (1), (2)`,
    );
    expect(notes).toEqual([]);
    expect(await changes("Silent")).toHaveLength(2);
  });

  it("fills fk_customer_org from an integer tenant column and tenant_id from a uuid one", async () => {
    await table(
      "accounts",
      "id int PRIMARY KEY, org bigint",
      "Account",
      '{"tenant_column": "org"}',
    );
    await table("notes", "id int PRIMARY KEY, tenant uuid", "Note", '{"tenant_column": "tenant"}');
    const tenant = "0b6a3f5e-8a55-4d47-9a4c-2f1f5c3c9e01";
    await db.sql`INSERT INTO accounts VALUES (1, 9007199254740993)`;
    await db.sql`INSERT INTO notes VALUES (1, ${tenant})`;
    const [account] = await changes("Account");
    const [note] = await changes("Note");
    expect(account).toMatchObject({ fk_customer_org: "9007199254740993", tenant_id: null });
    expect(note).toMatchObject({ fk_customer_org: null, tenant_id: tenant });
    expect(normalizeChangeEvent(account).tenant_id).toBe("9007199254740993");
    expect(normalizeChangeEvent(note).tenant_id).toBe(tenant);
  });

  it("restricts the image to the chosen columns", async () => {
    await table(
      "people",
      "id int PRIMARY KEY, name text, secret text",
      "Person",
      '{"columns": ["id", "name"]}',
    );
    await db.sql`INSERT INTO people VALUES (1, 'Ada', 'hunter2')`;
    await db.sql`UPDATE people SET name = 'Ada L.', secret = 'x'`;
    const rows = await changes("Person");
    expect(rows.map((r) => JSON.parse(String(r.object_data)))).toMatchObject([
      { op: "c", before: null, after: { id: 1, name: "Ada" } },
      { op: "u", before: { id: 1, name: "Ada" }, after: { id: 1, name: "Ada L." } },
    ]);
    expect(rows.map((r) => String(r.object_data)).join()).not.toContain("secret");
  });

  it("captures whole rows of a table whose columns are named like the trigger's aliases", async () => {
    // The trigger aliases the transition tables `n` and `o`; a column of that name must not
    // shadow the row.
    await table("aliases", "id int PRIMARY KEY, n int, o text", "Alias");
    await db.sql`INSERT INTO aliases VALUES (1, 2, 'three')`;
    await db.sql`UPDATE aliases SET n = 5`;
    await db.sql`DELETE FROM aliases`;
    const rows = await changes("Alias");
    expect(rows.map((r) => JSON.parse(String(r.object_data)))).toMatchObject([
      { op: "c", before: null, after: { id: 1, n: 2, o: "three" } },
      { op: "u", before: { id: 1, n: 2, o: "three" }, after: { id: 1, n: 5, o: "three" } },
      { op: "d", before: { id: 1, n: 5, o: "three" }, after: null },
    ]);
  });

  it("records updates without a pre-image when pre_image is false", async () => {
    await table("counters", "id int PRIMARY KEY, hits int", "Counter", '{"pre_image": false}');
    await db.sql`INSERT INTO counters VALUES (1, 1)`;
    await db.sql`UPDATE counters SET hits = 2`;
    await db.sql`DELETE FROM counters`;
    const events = (await changes("Counter")).map((row) => normalizeChangeEvent(row));
    expect(events[1]).toMatchObject({
      event_type: "UPDATE",
      before: null,
      after: { id: 1, hits: 2 },
      changes: null,
    });
    // A delete still says what was deleted.
    expect(events[2]).toMatchObject({
      event_type: "DELETE",
      before: { id: 1, hits: 2 },
      after: null,
    });
  });

  it("refuses unknown options, missing columns and a text tenant column, naming them", async () => {
    await db.sql`CREATE TABLE refused (id int PRIMARY KEY, label text)`;
    const track = (options: string) =>
      db.sql`SELECT core.fn_track_table('refused', 'Refused', ${options}::text::jsonb)`;
    await expect(track('{"colour": "red"}')).rejects.toThrow(/unknown option "colour"/);
    await expect(track('{"columns": ["id", "nope"]}')).rejects.toThrow(/has no column "nope"/);
    await expect(track('{"tenant_column": "missing"}')).rejects.toThrow(
      /tenant_column "missing" is not a column/,
    );
    await expect(track('{"tenant_column": "label"}')).rejects.toThrow(
      /tenant_column "label" is text, expected an integer or uuid column/,
    );
    const [triggers] =
      await db.sql`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'refused'::regclass`;
    expect(triggers?.n).toBe(0);
  });

  it("stops capturing after fn_untrack_table", async () => {
    await table("gone", "id int PRIMARY KEY", "Gone");
    await db.sql`INSERT INTO gone VALUES (1)`;
    await db.sql`SELECT core.fn_untrack_table('gone')`;
    await db.sql`INSERT INTO gone VALUES (2)`;
    expect((await changes("Gone")).map((r) => r.object_id)).toEqual(["1"]);
    const functions = await db.sql`SELECT 1 FROM pg_proc
      WHERE proname = core.fn_capture_function_name('gone') AND pronamespace = 'core'::regnamespace`;
    expect(functions).toHaveLength(0);
  });

  it("writes nothing for a rolled-back transaction or one marked cdc_mediated", async () => {
    await table("quiet", "id int PRIMARY KEY", "Quiet");
    await expect(
      db.sql.begin(async (tx) => {
        await tx`INSERT INTO quiet VALUES (1)`;
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL fraiseql.cdc_mediated = 'on'`;
      await tx`INSERT INTO quiet VALUES (2)`;
    });
    await db.sql`INSERT INTO quiet VALUES (3)`;
    expect((await changes("Quiet")).map((r) => r.object_id)).toEqual(["3"]);
  });
});
