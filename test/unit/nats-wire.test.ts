/** NATS mode's wire format, subject encoding and settings (no broker needed). */
import { describe, expect, it } from "vitest";
import { workersConfig } from "../../adapters/hosts/workers/config.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";
import { normalizeChangeEvent } from "../../src/events/normalize.ts";
import type { IncomingMessage } from "../../src/ports/transport.ts";
import type { ChangeRow } from "../../src/store/change-log.ts";
import { decodeSubjectToken, encodeSubjectToken } from "../../src/transport/subject.ts";
import {
  CHANGE_LOG_ID_HEADER,
  decodeChange,
  encodeChange,
  UndecodableMessage,
} from "../../src/transport/wire.ts";

const PREFIX = "fraiseql.mutation";

function row(overrides: Partial<ChangeRow> = {}): ChangeRow {
  return {
    pk_entity_change_log: "42",
    id: "0b9a9c1e-5a7e-4f43-9a53-2c2f7f0f6a11",
    object_type: "Order",
    modification_type: "INSERT",
    object_id: "7",
    object_data: '{"id":7,"status":"new","total":12.5}',
    object_data_before: null,
    fk_customer_org: "3",
    tenant_id: null,
    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    transaction_id: "1234",
    created_at: new Date("2026-12-06T10:00:00.123Z"),
    ...overrides,
  };
}

/** A consumed message carrying what `encodeChange` published. */
function asMessage(
  change: ReturnType<typeof encodeChange>,
  overrides: Partial<{ subject: string; headers: Record<string, string>; payload: string }> = {},
): IncomingMessage {
  const headers = overrides.headers ?? { ...change.headers, "Nats-Msg-Id": change.messageId };
  return {
    subject: overrides.subject ?? change.subject,
    payload: new TextEncoder().encode(overrides.payload ?? change.payload),
    header: (name) => headers[name],
    headers: () => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    sequence: 1,
    redelivered: false,
    ack() {},
    nak() {},
    term() {},
    working() {},
  };
}

const roundTrip = (r: ChangeRow) =>
  normalizeChangeEvent(decodeChange(asMessage(encodeChange(r, PREFIX)), PREFIX));

describe("subject tokens", () => {
  it.each([
    ["Order", "Order"],
    ["order_line-2", "order_line-2"],
    ["sales.Order", "sales%2EOrder"],
    ["a b*>", "a%20b%2A%3E"],
    ["100%", "100%25"],
    ["Commande€", "Commande%E2%82%AC"],
    ["", "%"],
  ])("%j is sent as %j and read back", (name, token) => {
    expect(encodeSubjectToken(name)).toBe(token);
    expect(decodeSubjectToken(token)).toBe(name);
  });

  it("refuses tokens no entity type encodes to", () => {
    expect(decodeSubjectToken("a.b")).toBeUndefined();
    expect(decodeSubjectToken("%zz")).toBeUndefined();
    expect(decodeSubjectToken("%FF")).toBeUndefined();
  });
});

describe("the wire format", () => {
  it("publishes FraiseQL's EntityEvent with the Debezium images and the change's ids", () => {
    const change = encodeChange(row(), PREFIX);
    expect(change.subject).toBe("fraiseql.mutation.Order.INSERT");
    expect(change.messageId).toBe(row().id);
    expect(change.headers).toEqual({ [CHANGE_LOG_ID_HEADER]: "42", "Fraiseql-Customer-Org": "3" });
    expect(JSON.parse(change.payload)).toEqual({
      id: row().id,
      event_type: "INSERT",
      entity_type: "Order",
      entity_id: "7",
      data: { id: 7, status: "new", total: 12.5 },
      changes: null,
      user_id: null,
      tenant_id: null,
      timestamp: "2026-12-06T10:00:00.123Z",
      duration_ms: null,
      seq: 42,
      actor_type: null,
      acting_for: null,
      schema_version: null,
      cdc_source: null,
      op: "c",
      before: null,
      after: { id: 7, status: "new", total: 12.5 },
      source: null,
      transaction_id: "1234",
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
  });

  it.each([
    ["an insert", row()],
    [
      "an update with a pre-image",
      row({
        modification_type: "UPDATE",
        object_data: '{"id":7,"status":"paid","n":123456789012345678901}',
        object_data_before: '{"id":7,"status":"new","n":1}',
      }),
    ],
    [
      "a delete",
      row({
        modification_type: "DELETE",
        object_data: null,
        object_data_before: '{"id":7,"status":"paid"}',
      }),
    ],
    [
      "a Debezium envelope",
      row({
        modification_type: "UPDATE",
        object_data: '{"op":"u","before":{"a":1},"after":{"a":2},"source":{"txid":9}}',
      }),
    ],
    ["a custom event of a dotted type", row({ modification_type: "NOOP", object_type: "x.Y" })],
    [
      "no tenant",
      row({ fk_customer_org: null, tenant_id: "9f0c3e8e-0000-4000-8000-000000000001" }),
    ],
  ])("a worker reads %s as the PostgreSQL path would", (_label, r) => {
    expect(roundTrip(r)).toEqual(normalizeChangeEvent(r));
  });

  it("carries a row the bridge cannot read, raw, so the worker logs it the same way", () => {
    const bad = row({ object_data: "[1,2]" });
    expect(() => normalizeChangeEvent(bad)).toThrow(/must be a JSON object/);
    const decoded = decodeChange(asMessage(encodeChange(bad, PREFIX)), PREFIX);
    expect(decoded.object_data).toBe("[1,2]");
    expect(() => normalizeChangeEvent(decoded)).toThrow(/must be a JSON object/);
  });

  it("sends a change too large for the broker without its images, for workers to read", () => {
    const big = row({ object_data: JSON.stringify({ id: 7, note: "x".repeat(5_000) }) });
    expect(JSON.parse(encodeChange(big, PREFIX, 1_000_000).payload).truncated).toBeUndefined();
    const change = encodeChange(big, PREFIX, 4_096);
    expect(new TextEncoder().encode(change.payload).length).toBeLessThan(4_096 - 1_024);
    expect(JSON.parse(change.payload)).toMatchObject({
      id: big.id,
      event_type: "INSERT",
      data: null,
      after: null,
      truncated: true,
    });
    const decoded = decodeChange(asMessage(change), PREFIX);
    expect(decoded).toMatchObject({ truncated: true, pk_entity_change_log: "42", id: big.id });
  });

  it("refuses what it cannot turn into a change, saying why", () => {
    const change = encodeChange(row(), PREFIX);
    const refused = (overrides: Parameters<typeof asMessage>[1]) => {
      try {
        decodeChange(asMessage(change, overrides), PREFIX);
      } catch (error) {
        expect(error).toBeInstanceOf(UndecodableMessage);
        return (error as Error).message;
      }
      throw new Error("decoded");
    };
    expect(refused({ payload: "{not json" })).toMatch(/not UTF-8 JSON/);
    expect(refused({ payload: "[1]" })).toMatch(/not a JSON object/);
    expect(refused({ headers: {} })).toMatch(/Fraiseql-Change-Log-Id/);
    expect(refused({ subject: "fraiseql.mutation.Invoice.INSERT" })).toMatch(/subject/);
    expect(refused({ subject: "other.Order.INSERT" })).toMatch(/subject/);
    expect(refused({ payload: change.payload.replace('"INSERT"', '"UPSERT"') })).toMatch(
      /event_type/,
    );
  });
});

describe("NATS settings", () => {
  const issues = (env: Record<string, string>) => {
    try {
      parseServerConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    return [];
  };

  it("defaults to the PostgreSQL transport and FraiseQL's names", () => {
    const config = parseServerConfig({});
    expect(config.transport).toBe("postgres");
    expect(config.role).toBe("all");
    expect(config.nats).toEqual({
      stream: "fraiseql_events",
      subjectPrefix: "fraiseql.mutation",
      consumer: "fraiseql_observer_worker",
      ackWaitMs: 30_000,
      bridgeLeaseMs: 10_000,
    });
  });

  it("requires NATS_URL in NATS mode, naming it", () => {
    expect(issues({ OBSERVERS_TRANSPORT: "nats" })).toEqual([
      {
        path: "NATS_URL",
        message: expect.stringMatching(/required with OBSERVERS_TRANSPORT=nats/),
      },
    ]);
    const config = parseServerConfig({
      OBSERVERS_TRANSPORT: "NATS",
      NATS_URL: "nats://u:p@nats:4222",
      OBSERVERS_ROLE: "worker",
    });
    expect([config.transport, config.role]).toEqual(["nats", "worker"]);
  });

  it("refuses names NATS would refuse, and never echoes NATS_URL", () => {
    const found = issues({
      OBSERVERS_TRANSPORT: "kafka",
      OBSERVERS_ROLE: "leader",
      OBSERVERS_NATS_STREAM: "events.main",
      OBSERVERS_NATS_SUBJECT_PREFIX: "fraiseql.>",
      OBSERVERS_NATS_CONSUMER: "a b",
      NATS_URL: "http://user:s3cret@nats:4222",
    });
    expect(found.map((issue) => issue.path).sort()).toEqual([
      "NATS_URL",
      "OBSERVERS_NATS_CONSUMER",
      "OBSERVERS_NATS_STREAM",
      "OBSERVERS_NATS_SUBJECT_PREFIX",
      "OBSERVERS_ROLE",
      "OBSERVERS_TRANSPORT",
    ]);
    expect(JSON.stringify(found)).not.toContain("s3cret");
  });

  it("refuses a role without NATS mode", () => {
    expect(issues({ OBSERVERS_ROLE: "bridge" })).toEqual([
      { path: "OBSERVERS_ROLE", message: expect.stringMatching(/OBSERVERS_TRANSPORT=nats/) },
    ]);
  });

  it("keeps the Worker on the PostgreSQL transport", () => {
    expect(() =>
      workersConfig({ OBSERVERS_TRANSPORT: "nats", NATS_URL: "nats://nats:4222" }),
    ).toThrow(ConfigError);
    try {
      workersConfig({ OBSERVERS_TRANSPORT: "nats", NATS_URL: "nats://nats:4222" });
    } catch (error) {
      expect((error as ConfigError).issues).toContainEqual({
        path: "OBSERVERS_TRANSPORT",
        message: expect.stringMatching(/not available on Cloudflare Workers/),
      });
    }
  });
});
