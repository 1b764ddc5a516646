/**
 * Conditions compiled to SQL, run by the real PostgreSQL over change-log rows in both forms, with
 * the answer written down: TRUE, FALSE, or NULL where the evaluator raises an error.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conditionToSql } from "../../src/index.ts";
import {
  type ChangeLogDatabase,
  insertChangeLogRows,
  openChangeLogDatabase,
} from "../support/postgres.ts";

let db: ChangeLogDatabase;
beforeAll(async () => {
  db = await openChangeLogDatabase("sql_examples");
}, 30_000);
afterAll(async () => {
  await db?.close();
});

interface Row {
  type: "INSERT" | "UPDATE" | "DELETE";
  /** JSONB texts, so numbers keep their spelling (100.00) and size. */
  after?: string;
  before?: string;
  /** Write the Debezium envelope instead of the producer form. */
  envelope?: boolean;
}

async function sqlOutcome(condition: string, row: Row): Promise<boolean | null> {
  // $1 is the surrounding query's own parameter; the condition's come after it.
  const compiled = conditionToSql(condition, { parameterOffset: 1 });
  if (!compiled.success) throw new Error(compiled.issues[0]?.message);
  const id = randomUUID();
  const op = { INSERT: "c", UPDATE: "u", DELETE: "d" }[row.type];
  const data = row.envelope
    ? `{"op":"${op}","before":${row.before ?? "null"},"after":${row.after ?? "null"},"source":{"table":"orders"}}`
    : (row.after ?? null);
  await insertChangeLogRows(db.sql, db.table, [
    {
      id,
      pk_entity_change_log: "1",
      object_type: "Order",
      modification_type: row.type,
      object_id: "42",
      object_data: data,
      object_data_before: row.envelope ? null : (row.before ?? null),
      fk_customer_org: null,
    },
  ]);
  const rows = await db.sql.unsafe(
    `SELECT (${compiled.sql}) AS r FROM ${db.table} e WHERE e.id = $1::text::uuid`,
    [id, ...compiled.params],
  );
  expect(rows).toHaveLength(1);
  return rows[0]?.r as boolean | null;
}

const order =
  '{"total": 150, "status": "shipped", "priority": "high", "customer": {"tier": "gold"}, "tags": ["vip", "eu"], "email": "ann@example.com"}';

describe("conditionToSql on PostgreSQL: FraiseQL's examples", () => {
  it.each<[string, Row, boolean | null]>([
    ["total > 100", { type: "INSERT", after: '{"total": 150}' }, true],
    ["status == 'pending'", { type: "INSERT", after: '{"status": "Pending"}' }, false],
    ["note == ''", { type: "INSERT", after: '{"note": ""}' }, true],
    ["nonexistent == 'foo'", { type: "INSERT", after: '{"total": 100}' }, null],
    ["has_field('nonexistent')", { type: "INSERT", after: '{"total": 100}' }, false],
    [
      "(total > 100 && status == 'shipped') || priority == 'high'",
      { type: "INSERT", after: order },
      true,
    ],
    ["total == 100 && total != 100.5", { type: "INSERT", after: '{"total": 100.00}' }, true],
    ["total == '100'", { type: "INSERT", after: '{"total": 100.0}' }, false],
    ["big == 9007199254740993", { type: "INSERT", after: '{"big": 9007199254740993}' }, true],
    ["big == 9007199254740992", { type: "INSERT", after: '{"big": 9007199254740993}' }, false],
    ["total > 100", { type: "INSERT", after: '{"total": "150"}' }, null],
    [
      "field_changed_to('status', 'shipped') && total > 100",
      {
        type: "UPDATE",
        after: '{"status": "shipped", "total": 150}',
        before: '{"status": "pending", "total": 150}',
      },
      true,
    ],
    [
      "field_changed('total')",
      { type: "UPDATE", after: '{"total": 100.0}', before: '{"total": 100}' },
      false,
    ],
    ["field_changed('status')", { type: "UPDATE", after: '{"status": "x"}' }, null],
    ["field_changed('status')", { type: "INSERT", after: '{"status": "x"}' }, false],
    ["missing == 1 || total > 1", { type: "INSERT", after: '{"total": 5}' }, null],
    ["total > 1 || missing == 1", { type: "INSERT", after: '{"total": 5}' }, true],
  ])("%s on %j is %s", async (condition, row, expected) => {
    expect(await sqlOutcome(condition, row)).toBe(expected);
  });
});

describe("conditionToSql on PostgreSQL: beyond FraiseQL", () => {
  it.each<[string, Row, boolean | null]>([
    ["customer.tier in ['gold', 'platinum']", { type: "INSERT", after: order }, true],
    ["tags contains 'vip' && email contains '@example'", { type: "INSERT", after: order }, true],
    ["email matches '^[a-z]+@example\\.com$'", { type: "INSERT", after: order }, true],
    ["status == 'cancelled'", { type: "DELETE", before: '{"status": "cancelled"}' }, true],
    [
      "status == 'cancelled'",
      { type: "DELETE", before: '{"status": "cancelled"}', envelope: true },
      true,
    ],
    [
      "new.total > old.total AND field_changed_from('total', 10)",
      { type: "UPDATE", after: '{"total": 20}', before: '{"total": 10}', envelope: true },
      true,
    ],
    ["old.total == 1", { type: "INSERT", after: '{"total": 1}' }, null],
  ])("%s on %j is %s", async (condition, row, expected) => {
    expect(await sqlOutcome(condition, row)).toBe(expected);
  });
});
