/** Explaining stored changes and backtesting observers over a real change log. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChangeEventError, ConfigError, NotFoundError } from "../../src/errors.ts";
import { type BacktestOptions, backtestObserver } from "../../src/store/backtest.ts";
import { explainStoredEvent, readStoredEvent } from "../../src/store/inspect.ts";
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

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("inspect");
});
afterAll(() => db?.drop());

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("explainStoredEvent", () => {
  const ids: Record<string, string> = {};
  let eventId: string;
  let otherTenantEvent: string;
  let globalEvent: string;

  beforeAll(async () => {
    const hook = [webhook("http://127.0.0.1:9/hook")];
    const seeds = {
      fires: { condition_expression: "status == 'new'", event_type: "INSERT" },
      falsy: { condition_expression: "total > 100" },
      errs: { condition_expression: "code matches '^[0-9]+$'" },
      entity: { entity_type: "User" },
      event: { event_type: "UPDATE" },
      disabled: { enabled: false },
      tenant8: { fk_customer_org: 8 },
      tenant7: { fk_customer_org: 7, condition_expression: "total == 50" },
      deleted: {},
    };
    for (const [name, seed] of Object.entries(seeds)) {
      ids[name] = await insertObserver(db.sql, { name: `explain-${name}`, actions: hook, ...seed });
    }
    await db.sql`UPDATE core.tb_observer SET priority = 5 WHERE id = ${ids.tenant7 as string}::uuid`;
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${ids.deleted as string}::uuid`;
    eventId = await insertChange(db.sql, {
      data: { status: "new", total: 50 },
      org: 7,
      at: "2025-06-01T10:00:00.123456Z",
      objectId: "o-1",
    });
    otherTenantEvent = await insertChange(db.sql, {
      data: { status: "new" },
      org: 8,
      at: "2025-06-01T10:00:00Z",
    });
    globalEvent = await insertChange(db.sql, {
      data: { status: "new" },
      at: "2025-06-01T10:00:00Z",
    });
    const fires = ids.fires as string;
    // Logged out of order: outcomes come back by created_at.
    await insertOutcome(db.sql, fires, eventId, {
      status: "success",
      attempt: 2,
      at: "2025-06-01T10:00:05Z",
    });
    await insertOutcome(db.sql, fires, eventId, {
      status: "failed",
      attempt: 1,
      at: "2025-06-01T10:00:01Z",
      error_code: "HTTP_503",
      error: "upstream unavailable",
    });
    // Another event's row for the same observer stays out.
    await insertOutcome(db.sql, fires, globalEvent, {
      status: "success",
      attempt: 1,
      at: "2025-06-01T10:00:02Z",
    });
  });

  it("explains every visible observer, by priority, with why and what was logged", async () => {
    const explanation = await explainStoredEvent(db.client, eventId, {});
    expect(explanation.event).toEqual({
      event_id: eventId,
      entity_type: "Order",
      entity_id: "o-1",
      event_type: "INSERT",
      fk_customer_org: 7,
      created_at: "2025-06-01T10:00:00.123Z",
      transaction_id: expect.stringMatching(/^\d+$/),
    });
    const summary = explanation.observers.map((o) => [o.name, o.enabled, o.fired, o.reason]);
    expect(summary).toEqual([
      ["explain-tenant7", true, true, "fired"],
      ["explain-fires", true, true, "fired"],
      ["explain-falsy", true, false, "condition_false"],
      ["explain-errs", true, false, "condition_error"],
      ["explain-entity", true, false, "entity_type"],
      ["explain-event", true, false, "event_type"],
      ["explain-disabled", false, false, "disabled"],
      ["explain-tenant8", true, false, "tenant"],
    ]);
    const byName = new Map(explanation.observers.map((o) => [o.name, o]));
    const fires = byName.get("explain-fires");
    expect(fires?.observer_id).toBe(ids.fires);
    expect(fires?.detail).toBe("every criterion matches and the condition is true");
    expect(fires?.condition).toMatchObject({ success: true, result: true });
    expect(fires?.outcomes).toEqual([
      {
        action_index: 0,
        action_type: "webhook",
        status: "failed",
        attempt_number: 1,
        error_code: "HTTP_503",
        error_message: "upstream unavailable",
        batch_id: null,
        on_dead_letter: false,
        created_at: "2025-06-01T10:00:01.000Z",
      },
      {
        action_index: 0,
        action_type: "webhook",
        status: "success",
        attempt_number: 2,
        error_code: null,
        error_message: null,
        batch_id: null,
        on_dead_letter: false,
        created_at: "2025-06-01T10:00:05.000Z",
      },
    ]);
    expect(byName.get("explain-falsy")?.outcomes).toEqual([]);
    expect(byName.get("explain-errs")?.detail).toContain(
      "field 'code' is not in the INSERT event's data",
    );
    expect(byName.get("explain-errs")?.condition).toMatchObject({ success: true, result: null });
    expect(byName.get("explain-entity")?.detail).toBe(
      'entity_type is "User" but the change is a "Order"',
    );
    expect(byName.get("explain-entity")?.condition).toBeUndefined();
    expect(byName.get("explain-event")?.detail).toBe(
      'event_type is "UPDATE" but the change is an INSERT',
    );
    expect(byName.get("explain-tenant8")?.detail).toBe(
      "the observer belongs to tenant 8 but the change is tenant 7's",
    );
  });

  it("shows a scoped caller only its tenant's observers", async () => {
    const explanation = await explainStoredEvent(db.client, eventId, { tenant: "7" });
    expect(explanation.observers.map((o) => [o.name, o.reason])).toEqual([
      ["explain-tenant7", "fired"],
    ]);
  });

  it("answers not found for another tenant's change, a global one, an unknown id and a non-UUID", async () => {
    for (const [id, tenant] of [
      [otherTenantEvent, "7"],
      [globalEvent, "7"],
      ["00000000-0000-4000-8000-000000000000", null],
      ["not-a-uuid", null],
    ] as const) {
      const error = await caught(explainStoredEvent(db.client, id, { tenant }));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe(
        `no change or scheduled event with event id ${JSON.stringify(id)}`,
      );
    }
    // Unscoped callers see every tenant's changes.
    const { event } = await readStoredEvent(db.client, otherTenantEvent, {});
    expect([event.id, event.tenant_id, event.entity_type]).toEqual([
      otherTenantEvent,
      "8",
      "Order",
    ]);
  });

  it("refuses a change that cannot be read as an event, naming the column", async () => {
    const broken = await insertChange(db.sql, { type: "FROB", at: "2025-06-01T11:00:00Z" });
    const error = await caught(explainStoredEvent(db.client, broken, {}));
    expect(error).toBeInstanceOf(ChangeEventError);
    expect((error as ChangeEventError).field).toBe("modification_type");
    expect((error as ChangeEventError).code).toBe("INVALID_CHANGE_EVENT");
  });
});

describe("backtestObserver", () => {
  const { since, until } = BACKTEST_RANGE;
  let ids: string[];

  const options = (
    observer: Partial<BacktestOptions["observer"]> = {},
    extra: Partial<BacktestOptions> = {},
  ): BacktestOptions => ({
    observer: {
      entity_type: "Order",
      event_type: null,
      condition_expression: PORTABLE,
      fk_customer_org: null,
      ...observer,
    },
    since,
    until,
    ...extra,
  });

  /** Runs both paths and checks they agree on the counts and samples. */
  async function both(
    observer: Partial<BacktestOptions["observer"]>,
    extra: Partial<BacktestOptions> = {},
  ) {
    const sqlResult = await backtestObserver(
      db.client,
      options({ ...observer, condition_expression: PORTABLE }, extra),
    );
    const evaluated = await backtestObserver(
      db.client,
      options({ ...observer, condition_expression: EVALUATED }, extra),
    );
    expect(sqlResult.method).toBe("sql");
    expect(evaluated.method).toBe("evaluated");
    const { method: _a, sql_unavailable_reason: _b, ...rest } = evaluated;
    const { method: _c, ...sqlRest } = sqlResult;
    expect(rest).toEqual(sqlRest);
    return sqlResult;
  }

  beforeAll(async () => {
    ids = await insertBacktestChanges(db.sql);
  });

  it("counts by SQL and by evaluation alike, with samples earliest first", async () => {
    expect(await both({})).toEqual(expectedBacktest(ids));
  });

  it("says why a condition was evaluated rather than counted in SQL", async () => {
    const result = await backtestObserver(db.client, options({ condition_expression: EVALUATED }));
    expect(result.method).toBe("evaluated");
    expect(result.sql_unavailable_reason).toContain(
      "'^\\d+$' at position 13: this pattern has no identical PostgreSQL form: the escape \\d",
    );
  });

  it("limits samples, keeping the earliest", async () => {
    const result = await both({}, { sampleLimit: 2 });
    expect(result.samples.map((s) => s.event_id)).toEqual([ids[0], ids[9]]);
    expect(result.fired).toBe(4);
    expect((await both({}, { sampleLimit: 0 })).samples).toEqual([]);
  });

  it("restricts to the observer's tenant, the event type, and a scoped caller's tenant", async () => {
    const tenant7 = await both({ fk_customer_org: "7" });
    expect([tenant7.considered, tenant7.fired, tenant7.errors]).toEqual([5, 3, 1]);
    const inserts = await both({ event_type: "insert" });
    expect([inserts.considered, inserts.fired, inserts.errors]).toEqual([5, 3, 2]);
    const deletes = await both({ event_type: "DELETE" });
    expect([deletes.considered, deletes.fired, deletes.errors]).toEqual([1, 1, 0]);
    const scoped = await both({}, { tenant: "8" });
    expect([scoped.considered, scoped.fired, scoped.errors]).toEqual([1, 1, 0]);
    expect(scoped.samples.map((s) => s.event_id)).toEqual([ids[4]]);
    const anyEntity = await both({ entity_type: null });
    expect([anyEntity.considered, anyEntity.fired, anyEntity.errors]).toEqual([8, 5, 2]);
  });

  it("takes the range as since <= created_at < until", async () => {
    const point = await both({}, { since: "2026-01-01T07:00:00Z", until: "2026-01-01T07:00:00Z" });
    expect([point.considered, point.fired]).toEqual([0, 0]);
    const last = await both(
      {},
      { since: "2026-01-01T07:00:00+00:00", until: "2026-01-01T10:00:00+02:00" },
    );
    expect([last.considered, last.fired]).toEqual([1, 1]);
    expect(last.samples.map((s) => s.event_id)).toEqual([ids[7]]);
    // The window is echoed as it was read: UTC, with milliseconds.
    expect([last.since, last.until]).toEqual([
      "2026-01-01T07:00:00.000Z",
      "2026-01-01T08:00:00.000Z",
    ]);
  });

  it("fires for every change considered when there is no condition", async () => {
    const result = await backtestObserver(db.client, options({ condition_expression: "  " }));
    expect(result).toMatchObject({ method: "sql", considered: 7, fired: 7, errors: 0 });
  });

  it("stops the evaluated path at scanLimit, reading in key order", async () => {
    const result = await backtestObserver(
      db.client,
      options({ condition_expression: EVALUATED }, { scanLimit: 3 }),
    );
    // The first three in key order: rows 0 (fires), 1 (false), 2 (error).
    expect(result).toMatchObject({
      method: "evaluated",
      considered: 3,
      fired: 1,
      errors: 1,
      truncated: true,
    });
    expect(result.samples.map((s) => s.event_id)).toEqual([ids[0]]);
    const exact = await backtestObserver(
      db.client,
      options({ condition_expression: EVALUATED }, { scanLimit: 7 }),
    );
    expect(exact).toMatchObject({ considered: 7, fired: 4, truncated: false });
  });

  it("agrees across pages of the evaluated path, and truncates across them", async () => {
    await db.sql`
      INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data, created_at)
      SELECT 'Bulk', 'INSERT', g::text,
        jsonb_build_object('code', CASE WHEN g % 3 = 0 THEN to_jsonb(g) WHEN g % 3 = 1 THEN to_jsonb(g::text) ELSE '"x"'::jsonb END),
        '2026-02-01T00:00:00Z'::timestamptz + g * interval '1 second'
      FROM generate_series(1, 2500) AS g`;
    const range = { since: "2026-02-01T00:00:00Z", until: "2026-03-01T00:00:00Z" };
    const result = await both({ entity_type: "Bulk" }, range);
    expect([result.considered, result.fired, result.errors]).toEqual([2500, 834, 833]);
    expect(result.samples.map((s) => s.entity_id)).toEqual([
      "1",
      "4",
      "7",
      "10",
      "13",
      "16",
      "19",
      "22",
      "25",
      "28",
    ]);
    const truncated = await backtestObserver(db.client, {
      ...options({ entity_type: "Bulk", condition_expression: EVALUATED }),
      ...range,
      scanLimit: 1500,
    });
    expect(truncated).toMatchObject({ considered: 1500, fired: 500, errors: 500, truncated: true });
  });

  it("refuses bad ranges, limits and conditions with the field and the position", async () => {
    const issues = async (o: BacktestOptions) => {
      const error = await caught(backtestObserver(db.client, o));
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    };
    const timestamp =
      "must be an ISO 8601 timestamp with a time zone, from year 1 to 9999, e.g. 2024-05-01T12:00:00Z";
    expect(await issues(options({}, { since: "yesterday" }))).toEqual([`since: ${timestamp}`]);
    expect(await issues(options({}, { until: "2026-01-01T00:00:00" }))).toEqual([
      `until: ${timestamp}`,
    ]);
    expect(await issues(options({}, { since: "2026-13-45T00:00:00Z" }))).toEqual([
      `since: ${timestamp}`,
    ]);
    expect(await issues(options({}, { since: until, until: since }))).toEqual([
      "since: must not be after until",
    ]);
    // PostgreSQL has no year 0, and an offset can carry 9999 into year 10000.
    expect(await issues(options({}, { since: "0000-06-01T00:00:00Z" }))).toEqual([
      `since: ${timestamp}`,
    ]);
    expect(await issues(options({}, { until: "9999-12-31T23:59:59-14:00" }))).toEqual([
      `until: ${timestamp}`,
    ]);
    // Years below 100 are years, not 1900 + n.
    const early = await backtestObserver(db.client, {
      ...options({}, { since: "0050-06-01T00:00:00Z" }),
      maxRangeDays: Number.POSITIVE_INFINITY,
    });
    expect(early.since).toBe("0050-06-01T00:00:00.000Z");
    expect(await issues(options({}, { sampleLimit: 101 }))).toEqual([
      "sample_limit: must be an integer from 0 to 100",
    ]);
    expect(await issues(options({}, { scanLimit: 0 }))).toEqual(["scan_limit: must be at least 1"]);
    const parse = await issues(options({ condition_expression: "code ==" }));
    expect(parse).toHaveLength(1);
    expect(parse[0]).toMatch(/^condition_expression: at position 7: /);
  });
});
