/**
 * Inspection over HTTP: `POST /api/observers/{id}/test` (a given or stored event, draft
 * conditions, the explain tree, and `send` really delivering to a local receiver),
 * `POST /api/observers/{id}/backtest` over a seeded change log (exact counts and samples, SQL and
 * evaluated), and `GET /api/observers/events/{event_id}/explain`, each scoped by tenant.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient, problem } from "../support/api-client.ts";
import {
  BACKTEST_RANGE,
  EVALUATED,
  expectedBacktest,
  insertBacktestChanges,
  insertChange,
  insertOutcome,
  PORTABLE,
} from "../support/changes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-inspect-tests";
const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
/** The same API without an action environment: it cannot send. */
let callWithoutEnvironment: ReturnType<typeof apiClient>;
const tokens = { t7: "", t8: "" };
const ids = { shipped: "", t7: "", t8: "", user: "", disabled: "", bt: "", bt7: "" };
const CONDITION = "field_changed_to('status', 'shipped') && total > 100";

beforeAll(async () => {
  db = await createTestDatabase("api_inspect");
  const options = {
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    // The corpus is dated 2026-01-01: room for a backtest running until now.
    limits: { backtestMaxRangeDays: 3650 },
  };
  // The receiver is on 127.0.0.1: testEnvironment allows private targets.
  const app = createObserversApi({ ...options, environment: testEnvironment() });
  call = apiClient(app, ADMIN);
  callWithoutEnvironment = apiClient(createObserversApi(options), ADMIN);
  tokens.t7 = (
    await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" })
  ).token;
  tokens.t8 = (
    await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" })
  ).token;
  const hook = [webhook(`${receiver.url}/hook`)];
  const seeds = {
    shipped: { event_type: "UPDATE", condition_expression: CONDITION },
    t7: { fk_customer_org: 7, condition_expression: "total == 50" },
    t8: { fk_customer_org: 8 },
    user: { entity_type: "User" },
    disabled: { enabled: false },
    bt: { condition_expression: PORTABLE },
    bt7: { condition_expression: PORTABLE, fk_customer_org: 7 },
  };
  for (const [name, seed] of Object.entries(seeds)) {
    ids[name as keyof typeof ids] = await insertObserver(db.sql, {
      name: `inspect-${name}`,
      actions: hook,
      ...seed,
    });
  }
});
afterAll(() => db?.drop());

interface Step {
  kind: string;
  text: string;
  position: number;
  length: number;
  outcome: string;
  values?: { text: string; value?: unknown; missing?: true }[];
  children?: Step[];
}
interface TestResult {
  fired: boolean;
  reason: string;
  detail: string;
  condition?: { success: boolean; result?: boolean | null; root?: Step; issues?: unknown[] };
  event: { event_id: string; entity_type: string; entity_id: string | null; event_type: string };
  sent: Record<string, unknown>[] | null;
}

async function runTest(id: string, body: unknown, token = ADMIN): Promise<TestResult> {
  const response = await call("POST", `/api/observers/${id}/test`, body, { token });
  expect(response.status).toBe(200);
  return (await response.json()) as TestResult;
}

const shippedEvent = (total: number, extra: Record<string, unknown> = {}) => ({
  object_type: "Order",
  modification_type: "UPDATE",
  object_id: 42,
  object_data: { status: "shipped", total },
  object_data_before: { status: "new", total },
  ...extra,
});

async function logRows(): Promise<number> {
  const [row] = await db.sql`SELECT
    (SELECT count(*) FROM core.tb_observer_log)::int
      + (SELECT count(*) FROM core.tb_observer_delivery)::int
      + (SELECT count(*) FROM core.tb_observer_dlq)::int AS n`;
  return row?.n as number;
}

/** Lets anything sent by mistake arrive before asserting that nothing did. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe("POST /api/observers/{id}/test", () => {
  it("fires for a given event and explains every sub-expression, sending nothing", async () => {
    const result = await runTest(ids.shipped, { event: shippedEvent(150) });
    expect(result).toMatchObject({
      fired: true,
      reason: "fired",
      detail: "every criterion matches and the condition is true",
      event: {
        event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        entity_type: "Order",
        entity_id: "42",
        event_type: "UPDATE",
      },
      sent: null,
    });
    expect(result.condition).toMatchObject({ success: true, result: true });
    const root = result.condition?.root as Step;
    expect(root).toMatchObject({
      kind: "and",
      text: CONDITION,
      position: 0,
      length: CONDITION.length,
      outcome: "true",
    });
    expect(root.children?.map((c) => [c.kind, c.text, c.outcome])).toEqual([
      ["call", "field_changed_to('status', 'shipped')", "true"],
      ["compare", "total > 100", "true"],
    ]);
    expect(root.children?.[1]?.position).toBe(CONDITION.indexOf("total > 100"));
    expect(root.children?.[1]?.values).toEqual(
      expect.arrayContaining([expect.objectContaining({ text: "total", value: 150 })]),
    );
    await settle();
    expect(receiver.requests).toHaveLength(0);
  });

  it("says why it does not fire: a false condition, the event type, the entity type, the tenant", async () => {
    const falsy = await runTest(ids.shipped, { event: shippedEvent(50) });
    expect(falsy).toMatchObject({
      fired: false,
      reason: "condition_false",
      detail: "the condition is false for this change",
      condition: { success: true, result: false },
      sent: null,
    });
    const children = falsy.condition?.root?.children ?? [];
    expect(children.map((c) => c.outcome)).toEqual(["true", "false"]);
    expect(children[1]?.values).toEqual(
      expect.arrayContaining([expect.objectContaining({ text: "total", value: 50 })]),
    );

    const insert = await runTest(ids.shipped, {
      event: { object_type: "Order", modification_type: "INSERT", object_data: { total: 500 } },
    });
    expect(insert).toMatchObject({
      fired: false,
      reason: "event_type",
      detail: 'event_type is "UPDATE" but the change is an INSERT',
      event: { event_type: "INSERT", entity_id: null },
    });
    expect(insert.condition).toBeUndefined();

    const user = await runTest(ids.user, {
      event: { object_type: "Order", modification_type: "INSERT", object_data: {} },
    });
    expect(user).toMatchObject({ fired: false, reason: "entity_type" });

    const tenant = await runTest(ids.t8, { event: shippedEvent(50, { fk_customer_org: 7 }) });
    expect(tenant).toMatchObject({
      fired: false,
      reason: "tenant",
      detail: "the observer belongs to tenant 8 but the change is tenant 7's",
    });

    // A missing field is an evaluation error, located in the condition.
    const missing = await runTest(ids.bt, {
      event: { object_type: "Order", modification_type: "INSERT", object_data: { other: 1 } },
    });
    expect(missing).toMatchObject({
      fired: false,
      reason: "condition_error",
      condition: { success: true, result: null },
    });
    expect(missing.condition?.root?.outcome).toBe("error");
  });

  it("tests a disabled observer as if it were enabled", async () => {
    const result = await runTest(ids.disabled, {
      event: { object_type: "Order", modification_type: "DELETE", object_data_before: { a: 1 } },
    });
    expect(result).toMatchObject({
      fired: true,
      reason: "fired",
      detail: "every criterion matches and there is no condition",
      event: { event_type: "DELETE" },
    });
  });

  it("tries a draft condition instead of the stored one, and none at all with null", async () => {
    const draft = await runTest(ids.shipped, {
      event: shippedEvent(50),
      condition_expression: "total < 100 && status == 'shipped'",
    });
    expect(draft).toMatchObject({ fired: true, reason: "fired" });
    expect(draft.condition?.root?.text).toBe("total < 100 && status == 'shipped'");
    const draftFalse = await runTest(ids.shipped, {
      event: shippedEvent(150),
      condition_expression: "total < 100",
    });
    expect(draftFalse).toMatchObject({ fired: false, reason: "condition_false" });
    expect(draftFalse.condition?.root).toMatchObject({ kind: "compare", outcome: "false" });
    for (const condition_expression of [null, "", "   "]) {
      const none = await runTest(ids.shipped, { event: shippedEvent(1), condition_expression });
      expect(none).toMatchObject({
        fired: true,
        detail: "every criterion matches and there is no condition",
      });
      expect(none.condition).toBeUndefined();
    }
    // The stored condition is untouched.
    const [row] =
      await db.sql`SELECT condition_expression FROM core.tb_observer WHERE id = ${ids.shipped}::uuid`;
    expect(row?.condition_expression).toBe(CONDITION);
  });

  it("answers 400 with positions for a draft condition that does not parse", async () => {
    const body = await problem(
      await call("POST", `/api/observers/${ids.shipped}/test`, {
        event: shippedEvent(150),
        condition_expression: "total >> 100 &&",
      }),
      400,
    );
    expect(body.code).toBe("CONDITION_SYNTAX");
    expect(body.detail).toMatch(/^Invalid condition at position \d+: /);
    expect(body.issues?.length).toBeGreaterThan(0);
    for (const issue of body.issues ?? []) {
      expect(issue).toEqual({
        message: expect.any(String),
        position: expect.any(Number),
        length: expect.any(Number),
        text: expect.any(String),
      });
      expect(issue.position as number).toBeGreaterThanOrEqual(6);
      expect(issue.position as number).toBeLessThanOrEqual("total >> 100 &&".length);
    }
  });

  it("answers 400 naming the field of an event it cannot read", async () => {
    const paths = async (body: unknown) => {
      const response = await problem(
        await call("POST", `/api/observers/${ids.shipped}/test`, body),
        400,
      );
      expect(response.code).toBe("INVALID_CONFIG");
      return (response.issues ?? []).map((issue) => issue.path);
    };
    expect(
      await paths({ event: { object_type: "Order", modification_type: "FROB", object_data: {} } }),
    ).toEqual(["event.modification_type"]);
    expect(await paths({ event: { modification_type: "INSERT" } })).toEqual(["event.object_type"]);
    expect(
      await paths({ event: { object_type: "Order", modification_type: "INSERT", colour: 1 } }),
    ).toEqual(["event.colour"]);
    expect(
      await paths({
        event: { object_type: "Order", modification_type: "INSERT", created_at: "yesterday" },
      }),
    ).toEqual(["event.created_at"]);
    // Exactly one of event and event_id.
    expect(await paths({})).toEqual(["event"]);
    expect(await paths({ event: shippedEvent(1), event_id: randomUUID() })).toEqual(["event"]);
    expect(await paths({ event: shippedEvent(1), send: "yes" })).toEqual(["send"]);
  });

  it("tests a stored change by its event id", async () => {
    const eventId = await insertChange(db.sql, {
      type: "UPDATE",
      data: { status: "shipped", total: 120 },
      before: { status: "packed", total: 120 },
      at: "2025-06-01T10:00:00Z",
      objectId: "stored-1",
    });
    const result = await runTest(ids.shipped, { event_id: eventId });
    expect(result).toMatchObject({
      fired: true,
      reason: "fired",
      event: {
        event_id: eventId,
        entity_type: "Order",
        entity_id: "stored-1",
        event_type: "UPDATE",
      },
      sent: null,
    });
    const draft = await runTest(ids.shipped, {
      event_id: eventId,
      condition_expression: "total > 200",
    });
    expect(draft).toMatchObject({ fired: false, reason: "condition_false" });
    for (const id of [randomUUID(), "not-a-uuid"]) {
      const body = await problem(
        await call("POST", `/api/observers/${ids.shipped}/test`, { event_id: id }),
        404,
      );
      expect(body.detail).toBe(`no change with event id ${JSON.stringify(id)}`);
    }
  });

  it("answers 404 for an unknown, non-UUID or deleted observer", async () => {
    const deleted = await insertObserver(db.sql, {
      name: "gone",
      actions: [{ type: "log", message_template: "{{ id }} changed" }],
    });
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${deleted}::uuid`;
    for (const id of [randomUUID(), "not-a-uuid", deleted]) {
      await problem(
        await call("POST", `/api/observers/${id}/test`, { event: shippedEvent(150) }),
        404,
      );
    }
  });
});

describe("POST /api/observers/{id}/test with send", () => {
  it("delivers once to the receiver when it fires, and writes nothing to the log", async () => {
    const before = await logRows();
    const result = await runTest(ids.shipped, { event: shippedEvent(150), send: true });
    expect(result.fired).toBe(true);
    expect(result.sent).toEqual([
      {
        action_index: 0,
        action_type: "webhook",
        status: "success",
        duration_ms: expect.any(Number),
        http_status: 204,
        error_code: null,
        error_message: null,
        message: expect.stringContaining("204"),
      },
    ]);
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/hook");
    expect(request?.headers["webhook-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.parse(request?.text ?? "{}");
    expect(body).toMatchObject({
      id: request?.headers["webhook-id"],
      event_id: result.event.event_id,
      observer: { id: ids.shipped, name: "inspect-shipped" },
      entity_type: "Order",
      entity_id: "42",
      event_type: "UPDATE",
      after: { status: "shipped", total: 150 },
      before: { status: "new", total: 150 },
      attempt: 1,
    });
    await settle();
    expect(receiver.requests).toHaveLength(1);
    expect(await logRows()).toBe(before);
  });

  it("sends nothing when it does not fire, or when send is false or absent", async () => {
    const notFired = await runTest(ids.shipped, { event: shippedEvent(50), send: true });
    expect(notFired).toMatchObject({ fired: false, sent: null });
    const notAsked = await runTest(ids.shipped, { event: shippedEvent(150), send: false });
    expect(notAsked).toMatchObject({ fired: true, sent: null });
    const absent = await runTest(ids.shipped, { event: shippedEvent(150) });
    expect(absent).toMatchObject({ fired: true, sent: null });
    await settle();
    expect(receiver.requests).toHaveLength(0);
  });

  it("reports a failed delivery without retrying it", async () => {
    receiver.reply(() => ({ status: 503, body: "down for maintenance" }));
    const before = await logRows();
    const result = await runTest(ids.shipped, { event: shippedEvent(150), send: true });
    expect(result.sent).toEqual([
      expect.objectContaining({
        action_index: 0,
        action_type: "webhook",
        status: "failed",
        http_status: 503,
        error_code: expect.any(String),
      }),
    ]);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    expect(await logRows()).toBe(before);
  });

  it("refuses to send (400) on a server without an action environment, and still tests", async () => {
    const body = await problem(
      await callWithoutEnvironment("POST", `/api/observers/${ids.shipped}/test`, {
        event: shippedEvent(150),
        send: true,
      }),
      400,
    );
    expect(body.code).toBe("SEND_UNAVAILABLE");
    const tested = await callWithoutEnvironment("POST", `/api/observers/${ids.shipped}/test`, {
      event: shippedEvent(150),
    });
    expect(tested.status).toBe(200);
    expect(await tested.json()).toMatchObject({ fired: true, sent: null });
    await settle();
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("POST /api/observers/{id}/backtest", () => {
  const { since, until } = BACKTEST_RANGE;
  let changes: string[];

  beforeAll(async () => {
    changes = await insertBacktestChanges(db.sql);
  });

  async function backtest(id: string, body: unknown, token = ADMIN) {
    const response = await call("POST", `/api/observers/${id}/backtest`, body, { token });
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown> & {
      samples: { event_id: string }[];
    };
  }

  it("counts in SQL with exact samples, earliest first", async () => {
    expect(await backtest(ids.bt, { since, until })).toEqual(expectedBacktest(changes));
  });

  it("evaluates a draft condition that has no SQL form, with the same counts", async () => {
    const sqlResult = await backtest(ids.bt, { since, until });
    const evaluated = await backtest(ids.bt, { since, until, condition_expression: EVALUATED });
    expect(evaluated.method).toBe("evaluated");
    expect(evaluated.sql_unavailable_reason).toContain(
      "this pattern has no identical PostgreSQL form: the escape \\d",
    );
    const { method: _a, sql_unavailable_reason: _b, ...rest } = evaluated;
    const { method: _c, ...sqlRest } = sqlResult;
    expect(rest).toEqual(sqlRest);
  });

  it("backtests draft conditions in SQL, and no condition as every change", async () => {
    const draft = await backtest(ids.bt, { since, until, condition_expression: "code == '9'" });
    // A number never equals a string: row 2 (code 5) is false, only row 3 (no code) an error.
    expect(draft).toMatchObject({ method: "sql", considered: 7, fired: 1, errors: 1 });
    expect(draft.samples.map((s) => s.event_id)).toEqual([changes[4]]);
    for (const condition_expression of [null, "  "]) {
      const all = await backtest(ids.bt, { since, until, condition_expression });
      expect(all).toMatchObject({ method: "sql", considered: 7, fired: 7, errors: 0 });
    }
    const body = await problem(
      await call("POST", `/api/observers/${ids.bt}/backtest`, {
        since,
        condition_expression: "code matches",
      }),
      400,
    );
    expect(body.code).toBe("CONDITION_SYNTAX");
    expect(body.issues?.[0]).toMatchObject({ position: expect.any(Number) });
  });

  it("limits samples, keeping the earliest", async () => {
    const two = await backtest(ids.bt, { since, until, samples: 2 });
    expect(two.samples.map((s) => s.event_id)).toEqual([changes[0], changes[9]]);
    expect(two.fired).toBe(4);
    expect((await backtest(ids.bt, { since, until, samples: 0 })).samples).toEqual([]);
    const evaluated = await backtest(ids.bt, {
      since,
      until,
      samples: 1,
      condition_expression: EVALUATED,
    });
    expect(evaluated.samples.map((s) => s.event_id)).toEqual([changes[0]]);
  });

  it("runs until now when until is left out", async () => {
    const before = Date.now();
    const result = await backtest(ids.bt, { since });
    // Row 7 (at 07:00) is now in range too.
    expect(result).toMatchObject({ method: "sql", since, considered: 8, fired: 5, errors: 2 });
    const untilMs = Date.parse(result.until as string);
    expect(untilMs).toBeGreaterThanOrEqual(before - 1000);
    expect(untilMs).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("restricts a tenant observer to its tenant's changes, for its tenant's key", async () => {
    const seven = await backtest(ids.bt7, { since, until }, tokens.t7);
    expect(seven).toMatchObject({ method: "sql", considered: 5, fired: 3, errors: 1 });
    expect(seven.samples.map((s) => s.event_id)).toEqual([changes[0], changes[9], changes[6]]);
    const evaluated = await backtest(
      ids.bt7,
      { since, until, condition_expression: EVALUATED },
      tokens.t7,
    );
    expect(evaluated).toMatchObject({ method: "evaluated", considered: 5, fired: 3, errors: 1 });
  });

  it("answers 400 naming a bad field", async () => {
    const paths = async (body: unknown) => {
      const response = await problem(
        await call("POST", `/api/observers/${ids.bt}/backtest`, body),
        400,
      );
      return (response.issues ?? []).map((issue) => issue.path).sort();
    };
    expect(await paths({})).toEqual(["since"]);
    expect(await paths({ since: "2026-01-01" })).toEqual(["since"]);
    expect(await paths({ since, until: "later" })).toEqual(["until"]);
    expect(await paths({ since: until, until: since })).toEqual(["since"]);
    // Valid ISO 8601, but outside what PostgreSQL reads (year 0; year 10000 once in UTC).
    expect(await paths({ since: "0000-01-01T00:00:00Z" })).toEqual(["since"]);
    expect(await paths({ since, until: "9999-12-31T23:59:59-14:00" })).toEqual(["until"]);
    expect(await paths({ since, samples: 101 })).toEqual(["samples"]);
    expect(await paths({ since, samples: 1.5 })).toEqual(["samples"]);
    expect(await paths({ since, limit: 3 })).toEqual(["limit"]);
  });

  it("answers 404 for an unknown or non-UUID observer", async () => {
    for (const id of [randomUUID(), "not-a-uuid"]) {
      await problem(await call("POST", `/api/observers/${id}/backtest`, { since }), 404);
    }
  });
});

describe("GET /api/observers/events/{event_id}/explain", () => {
  let eventId: string;

  beforeAll(async () => {
    eventId = await insertChange(db.sql, {
      type: "UPDATE",
      data: { status: "shipped", total: 150 },
      before: { status: "new", total: 150 },
      org: 7,
      at: "2025-07-01T10:00:00.123456Z",
      objectId: "o-7",
    });
    await insertOutcome(db.sql, ids.shipped, eventId, {
      status: "failed",
      attempt: 1,
      at: "2025-07-01T10:00:01Z",
      error_code: "HTTP_STATUS",
      error: "HTTP 503",
    });
  });

  interface Explanation {
    event: Record<string, unknown>;
    observers: {
      observer_id: string;
      name: string;
      enabled: boolean;
      fired: boolean;
      reason: string;
      detail: string;
      condition?: { success: boolean; result?: boolean | null };
      outcomes: Record<string, unknown>[];
    }[];
  }

  async function explain(id: string, token = ADMIN): Promise<Explanation> {
    const response = await call("GET", `/api/observers/events/${id}/explain`, undefined, {
      token,
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Explanation;
  }

  it("explains every observer: whether it fired, why, and what its deliveries did", async () => {
    const explanation = await explain(eventId);
    expect(explanation.event).toEqual({
      event_id: eventId,
      entity_type: "Order",
      entity_id: "o-7",
      event_type: "UPDATE",
      fk_customer_org: 7,
      created_at: "2025-07-01T10:00:00.123Z",
      transaction_id: expect.stringMatching(/^\d+$/),
    });
    const byId = new Map(explanation.observers.map((o) => [o.observer_id, o]));
    const decided = (id: string) => {
      const o = byId.get(id);
      return [o?.name, o?.enabled, o?.fired, o?.reason];
    };
    expect(decided(ids.shipped)).toEqual(["inspect-shipped", true, true, "fired"]);
    expect(decided(ids.t7)).toEqual(["inspect-t7", true, false, "condition_false"]);
    expect(decided(ids.t8)).toEqual(["inspect-t8", true, false, "tenant"]);
    expect(decided(ids.user)).toEqual(["inspect-user", true, false, "entity_type"]);
    expect(decided(ids.disabled)).toEqual(["inspect-disabled", false, false, "disabled"]);
    expect(decided(ids.bt)).toEqual(["inspect-bt", true, false, "condition_error"]);
    expect(decided(ids.bt7)).toEqual(["inspect-bt7", true, false, "condition_error"]);
    expect(byId.get(ids.shipped)?.condition).toMatchObject({ success: true, result: true });
    expect(byId.get(ids.t7)?.condition).toMatchObject({ success: true, result: false });
    expect(byId.get(ids.t8)?.detail).toBe(
      "the observer belongs to tenant 8 but the change is tenant 7's",
    );
    expect(byId.get(ids.user)?.condition).toBeUndefined();
    expect(byId.get(ids.shipped)?.outcomes).toEqual([
      {
        action_index: 0,
        action_type: "webhook",
        status: "failed",
        attempt_number: 1,
        error_code: "HTTP_STATUS",
        error_message: "HTTP 503",
        batch_id: null,
        on_dead_letter: false,
        created_at: "2025-07-01T10:00:01.000Z",
      },
    ]);
    expect(byId.get(ids.t7)?.outcomes).toEqual([]);
    // Every live observer, and only those.
    const [count] =
      await db.sql`SELECT count(*)::int AS n FROM core.tb_observer WHERE deleted_at IS NULL`;
    expect(explanation.observers).toHaveLength(count?.n as number);
  });

  it("shows a tenant key only its tenant's observers", async () => {
    const explanation = await explain(eventId, tokens.t7);
    expect(explanation.observers.map((o) => [o.observer_id, o.fired, o.reason])).toEqual([
      [ids.t7, false, "condition_false"],
      [ids.bt7, false, "condition_error"],
    ]);
  });

  it("answers 404 for an unknown or non-UUID event, and another tenant's change", async () => {
    const global = await insertChange(db.sql, { data: {}, at: "2025-07-01T11:00:00Z" });
    for (const [id, token] of [
      [randomUUID(), ADMIN],
      ["not-a-uuid", ADMIN],
      [eventId, tokens.t8],
      [global, tokens.t7],
    ] as const) {
      const body = await problem(
        await call("GET", `/api/observers/events/${id}/explain`, undefined, { token }),
        404,
      );
      expect(body).toMatchObject({
        code: "NOT_FOUND",
        detail: `no change or scheduled event with event id ${JSON.stringify(id)}`,
      });
    }
  });

  it("answers 422 for a stored change that cannot be read as an event", async () => {
    const broken = await insertChange(db.sql, { type: "FROB", at: "2025-07-01T12:00:00Z" });
    const body = await problem(await call("GET", `/api/observers/events/${broken}/explain`), 422);
    expect(body.code).toBe("UNREADABLE_CHANGE");
    expect(body.detail).toContain("modification_type");
    const tested = await problem(
      await call("POST", `/api/observers/${ids.shipped}/test`, { event_id: broken }),
      422,
    );
    expect(tested.code).toBe("UNREADABLE_CHANGE");
  });
});

describe("tenancy of test and backtest", () => {
  it("answers 404 to a tenant key for another tenant's or a global observer", async () => {
    for (const [id, token] of [
      [ids.t7, tokens.t8],
      [ids.bt7, tokens.t8],
      [ids.t8, tokens.t7],
      [ids.shipped, tokens.t7],
      [ids.bt, tokens.t8],
    ] as const) {
      const tested = await problem(
        await call("POST", `/api/observers/${id}/test`, { event: shippedEvent(150) }, { token }),
        404,
      );
      expect(tested.code).toBe("NOT_FOUND");
      const backtested = await problem(
        await call(
          "POST",
          `/api/observers/${id}/backtest`,
          { since: "2026-01-01T00:00:00Z" },
          { token },
        ),
        404,
      );
      expect(backtested.code).toBe("NOT_FOUND");
    }
  });

  it("tests a tenant's own observer, against its own stored changes only", async () => {
    const own = await runTest(
      ids.t7,
      { event: shippedEvent(50, { fk_customer_org: 7 }) },
      tokens.t7,
    );
    expect(own).toMatchObject({ fired: true, reason: "fired" });
    const noTenant = await runTest(ids.t7, { event: shippedEvent(50) }, tokens.t7);
    expect(noTenant).toMatchObject({
      fired: false,
      reason: "tenant",
      detail: "the observer belongs to tenant 7 but the change has no tenant",
    });
    const eightChange = await insertChange(db.sql, {
      data: { total: 50 },
      org: 8,
      at: "2025-08-01T00:00:00Z",
    });
    const sevenChange = await insertChange(db.sql, {
      data: { total: 50 },
      org: 7,
      at: "2025-08-01T00:00:00Z",
    });
    await problem(
      await call(
        "POST",
        `/api/observers/${ids.t7}/test`,
        { event_id: eightChange },
        { token: tokens.t7 },
      ),
      404,
    );
    expect(await runTest(ids.t7, { event_id: sevenChange }, tokens.t7)).toMatchObject({
      fired: true,
      event: { event_id: sevenChange },
    });
  });
});
