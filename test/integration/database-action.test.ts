/** The database action against a real PostgreSQL (TEST_DATABASE_URL): it never skips. */
import { randomUUID } from "node:crypto";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseAction, databaseConfigSchema } from "../../src/actions/database.ts";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import { actionFailure, runAction, testEnvironment, testObserver } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { connectTestDatabase, quoteIdent, type Sql } from "../support/postgres.ts";

let sql: Sql;
const schema = `test_dbaction_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
const q = quoteIdent(schema);

/** The SQL port the runtime gives actions: the postgres.js driver's, over the same connection. */
function executor(db: Sql): SqlExecutor {
  return {
    query: async <Row extends object>(text: string, params: readonly unknown[] = []) =>
      (await db.unsafe(text, params as never[])) as unknown as Row[],
  };
}

beforeAll(async () => {
  sql = await connectTestDatabase();
  await sql.unsafe(`
    CREATE SCHEMA ${q};
    CREATE TABLE ${q}.received (name text NOT NULL, envelope jsonb NOT NULL);
    CREATE FUNCTION ${q}.record_event(payload jsonb) RETURNS void LANGUAGE sql
      AS $$ INSERT INTO ${q}.received VALUES ('record_event', payload) $$;
    CREATE FUNCTION ${q}."order"(payload jsonb) RETURNS int LANGUAGE sql
      AS $$ INSERT INTO ${q}.received VALUES ('order', payload) RETURNING 1 $$;
    CREATE FUNCTION ${q}.fail_with(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'asked to fail' USING ERRCODE = payload->'params'->>'sqlstate'; END $$;
  `);
});

afterAll(async () => {
  if (!sql) return;
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${q} CASCADE`);
  } finally {
    await sql.end({ timeout: 5 });
  }
});

function call(functionName: string, params?: unknown, event = insert({ id: 7 })) {
  const config = {
    type: "database",
    function_name: functionName,
    ...(params === undefined ? {} : { params }),
  };
  const environment = testEnvironment({ sql: executor(sql) });
  return runAction(databaseAction, config, event, { environment, deliveryId: "dlv-1" });
}

async function received(name: string) {
  return sql.unsafe(`SELECT envelope FROM ${q}.received WHERE name = $1`, [name]);
}

describe("database action", () => {
  it("calls the function with the event envelope, exact numbers included", async () => {
    const event = insert({ id: 7, total: 9007199254740993n, note: 'it\'s "quoted"' });
    const result = await call(`${schema}.record_event`, { source: "test", n: [1, 2] }, event);
    expect(result.message).toBe(`called ${schema}.record_event`);
    const rows = await received("record_event");
    expect(rows).toHaveLength(1);
    const envelope = rows[0]?.envelope;
    expect(envelope).toMatchObject({
      params: { source: "test", n: [1, 2] },
      observer: { id: testObserver.id, name: testObserver.name },
      delivery_id: "dlv-1",
      event: { id: event.id, entity_type: "Order", entity_id: "42", event_type: "INSERT", op: "c" },
    });
    const [exact] = await sql.unsafe(
      `SELECT envelope->'event'->'after'->>'total' AS total, envelope->'event'->'after'->>'note' AS note
         FROM ${q}.received WHERE name = 'record_event'`,
    );
    expect(exact).toEqual({ total: "9007199254740993", note: 'it\'s "quoted"' });
  });

  it("sends null params when none are configured", async () => {
    await call(`${schema}.order`);
    const rows = await received("order");
    expect(rows[0]?.envelope.params).toBeNull();
  });

  it("quotes the name (a keyword works) and folds case as unquoted SQL would", async () => {
    const before = (await received("order")).length;
    await call(`${schema.toUpperCase()}.ORDER`);
    expect(await received("order")).toHaveLength(before + 1);
  });

  it("a missing function or schema fails permanently", async () => {
    const missing = await actionFailure(call(`${schema}.no_such_function`));
    expect(missing.kind).toBe("permanent");
    expect(missing.code).toBe("SQL_ERROR");
    expect(missing.message).toMatch(/42883/);
    const noSchema = await actionFailure(call("no_such_schema_x.record_event"));
    expect(noSchema.kind).toBe("permanent");
    expect(noSchema.message).toMatch(/3F000/);
  });

  it.each([
    ["23505", "permanent"],
    ["22P02", "permanent"],
    ["40001", "transient"],
    ["40P01", "transient"],
    ["57014", "transient"],
    ["P0001", "transient"],
  ])("SQLSTATE %s is %s", async (sqlstate, kind) => {
    const error = await actionFailure(call(`${schema}.fail_with`, { sqlstate }));
    expect(error.kind).toBe(kind);
    expect(error.message).toContain(sqlstate);
  });

  it("a runtime without SQL fails permanently with UNSUPPORTED_ON_RUNTIME", async () => {
    const error = await actionFailure(
      runAction(databaseAction, { type: "database", function_name: "f" }, insert({ id: 1 })),
    );
    expect(error.kind).toBe("permanent");
    expect(error.code).toBe("UNSUPPORTED_ON_RUNTIME");
  });

  it("an aborted signal stops the wait and hands back its reason", async () => {
    const controller = new AbortController();
    const never: SqlExecutor = { query: () => new Promise(() => {}) };
    const environment = testEnvironment({ sql: never });
    const pending = runAction(
      databaseAction,
      { type: "database", function_name: "f" },
      insert({}),
      {
        environment,
        signal: controller.signal,
      },
    );
    const reason = new Error("timed out");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it("refuses names that are not identifiers", () => {
    for (const name of ["x; DROP TABLE t", "a.b.c", "1fn", "fn()", "", 'a"b']) {
      expect(
        v.safeParse(databaseConfigSchema, { type: "database", function_name: name }).success,
      ).toBe(false);
    }
  });
});
