/**
 * The core benchmark's inputs: an order row before and after an UPDATE, the change-log row carrying
 * it (JSONB as objects and as text), the normalized event, and the conditions evaluated on it.
 */
import { type ChangeEvent, type JsonObject, normalizeChangeEvent } from "../../src/index.ts";

export const CUSTOMER_ID = 4711;

/** An order row as an application writes it: 16 columns, nested objects, an array of items. */
function orderImage(status: string, updatedAt: string, tracking: string | null): JsonObject {
  return {
    id: 1_048_576,
    order_number: "ORD-2026-004711",
    customer_id: CUSTOMER_ID,
    status,
    total: 249.9,
    subtotal: 229.9,
    tax: 20,
    currency: "EUR",
    customer: {
      id: CUSTOMER_ID,
      name: "Ada Lovelace",
      email: "ada.lovelace@example.com",
      tier: "gold",
      since: "2019-03-14",
    },
    items: [
      { sku: "SKU-1001", quantity: 2, unit_price: 59.95 },
      { sku: "SKU-2002", quantity: 1, unit_price: 110 },
    ],
    shipping_address: {
      line1: "12 Analytical Street",
      city: "London",
      postcode: "N1 9GU",
      country: "GB",
    },
    tags: ["priority", "gift"],
    is_paid: true,
    tracking_number: tracking,
    created_at: "2026-11-20T09:15:00Z",
    updated_at: updatedAt,
  };
}

export const AFTER = orderImage("shipped", "2026-11-27T04:49:40Z", "1Z999AA10123456784");
const BEFORE = orderImage("pending", "2026-11-20T09:15:00Z", null);

/** A `core.tb_entity_change_log` row as postgres.js returns it (JSONB parsed, timestamptz a Date). */
export const ROW_OBJECTS = {
  id: "0193a5c2-7e4b-7c1d-9f3e-2b8a6d4c1e07",
  pk_entity_change_log: 987_654,
  object_type: "Order",
  modification_type: "UPDATE",
  object_id: 1_048_576,
  object_data: AFTER,
  object_data_before: BEFORE,
  fk_customer_org: 1,
  tenant_id: null,
  created_at: new Date("2026-11-27T04:49:40.123Z"),
  transaction_id: 88_123,
};

/** The same row from a driver that returns JSONB as text. */
export const ROW_TEXT = {
  ...ROW_OBJECTS,
  object_data: JSON.stringify(AFTER),
  object_data_before: JSON.stringify(BEFORE),
};

export const EVENT: ChangeEvent = normalizeChangeEvent(ROW_OBJECTS);

/** Representative conditions, with what each evaluates to on EVENT. */
export const CONDITIONS: readonly { source: string; expected: boolean }[] = [
  { source: "total > 100", expected: true },
  { source: "status == 'pending'", expected: false },
  { source: "field_changed_to('status', 'shipped') && total > 100", expected: true },
  {
    source: "customer.tier in ['gold', 'platinum'] && (total >= 1000 || has_field('vip'))",
    expected: false,
  },
  { source: "customer.email matches '^[a-z0-9._%+-]+@example\\.com$'", expected: true },
];
