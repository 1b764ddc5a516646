import { describe, expect, it } from "vitest";
import { ChangeEventError, normalizeChangeEvent } from "../../src/index.ts";

const base = {
  id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
  pk_entity_change_log: "17",
  object_type: "Order",
  object_id: "42",
  fk_customer_org: "3",
  created_at: new Date("2026-11-27T10:00:00.123Z"),
};

function errorOf(row: unknown): ChangeEventError {
  try {
    normalizeChangeEvent(row);
  } catch (error) {
    expect(error).toBeInstanceOf(ChangeEventError);
    return error as ChangeEventError;
  }
  throw new Error("expected a ChangeEventError");
}

describe("normalizeChangeEvent", () => {
  it("reads a Debezium envelope", () => {
    const event = normalizeChangeEvent({
      ...base,
      modification_type: "UPDATE",
      object_data: {
        op: "u",
        before: { status: "pending", total: 100 },
        after: { status: "shipped", total: 100.0 },
        source: { schema: "public", table: "orders", txid: 991, ts_ms: 1 },
      },
    });
    expect(event).toEqual({
      id: base.id,
      sequence: "17",
      entity_type: "Order",
      entity_id: "42",
      event_type: "UPDATE",
      op: "u",
      before: { status: "pending", total: 100 },
      after: { status: "shipped", total: 100 },
      changes: { status: { old: "pending", new: "shipped" } },
      tenant_id: "3",
      timestamp: "2026-11-27T10:00:00.123Z",
      transaction_id: "991",
      source: { schema: "public", table: "orders", txid: 991, ts_ms: 1 },
    });
  });

  it("reads the FraiseQL producer form (after-image, separate pre-image)", () => {
    const event = normalizeChangeEvent({
      ...base,
      modification_type: "UPDATE",
      object_data: { status: "shipped", added: true },
      object_data_before: { status: "pending", removed: 1 },
      fk_customer_org: null,
      tenant_id: "c0ffee00-0000-4000-8000-000000000000",
      transaction_id: 5n,
    });
    expect(event.op).toBe("u");
    expect(event.tenant_id).toBe("c0ffee00-0000-4000-8000-000000000000");
    expect(event.transaction_id).toBe("5");
    expect(event.source).toBeNull();
    expect({ ...event.changes }).toEqual({
      status: { old: "pending", new: "shipped" },
      added: { old: null, new: true },
      removed: { old: 1, new: null },
    });
  });

  it("leaves changes null for an update without a pre-image, and for other event types", () => {
    expect(
      normalizeChangeEvent({ ...base, modification_type: "UPDATE", object_data: { a: 1 } }).changes,
    ).toBeNull();
    expect(
      normalizeChangeEvent({ ...base, modification_type: "INSERT", object_data: { a: 1 } }).changes,
    ).toBeNull();
  });

  it("takes a delete's row from its pre-image, or from object_data when that is all there is", () => {
    const fromBefore = normalizeChangeEvent({
      ...base,
      modification_type: "DELETE",
      object_data: null,
      object_data_before: { a: 1 },
    });
    expect(fromBefore).toMatchObject({
      event_type: "DELETE",
      op: "d",
      before: { a: 1 },
      after: null,
    });
    const fromData = normalizeChangeEvent({
      ...base,
      modification_type: "delete",
      object_data: { a: 2 },
    });
    expect(fromData).toMatchObject({ before: { a: 2 }, after: null });
  });

  it("maps CUSTOM, READ and NOOP to CUSTOM with op r", () => {
    for (const type of ["CUSTOM", "READ", "NOOP"]) {
      expect(
        normalizeChangeEvent({ ...base, modification_type: type, object_data: {} }),
      ).toMatchObject({ event_type: "CUSTOM", op: "r" });
    }
  });

  it("parses JSONB given as text, keeping integers beyond 2^53 exact", () => {
    const event = normalizeChangeEvent({
      ...base,
      modification_type: "INSERT",
      object_data: '{"id": 12345678901234567890, "price": 10.50, "n": 3}',
      created_at: "2026-11-27 10:00:00.5+00",
    });
    expect(event.after).toEqual({ id: 12345678901234567890n, price: 10.5, n: 3 });
    expect(event.timestamp).toBe("2026-11-27T10:00:00.500Z");
  });

  it("does not count 100 vs 100.0 as a change", () => {
    const event = normalizeChangeEvent({
      ...base,
      modification_type: "UPDATE",
      object_data: '{"total": 100.0, "nested": {"a": [1, 2.50]}}',
      object_data_before: '{"total": 100, "nested": {"a": [1.0, 2.5]}}',
    });
    expect(Object.keys(event.changes ?? { x: 1 })).toEqual([]);
  });

  it.each([
    [null, "row", "must be an object"],
    [{ ...base, id: undefined, modification_type: "INSERT" }, "id", "UUID"],
    [{ ...base, object_type: "", modification_type: "INSERT" }, "object_type", "entity type"],
    [
      { ...base, modification_type: "UPSERT" },
      "modification_type",
      "'UPSERT' is not INSERT, UPDATE, DELETE or CUSTOM",
    ],
    [{ ...base, modification_type: 4 }, "modification_type", "INSERT, UPDATE"],
    [
      { ...base, modification_type: "INSERT", object_data: "{oops" },
      "object_data",
      "not valid JSON",
    ],
    [{ ...base, modification_type: "INSERT", object_data: [1, 2] }, "object_data", "JSON object"],
    [
      { ...base, modification_type: "UPDATE", object_data: {}, object_data_before: "3" },
      "object_data_before",
      "JSON object",
    ],
    [
      { ...base, modification_type: "INSERT", object_data: { op: "u", before: null, after: {} } },
      "object_data.op",
      "disagrees with modification_type INSERT",
    ],
    [
      { ...base, modification_type: "INSERT", object_data: { op: "c", before: null, after: 5 } },
      "object_data.after",
      "JSON object",
    ],
    [
      {
        ...base,
        modification_type: "INSERT",
        object_data: { op: "c", before: null, after: {}, source: "x" },
      },
      "object_data.source",
      "JSON object",
    ],
    [
      { ...base, modification_type: "INSERT", created_at: "yesterday" },
      "created_at",
      "not a timestamp",
    ],
    [{ ...base, modification_type: "INSERT", created_at: undefined }, "created_at", "timestamp"],
    [{ ...base, modification_type: "INSERT", fk_customer_org: {} }, "fk_customer_org", ""],
  ])("refuses a malformed row: %j → %s", (row, field, message) => {
    const error = errorOf(row);
    expect(error.code).toBe("INVALID_CHANGE_EVENT");
    expect(error.field).toBe(field);
    expect(error.message).toContain(message);
  });
});
