/**
 * Scheduled observers and one-off scheduled events (docs/time.md), against a real PostgreSQL:
 * a one-second schedule fires every tick exactly once with two runtimes running (a fake clock
 * moves time), a tick missed during downtime fires once (the latest), one-off events run at
 * their instant with their payload, and bad input answers 400 naming the field.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { NotFoundError } from "../../src/errors.ts";
import { type Clock, systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { explainStoredEvent } from "../../src/store/inspect.ts";
import { fireDueSchedules } from "../../src/store/schedules.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient } from "../support/api-client.ts";
import { fakeClock } from "../support/clock.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { eventually } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";

const ADMIN = "admin-token-for-schedule-tests-01";
const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase;
const runtimes: ObserverRuntime[] = [];

beforeAll(async () => {
  db = await createTestDatabase("time_schedules");
});
afterAll(() => db?.drop());
beforeEach(async () => {
  await db.sql`DELETE FROM core.tb_observer_delivery`;
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
});

async function startRuntime(clock: Clock, listenerId = "schedules"): Promise<ObserverRuntime> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES (${listenerId})
    ON CONFLICT (listener_id) DO NOTHING`;
  const runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment({ clock }),
    listenerId,
    pollIntervalMs: 200,
    leaseMs: 5_000,
    shutdownTimeoutMs: 2_000,
  });
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
}

/** A scheduled observer written with SQL, as an operator could. */
async function scheduledObserver(name: string, schedule: string, path: string): Promise<string> {
  const [row] = await db.sql`INSERT INTO core.tb_observer (name, event_type, schedule, actions,
      retry_config)
    VALUES (${name}, 'SCHEDULE', ${schedule},
      ${JSON.stringify([{ type: "webhook", url: `${receiver.url}${path}` }])}::text::jsonb,
      '{"max_attempts": 1}'::jsonb)
    RETURNING pk_observer::text AS pk`;
  return row?.pk as string;
}

async function ticksOf(pk: string): Promise<number[]> {
  const rows = await db.sql<{ at: number }[]>`
    SELECT (extract(epoch FROM scheduled_at) * 1000)::float8 AS at FROM core.tb_observer_event
    WHERE fk_observer = ${pk} AND kind = 'schedule' ORDER BY scheduled_at`;
  return rows.map((r) => Number(r.at));
}

describe("a scheduled observer", () => {
  // The fake clock runs behind the database's: a tick's deliveries, due at the tick, are due at once.
  it("fires every tick of a one-second schedule exactly once with two runtimes running", async () => {
    const clock = fakeClock(Date.UTC(2020, 0, 1, 12, 0, 0, 500));
    const pk = await scheduledObserver("every-second", "* * * * * *", "/tick");
    await startRuntime(clock, "schedules-a");
    await startRuntime(clock, "schedules-b");
    // Seen for the first time: its first tick is the next second, nothing fires yet.
    await eventually(async () => {
      const [row] = await db.sql`SELECT next_run_at FROM core.tb_observer_schedule
        WHERE fk_observer = ${pk}`;
      return row ? true : undefined;
    }, "the schedule's first tick");
    expect(await ticksOf(pk)).toEqual([]);
    const expected: number[] = [];
    for (let second = 1; second <= 5; second++) {
      clock.advance(1_000);
      expected.push(Date.UTC(2020, 0, 1, 12, 0, second));
      await eventually(async () => {
        const ticks = await ticksOf(pk);
        return ticks.length >= second ? ticks : undefined;
      }, `tick ${second}`);
      await receiver.waitFor(second);
    }
    // Both runtimes woke for every tick; each fired once, and only once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await ticksOf(pk)).toEqual(expected);
    expect(receiver.requests).toHaveLength(5);
    const bodies = receiver.requests.map((r) => JSON.parse(r.text));
    expect(bodies.map((b) => Date.parse(b.after.scheduled_at))).toEqual(expected);
    expect(bodies[0]).toMatchObject({ event_type: "SCHEDULE", entity_type: "Schedule" });
    // Stamped with the tick it belongs to.
    expect(receiver.requests.map((r) => Number(r.headers["webhook-timestamp"]) * 1000)).toEqual(
      expected,
    );
  });

  it("fires a tick missed during downtime once: the latest, with its instant", async () => {
    const clock = fakeClock(Date.UTC(2020, 0, 2, 8, 0, 0, 200));
    const pk = await scheduledObserver("catch-up", "*/2 * * * * *", "/catch-up");
    const first = await startRuntime(clock, "catch-up");
    await eventually(async () => {
      const [row] = await db.sql`SELECT 1 FROM core.tb_observer_schedule WHERE fk_observer = ${pk}`;
      return row ? true : undefined;
    }, "the schedule's first tick");
    await first.stop();
    // Down for 11 seconds: ticks at :02, :04, :06, :08 and :10 were missed.
    clock.advance(11_000);
    await startRuntime(clock, "catch-up");
    const [request] = await receiver.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await ticksOf(pk)).toEqual([Date.UTC(2020, 0, 2, 8, 0, 10)]);
    expect(receiver.requests).toHaveLength(1);
    expect(JSON.parse(request?.text ?? "").after.scheduled_at).toBe("2020-01-02T08:00:10+00:00");
    const [row] = await db.sql<{ next: number }[]>`SELECT
      (extract(epoch FROM next_run_at) * 1000)::float8 AS next
      FROM core.tb_observer_schedule WHERE fk_observer = ${pk}`;
    expect(Number(row?.next)).toBe(Date.UTC(2020, 0, 2, 8, 0, 12));
  });
});

describe("fireDueSchedules", () => {
  it("creates a tick's deliveries due at the tick plus each action's delay_ms", async () => {
    const [row] = await db.sql`INSERT INTO core.tb_observer (name, event_type, schedule, actions)
      VALUES ('delayed-tick', 'SCHEDULE', '0 * * * *', ${JSON.stringify([
        { type: "log" },
        { type: "log", delay_ms: 90_000 },
      ])}::text::jsonb)
      RETURNING pk_observer::text AS pk`;
    const start = Date.UTC(2040, 0, 1, 10, 30);
    expect(await fireDueSchedules(db.client, start)).toMatchObject({
      fired: 0,
      nextRunAt: Date.UTC(2040, 0, 1, 11),
    });
    // Three hours later: one tick fires, the latest (13:00).
    const round = await fireDueSchedules(db.client, Date.UTC(2040, 0, 1, 13, 20));
    expect(round).toMatchObject({ fired: 1, deliveries: 2, nextRunAt: Date.UTC(2040, 0, 1, 14) });
    const due = await db.sql<{ i: number; due: number }[]>`
      SELECT action_index AS i, (extract(epoch FROM next_attempt_at) * 1000)::float8 AS due
      FROM core.tb_observer_delivery WHERE fk_observer = ${row?.pk as string} ORDER BY action_index`;
    expect(due.map((d) => [d.i, Number(d.due)])).toEqual([
      [0, Date.UTC(2040, 0, 1, 13)],
      [1, Date.UTC(2040, 0, 1, 13) + 90_000],
    ]);
    // The same instant again: already claimed, nothing fires twice.
    expect(await fireDueSchedules(db.client, Date.UTC(2040, 0, 1, 13, 20))).toMatchObject({
      fired: 0,
    });
  });

  it("explains a tick's id: its own observer fired it, reason scheduled; not another tenant's", async () => {
    const [row] = await db.sql`INSERT INTO core.tb_observer (name, event_type, schedule, actions,
        fk_customer_org)
      VALUES ('explained-tick', 'SCHEDULE', '0 * * * *', '[{"type": "log"}]'::jsonb, 7)
      RETURNING pk_observer::text AS pk, id::text AS id`;
    await fireDueSchedules(db.client, Date.UTC(2041, 0, 1, 10, 30));
    await fireDueSchedules(db.client, Date.UTC(2041, 0, 1, 11, 5));
    const [tick] = await db.sql<{ id: string }[]>`SELECT id::text AS id
      FROM core.tb_observer_event WHERE fk_observer = ${row?.pk as string}`;
    const explanation = await explainStoredEvent(db.client, tick?.id as string, { tenant: "7" });
    expect(explanation).toEqual({
      event: {
        event_id: tick?.id,
        entity_type: "Schedule",
        entity_id: null,
        event_type: "SCHEDULE",
        fk_customer_org: 7,
        created_at: new Date(Date.UTC(2041, 0, 1, 11)).toISOString(),
      },
      observers: [
        {
          observer_id: row?.id,
          name: "explained-tick",
          enabled: true,
          fired: true,
          reason: "scheduled",
          detail:
            'the event is this observer\'s own: a tick of its schedule "0 * * * *" at 2041-01-01T11:00:00.000Z',
          outcomes: [],
        },
      ],
    });
    const error = await explainStoredEvent(db.client, tick?.id as string, { tenant: "8" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe(
      `no change or scheduled event with event id ${JSON.stringify(tick?.id)}`,
    );
  });
});

describe("the API", () => {
  let app: ReturnType<typeof createObserversApi>;
  let runtime: ObserverRuntime;
  const call = (method: string, path: string, body?: unknown) =>
    apiClient(app, ADMIN)(method, path, body);

  beforeEach(async () => {
    runtime = await startRuntime(systemClock, "api");
    app = createObserversApi({ sql: db.client, runtime, adminToken: ADMIN, logger: silentLogger });
  });

  async function issues(response: Response) {
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; issues: unknown[] };
    expect(body.code).toBe("INVALID_CONFIG");
    return body.issues;
  }

  it("creates a scheduled observer, and refuses a bad schedule, time zone or field naming it", async () => {
    const hook = { type: "webhook", url: `${receiver.url}/api` };
    const created = await call("POST", "/api/observers", {
      name: "nightly",
      event_type: "schedule",
      schedule: "0 3 * * *",
      timezone: "Europe/Paris",
      actions: [{ ...hook, delay_ms: 1_000 }],
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      event_type: "SCHEDULE",
      schedule: "0 3 * * *",
      timezone: "Europe/Paris",
      entity_type: null,
    });
    const base = { name: "bad", event_type: "SCHEDULE", actions: [hook] };
    expect(
      await issues(await call("POST", "/api/observers", { ...base, schedule: "61 * * * *" })),
    ).toEqual([{ path: "schedule", message: expect.stringContaining("minute") }]);
    expect(
      await issues(await call("POST", "/api/observers", { ...base, schedule: "* * *" })),
    ).toEqual([
      {
        path: "schedule",
        message: "must have 5 fields (minute to weekday), or 6 with seconds first; got 3",
      },
    ]);
    expect(
      await issues(
        await call("POST", "/api/observers", {
          ...base,
          schedule: "* * * * *",
          timezone: "Mars/Olympus",
        }),
      ),
    ).toEqual([
      { path: "timezone", message: "must be an IANA time zone, such as Europe/Paris or UTC" },
    ]);
    expect(await issues(await call("POST", "/api/observers", base))).toEqual([
      { path: "schedule", message: "is required for event_type SCHEDULE" },
    ]);
    expect(
      await issues(
        await call("POST", "/api/observers", {
          ...base,
          schedule: "* * * * *",
          entity_type: "Order",
          actions: [{ ...hook, debounce: { window_ms: 10 } }],
        }),
      ),
    ).toEqual([
      {
        path: "entity_type",
        message: "must be null for event_type SCHEDULE (a schedule watches no entity)",
      },
      {
        path: "actions.0.debounce",
        message:
          "a scheduled observer's action takes delay_ms, not debounce (a tick has no change to read)",
      },
    ]);
    expect(
      await issues(
        await call("POST", "/api/observers", { name: "x", schedule: "* * * * *", actions: [hook] }),
      ),
    ).toEqual([{ path: "schedule", message: "needs event_type SCHEDULE" }]);
    expect(
      await issues(
        await call("POST", "/api/observers", {
          name: "too-late",
          actions: [{ ...hook, delay_ms: 31 * 24 * 3_600_000 }],
        }),
      ),
    ).toEqual([{ path: "actions.0.delay_ms", message: "must be at most 2592000000 (30 days)" }]);
  });

  it("runs a one-off event at its instant with its payload", async () => {
    const created = await call("POST", "/api/observers", {
      name: "one-off",
      event_type: "INSERT",
      entity_type: "Order",
      actions: [{ type: "webhook", url: `${receiver.url}/one-off` }],
    });
    const { id } = (await created.json()) as { id: string };
    const runAt = new Date(Math.ceil((Date.now() + 1_500) / 1000) * 1000).toISOString();
    const response = await call("POST", `/api/observers/${id}/schedule`, {
      run_at: runAt,
      payload: { note: "renew the certificate" },
    });
    expect(response.status).toBe(201);
    const event = (await response.json()) as { id: string };
    expect(event).toMatchObject({
      observer_id: id,
      run_at: runAt,
      payload: { note: "renew the certificate" },
      deliveries: 1,
    });
    const [request] = await receiver.waitFor(1);
    const body = JSON.parse(request?.text ?? "");
    expect(body).toMatchObject({
      event_id: event.id,
      event_type: "SCHEDULE",
      after: { payload: { note: "renew the certificate" } },
    });
    expect(Number(request?.headers["webhook-timestamp"]) * 1000).toBe(Date.parse(runAt));
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(runAt));
  });

  it("explains a one-off event's id: its observer fired it (one_off), with its delivery", async () => {
    const created = await call("POST", "/api/observers", {
      name: "one-off-explained",
      actions: [{ type: "webhook", url: `${receiver.url}/explained` }],
    });
    const { id } = (await created.json()) as { id: string };
    const runAt = new Date().toISOString();
    const scheduled = await call("POST", `/api/observers/${id}/schedule`, { run_at: runAt });
    const event = (await scheduled.json()) as { id: string };
    await receiver.waitFor(1);
    const explanation = await eventually(async () => {
      const response = await call("GET", `/api/observers/events/${event.id}/explain`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        event: Record<string, unknown>;
        observers: { outcomes: unknown[] }[];
      };
      return body.observers[0]?.outcomes.length === 1 ? body : undefined;
    }, "the explained delivery");
    expect(explanation.event).toMatchObject({
      event_id: event.id,
      event_type: "SCHEDULE",
      entity_type: "Schedule",
      created_at: runAt,
    });
    expect(explanation.observers).toEqual([
      {
        observer_id: id,
        name: "one-off-explained",
        enabled: true,
        fired: true,
        reason: "one_off",
        detail: `the event is this observer's own: a one-off event scheduled for ${runAt} by admin`,
        outcomes: [expect.objectContaining({ action_index: 0, status: "success" })],
      },
    ]);
  });

  it("counts scheduled observers in health's observer_count", async () => {
    for (const body of [
      { name: "counted-change", actions: [{ type: "webhook", url: `${receiver.url}/counted` }] },
      {
        name: "counted-tick",
        event_type: "SCHEDULE",
        schedule: "0 3 * * *",
        actions: [{ type: "webhook", url: `${receiver.url}/counted` }],
      },
    ]) {
      expect((await call("POST", "/api/observers", body)).status).toBe(201);
    }
    await eventually(
      async () => ((await runtime.health()).observer_count === 2 ? true : undefined),
      "both observers counted",
    );
  });

  it("refuses to schedule on a disabled observer, and skips an event whose observer was disabled since", async () => {
    const created = await call("POST", "/api/observers", {
      name: "one-off-disabled",
      actions: [{ type: "webhook", url: `${receiver.url}/disabled` }],
    });
    const { id } = (await created.json()) as { id: string };
    // An hour away, then made due once the observer is disabled: a run_at a second away could
    // come (and be delivered) before the disable on a loaded machine.
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await call("POST", `/api/observers/${id}/schedule`, { run_at: runAt });
    expect(scheduled.status).toBe(201);
    const event = (await scheduled.json()) as { id: string };
    expect((await call("POST", `/api/observers/${id}/disable`)).status).toBe(200);
    const due = await db.sql`UPDATE core.tb_observer_delivery d SET next_attempt_at = now()
      FROM core.tb_observer o WHERE o.pk_observer = d.fk_observer AND o.id = ${id}
      RETURNING d.id`;
    expect(due).toHaveLength(1);
    runtime.wake();
    const refused = await call("POST", `/api/observers/${id}/schedule`, {
      run_at: new Date().toISOString(),
    });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      code: "CONFLICT",
      detail: expect.stringContaining("is disabled"),
    });
    const logs = await eventually(async () => {
      const page = (await (await call("GET", `/api/observers/${id}/logs`)).json()) as {
        data: { event_id: string; status: string; error_code: string | null }[];
      };
      return page.data.length > 0 ? page.data : undefined;
    }, "the skipped delivery's log row");
    expect(logs).toEqual([
      expect.objectContaining({
        event_id: event.id,
        status: "skipped",
        error_code: "OBSERVER_DISABLED",
      }),
    ]);
    expect(receiver.requests).toHaveLength(0);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_event e
      JOIN core.tb_observer o ON o.pk_observer = e.fk_observer WHERE o.id = ${id}`;
    expect(row?.n).toBe(1);
  });

  it("dead-letters, logs and replays a scheduled event's delivery like a change's", async () => {
    receiver.reply(() => ({ status: 410 }));
    const created = await call("POST", "/api/observers", {
      name: "one-off-gone",
      actions: [{ type: "webhook", url: `${receiver.url}/gone` }],
      retry_config: { max_attempts: 1 },
    });
    const { id } = (await created.json()) as { id: string };
    const scheduled = await call("POST", `/api/observers/${id}/schedule`, {
      run_at: new Date().toISOString(),
      payload: { n: 1 },
    });
    const event = (await scheduled.json()) as { id: string };
    await receiver.waitFor(1);
    const dead = await eventually(async () => {
      const page = (await (await call("GET", "/api/observers/dlq")).json()) as {
        data: { id: string; event_id: string; error_code: string | null }[];
      };
      return page.data.find((d) => d.event_id === event.id);
    }, "the dead letter");
    const logs = (await (await call("GET", `/api/observers/${id}/logs`)).json()) as {
      data: { event_id: string; event_type: string; status: string }[];
    };
    expect(logs.data).toEqual([
      expect.objectContaining({ event_id: event.id, event_type: "SCHEDULE", status: "failed" }),
    ]);
    receiver.reply(() => ({ status: 204 }));
    expect((await call("POST", `/api/observers/dlq/${dead.id}/retry`)).status).toBeLessThan(300);
    const [, replayed] = await receiver.waitFor(2);
    expect(replayed?.headers["webhook-id"]).toBe(receiver.requests[0]?.headers["webhook-id"]);
    expect(JSON.parse(replayed?.text ?? "")).toMatchObject({
      event_id: event.id,
      event_type: "SCHEDULE",
      after: { payload: { n: 1 } },
    });
  });

  it("refuses a one-off event that is not an instant, too far, too large, or not the caller's", async () => {
    const created = await call("POST", "/api/observers", {
      name: "one-off-bad",
      actions: [{ type: "webhook", url: `${receiver.url}/never` }],
    });
    const { id } = (await created.json()) as { id: string };
    const post = (body: unknown) => call("POST", `/api/observers/${id}/schedule`, body);
    expect(await issues(await post({ run_at: "tomorrow" }))).toEqual([
      { path: "run_at", message: "must be an instant (RFC 3339, such as 2030-01-01T09:00:00Z)" },
    ]);
    expect(await issues(await post({ run_at: "2999-01-01T00:00:00Z" }))).toEqual([
      { path: "run_at", message: "must be at most 366 days ahead" },
    ]);
    expect(
      await issues(await post({ run_at: new Date().toISOString(), payload: "x".repeat(70_000) })),
    ).toEqual([{ path: "payload", message: "must be at most 65536 bytes as JSON" }]);
    expect(await issues(await post({ run_at: new Date().toISOString(), extra: 1 }))).toHaveLength(
      1,
    );
    const missing = await call(
      "POST",
      "/api/observers/00000000-0000-4000-8000-000000000000/schedule",
      {
        run_at: new Date().toISOString(),
      },
    );
    expect(missing.status).toBe(404);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_event e
      JOIN core.tb_observer o ON o.pk_observer = e.fk_observer WHERE o.id = ${id}`;
    expect(row?.n).toBe(0);
  });
});
