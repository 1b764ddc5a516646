/**
 * Pause, resume, replay and bulk cancel over HTTP: what the responses show, validation (a 4xx
 * naming the field), the 409s, and tenant isolation of the cancel filter.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { runReplayRound } from "../../src/runtime/replay-runner.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-delivery-control";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const tokens = { t7: "", t8: "" };
const log = [{ type: "log", message_template: "{{ id }}" }];

beforeAll(async () => {
  db = await createTestDatabase("api_delivery_control");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
  });
  call = apiClient(app, ADMIN);
  tokens.t7 = (
    await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" })
  ).token;
  tokens.t8 = (
    await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" })
  ).token;
});
afterAll(() => db?.drop());

/** A change of entity `id` at `at` (ISO). */
async function change(id: string, at: string, org: number | null = null): Promise<void> {
  await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id,
      object_data, fk_customer_org, created_at)
    VALUES ('Order', 'UPDATE', ${id}, ${db.sql.json({ op: "u", before: { total: 0 }, after: { total: Number(id) } })}, ${org}, ${at})`;
}

/** A pending delivery of observer `observerId` for the latest change of entity `entity`. */
async function pending(observerId: string, entity: string): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer,
      fk_entity_change_log, action_index, fk_customer_org)
    SELECT gen_random_uuid(), c.id, o.pk_observer, c.pk_entity_change_log, 0, c.fk_customer_org
    FROM core.tb_observer o, core.tb_entity_change_log c
    WHERE o.id = ${observerId} AND c.object_id = ${entity}
    ORDER BY c.pk_entity_change_log DESC LIMIT 1`;
}

describe("pause and resume", () => {
  it("shows the paused state in GET and the list, and resumes", async () => {
    const id = await insertObserver(db.sql, { name: "p", actions: log });
    const paused = await call("POST", `/api/observers/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ id, paused: true, ordering: "unordered" });
    const got = (await (await call("GET", `/api/observers/${id}`)).json()) as {
      paused: boolean;
      paused_at: string | null;
    };
    expect(got.paused).toBe(true);
    expect(got.paused_at).not.toBeNull();
    const list = (await (await call("GET", "/api/observers")).json()) as {
      data: { id: string; paused: boolean }[];
    };
    expect(list.data.find((o) => o.id === id)?.paused).toBe(true);
    // Explain: it fires, but holds its deliveries.
    await change("5", "2026-02-01T00:00:00Z");
    const [stored] = await db.sql<{ id: string }[]>`
      SELECT id::text AS id FROM core.tb_entity_change_log WHERE object_id = '5'`;
    const explained = (await (
      await call("GET", `/api/observers/events/${stored?.id}/explain`)
    ).json()) as { observers: { observer_id: string; fired: boolean; reason: string }[] };
    expect(explained.observers.find((o) => o.observer_id === id)).toMatchObject({
      fired: true,
      reason: "paused",
    });
    const resumed = await call("POST", `/api/observers/${id}/resume`);
    expect(await resumed.json()).toMatchObject({ paused: false, paused_at: null });
    // Another tenant's key: as if it did not exist.
    await problem(
      await call("POST", `/api/observers/${id}/pause`, undefined, { token: tokens.t7 }),
      404,
    );
  });

  it("accepts ordering per_entity and refuses other values, naming the field", async () => {
    const created = await call("POST", "/api/observers", {
      name: "ordered",
      entity_type: "Order",
      ordering: "per_entity",
      actions: log,
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; ordering: string };
    expect(body.ordering).toBe("per_entity");
    const bad = await problem(
      await call("PATCH", `/api/observers/${body.id}`, { ordering: "sorted" }),
      400,
    );
    expect(bad.issues?.map((issue) => issue.path)).toEqual(["ordering"]);
    const back = await call("PATCH", `/api/observers/${body.id}`, { ordering: "unordered" });
    expect(((await back.json()) as { ordering: string }).ordering).toBe("unordered");
  });
});

describe("replay", () => {
  it("counts (dry run), starts in the background, shows progress, and refuses bad cases", async () => {
    const id = await insertObserver(db.sql, {
      name: "r",
      event_type: "UPDATE",
      condition_expression: "total > 1",
      actions: [...log, ...log],
    });
    for (const n of ["1", "2", "3"]) await change(n, `2026-03-01T00:0${n}:00Z`);
    await change("4", "2026-03-02T00:00:00Z");
    const range = { since: "2026-03-01T00:00:00Z", until: "2026-03-01T01:00:00Z" };
    const dry = await call("POST", `/api/observers/${id}/replay`, { ...range, dry_run: true });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({
      dry_run: true,
      considered: 3,
      matched: 2,
      deliveries: 4,
    });
    const backwards = await problem(
      await call("POST", `/api/observers/${id}/replay`, {
        since: range.until,
        until: range.since,
      }),
      400,
    );
    expect(backwards.issues?.map((issue) => issue.path)).toEqual(["since"]);
    await problem(
      await call("POST", `/api/observers/${id}/replay`, { since: "yesterday", until: range.until }),
      400,
    );
    const long = await problem(
      await call("POST", `/api/observers/${id}/replay`, {
        since: "2020-01-01T00:00:00Z",
        until: "2026-03-02T00:00:00Z",
      }),
      422,
    );
    expect(long.code).toBe("BACKTEST_RANGE_TOO_LONG");
    // Says what the limit is about: the caller asked for a replay, not a backtest.
    expect(long.detail).toMatch(/replay may cover at most 31 days/);
    // A range before the oldest retained change: nothing there to replay.
    const pruned = await problem(
      await call("POST", `/api/observers/${id}/replay`, {
        since: "2025-01-01T00:00:00Z",
        until: "2025-01-02T00:00:00Z",
      }),
      422,
    );
    expect(pruned.code).toBe("REPLAY_OUTSIDE_RETENTION");
    // Not "still retained": nothing may ever have been captured there (a young database).
    expect(pruned.detail).toMatch(/before the oldest change in the change log/);
    const started = await call("POST", `/api/observers/${id}/replay`, range);
    expect(started.status).toBe(202);
    const replay = (await started.json()) as { id: string; status: string; total: number };
    expect(replay).toMatchObject({ status: "running", total: 3 });
    expect(started.headers.get("location")).toBe(`/api/observers/replays/${replay.id}`);
    const again = await problem(await call("POST", `/api/observers/${id}/replay`, range), 409);
    expect(again.detail).toMatch(/already running/);
    const one = await call("GET", `/api/observers/replays/${replay.id}`);
    expect(await one.json()).toMatchObject({ id: replay.id, observer_id: id, status: "running" });
    const list = (await (await call("GET", `/api/observers/${id}/replays`)).json()) as {
      data: { id: string }[];
      total_count: number;
    };
    expect(list.data.map((r) => r.id)).toEqual([replay.id]);
    // Another tenant's key sees neither.
    await problem(
      await call("GET", `/api/observers/replays/${replay.id}`, undefined, { token: tokens.t8 }),
      404,
    );
    const cancelled = await call("POST", `/api/observers/replays/${replay.id}/cancel`);
    expect(await cancelled.json()).toMatchObject({ status: "cancelled", created: 0 });
    await problem(await call("POST", `/api/observers/replays/${replay.id}/cancel`), 409);
    // A disabled observer cannot replay (it would deliver what it skips).
    await call("POST", `/api/observers/${id}/disable`);
    await problem(await call("POST", `/api/observers/${id}/replay`, range), 409);
  });
});

describe("replay bounds", () => {
  it("keeps the microseconds of since and until (created_at has them)", async () => {
    const id = await insertObserver(db.sql, {
      name: "micro",
      event_type: "UPDATE",
      condition_expression: "total == 6",
      actions: log,
    });
    await change("60", "2026-03-03T00:00:00Z"); // an older change: the range is retained
    await change("6", "2026-03-03T00:05:00.000500Z");
    // Set as text: the client would read a string as a Date, to the millisecond.
    await db.sql`UPDATE core.tb_entity_change_log
      SET created_at = ${"2026-03-03T00:05:00.000500Z"}::text::timestamptz WHERE object_id = '6'`;
    const count = async (since: string, until: string) => {
      const response = await call("POST", `/api/observers/${id}/replay`, {
        since,
        until,
        dry_run: true,
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { matched: number };
      return body.matched;
    };
    // since is inclusive, until exclusive, to the microsecond.
    expect(await count("2026-03-03T00:05:00.000500Z", "2026-03-03T00:05:00.000501Z")).toBe(1);
    expect(await count("2026-03-03T00:05:00.000501Z", "2026-03-03T00:05:00.002Z")).toBe(0);
    expect(await count("2026-03-03T00:04:00Z", "2026-03-03T00:05:00.000600Z")).toBe(1);
    expect(await count("2026-03-03T00:04:00Z", "2026-03-03T00:05:00.000500Z")).toBe(0);

    // The replay itself reads its pages to the microsecond too, finding what the count found.
    const started = await call("POST", `/api/observers/${id}/replay`, {
      since: "2026-03-03T00:05:00.000500Z",
      until: "2026-03-03T00:05:00.000501Z",
    });
    expect(started.status).toBe(202);
    const replay = (await started.json()) as { id: string; total: number };
    expect(replay).toMatchObject({
      total: 1,
      since: "2026-03-03T00:05:00.000500Z",
      until: "2026-03-03T00:05:00.000501Z",
    });
    await runReplayRound({ sql: db.client, owner: "test", leaseMs: 10_000, stopped: () => false });
    const done = await call("GET", `/api/observers/replays/${replay.id}`);
    expect(await done.json()).toMatchObject({ status: "done", scanned: 1, matched: 1, created: 1 });
    // Left for the next tests: none of this observer's deliveries.
    await db.sql`DELETE FROM core.tb_observer_delivery d USING core.tb_observer o
      WHERE o.pk_observer = d.fk_observer AND o.id = ${id}`;
  });
});

describe("bulk cancel", () => {
  it("needs a filter, and a tenant-bound key cancels only its tenant's", async () => {
    const mine = await insertObserver(db.sql, { name: "t7-obs", actions: log, fk_customer_org: 7 });
    const theirs = await insertObserver(db.sql, {
      name: "t8-obs",
      actions: log,
      fk_customer_org: 8,
    });
    await change("70", "2026-04-01T00:00:00Z", 7);
    await change("80", "2026-04-01T00:00:00Z", 8);
    await pending(mine, "70");
    await pending(theirs, "80");
    const none = await problem(await call("POST", "/api/observers/deliveries/cancel", {}), 400);
    expect(none.detail).toMatch(/at least one filter/);
    await problem(
      await call("POST", "/api/observers/deliveries/cancel", { action_index: -1 }),
      400,
    );
    // A filter that is not a UUID: a 400 naming it (not a 404 about an observer).
    const notUuid = await problem(
      await call("POST", "/api/observers/deliveries/cancel", { observer_id: "nope" }),
      400,
    );
    expect(notUuid.issues?.map((issue) => issue.path)).toEqual(["observer_id"]);
    // Instants PostgreSQL cannot read (year 0, or past 9999 once in UTC): a 400 naming the
    // field, not a failed query.
    for (const created_before of ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"]) {
      const bad = await problem(
        await call("POST", "/api/observers/deliveries/cancel", { created_before }),
        400,
      );
      expect(bad.issues?.map((issue) => issue.path)).toEqual(["created_before"]);
    }
    const dry = await call(
      "POST",
      "/api/observers/deliveries/cancel",
      { entity_type: "Order", dry_run: true },
      { token: tokens.t7 },
    );
    expect(await dry.json()).toEqual({ dry_run: true, cancelled: 1, in_flight: 0, more: false });
    const done = await call(
      "POST",
      "/api/observers/deliveries/cancel",
      { entity_type: "Order" },
      { token: tokens.t7 },
    );
    expect(await done.json()).toEqual({ dry_run: false, cancelled: 1, in_flight: 0, more: false });
    const left = await db.sql<{ observer: string }[]>`SELECT o.id::text AS observer
      FROM core.tb_observer_delivery d JOIN core.tb_observer o ON o.pk_observer = d.fk_observer`;
    expect(left.map((row) => row.observer)).toEqual([theirs]);
    // The cancelled one is in the activity log.
    const logs = (await (await call("GET", `/api/observers/${mine}/logs`)).json()) as {
      data: { status: string; error_code: string | null }[];
    };
    expect(logs.data).toMatchObject([{ status: "cancelled", error_code: "CANCELLED" }]);
  });

  it("answers 404 for an observer_id that does not exist, is deleted or is another tenant's", async () => {
    const theirs = await insertObserver(db.sql, {
      name: "t8-only",
      actions: log,
      fk_customer_org: 8,
    });
    const gone = await insertObserver(db.sql, { name: "deleted-one", actions: log });
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${gone}`;
    const cases: [string, string][] = [
      [crypto.randomUUID(), ADMIN],
      [gone, ADMIN],
      [theirs, tokens.t7],
    ];
    for (const [observer_id, token] of cases) {
      for (const dry_run of [true, false]) {
        const missing = await problem(
          await call(
            "POST",
            "/api/observers/deliveries/cancel",
            { observer_id, dry_run },
            { token },
          ),
          404,
        );
        expect(missing.detail).toBe(`no observer with id "${observer_id}"`);
      }
    }
    // Its own tenant's key, and an admin key, find it.
    const found = await call(
      "POST",
      "/api/observers/deliveries/cancel",
      { observer_id: theirs, dry_run: true },
      { token: tokens.t8 },
    );
    expect(await found.json()).toEqual({ dry_run: true, cancelled: 0, in_flight: 0, more: false });
  });
});

describe("not found", () => {
  it("quotes at most 100 characters of an id from the path", async () => {
    const id = "x".repeat(5_000);
    for (const path of [
      `/api/observers/${id}/pause`,
      `/api/observers/replays/${id}`,
      `/api/nowhere/${id}`,
    ]) {
      const response = await call(path.includes("pause") ? "POST" : "GET", path);
      const body = await problem(response, 404);
      expect(body.detail.length).toBeLessThan(200);
      expect(body.detail).toMatch(/"[^"]{100}"\.\.\. \(\d{4} characters\)$/);
    }
  });
});
