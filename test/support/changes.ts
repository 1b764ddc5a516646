/**
 * Change-log rows and their logged outcomes written with plain SQL, for the tests that explain
 * stored changes and backtest observers, in the store (test/integration/inspect.test.ts) and
 * over HTTP (test/integration/api-inspect.test.ts); and the backtest corpus both run on.
 */
import type postgres from "postgres";

/** A change-log row; everything left out takes a default (an `Order` INSERT of `{}`, id "1"). */
export interface ChangeSeed {
  entity?: string;
  type?: string;
  data?: Record<string, unknown> | null;
  before?: Record<string, unknown> | null;
  org?: number | null;
  at: string;
  objectId?: string;
}

/** Inserts a change-log row in the producer form; returns its event id. */
export async function insertChange(sql: postgres.Sql, seed: ChangeSeed): Promise<string> {
  const rows = await sql.unsafe<{ id: string }[]>(
    `INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data,
       object_data_before, fk_customer_org, created_at)
     VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6, $7::timestamptz)
     RETURNING id::text AS id`,
    [
      seed.entity ?? "Order",
      seed.type ?? "INSERT",
      seed.objectId ?? "1",
      seed.data === null ? null : JSON.stringify(seed.data ?? {}),
      seed.before == null ? null : JSON.stringify(seed.before),
      seed.org ?? null,
      seed.at,
    ],
  );
  return (rows[0] as { id: string }).id;
}

/** What one logged attempt of action 0 (a webhook) did. */
export interface OutcomeSeed {
  status: string;
  attempt: number;
  at: string;
  error_code?: string;
  error?: string;
}

/** Logs an attempt of an observer (by public id) on a change (by event id). */
export async function insertOutcome(
  sql: postgres.Sql,
  observerId: string,
  eventId: string,
  outcome: OutcomeSeed,
): Promise<void> {
  await sql`
    INSERT INTO core.tb_observer_log (fk_observer, event_id, status, action_index, action_type,
      attempt_number, max_attempts, error_code, error_message, created_at)
    SELECT pk_observer, ${eventId}::uuid, ${outcome.status}, 0, 'webhook', ${outcome.attempt}, 3,
      ${outcome.error_code ?? null}, ${outcome.error ?? null}, ${outcome.at}::timestamptz
    FROM core.tb_observer WHERE id = ${observerId}::uuid`;
}

// ---------------------------------------------------------------------------------------------
// The backtest corpus

/** Conditions alike on the corpus: one PostgreSQL can run, one it cannot (\d has no identical form). */
export const PORTABLE = "code matches '^[0-9]+$'";
export const EVALUATED = "code matches '^\\d+$'";

/** The range the corpus is read over: since inclusive, until exclusive. */
export const BACKTEST_RANGE = {
  since: "2026-01-01T00:00:00.000Z",
  until: "2026-01-01T07:00:00.000Z",
};

const BACKTEST_CHANGES: ChangeSeed[] = [
  { data: { code: "123" }, org: 7, at: "2026-01-01T00:00:00Z" }, // 0 fires (since is inclusive)
  {
    type: "UPDATE",
    data: { code: "abc" },
    before: { code: "x" },
    org: 7,
    at: "2026-01-01T01:00:00Z",
  }, // 1 false
  { data: { code: 5 }, org: 7, at: "2026-01-01T02:00:00Z" }, // 2 error: not a string
  { data: { other: 1 }, at: "2026-01-01T03:00:00Z" }, // 3 error: missing
  { data: { code: "9" }, org: 8, at: "2026-01-01T04:00:00Z" }, // 4 fires
  { entity: "User", data: { code: "1" }, org: 7, at: "2026-01-01T05:00:00Z" }, // 5 other entity
  { type: "DELETE", data: { code: "77" }, org: 7, at: "2026-01-01T06:00:00Z" }, // 6 fires
  { data: { code: "42" }, org: 7, at: "2026-01-01T07:00:00Z" }, // 7 out: until is exclusive
  { data: { code: "5" }, org: 7, at: "2025-12-31T23:59:59.999Z" }, // 8 out: before since
  { data: { code: "5" }, org: 7, at: "2026-01-01T00:30:00Z" }, // 9 fires; written last, earlier
];

/** Writes the corpus, row i with object id `b${i}`; returns the event ids in that order. */
export async function insertBacktestChanges(sql: postgres.Sql): Promise<string[]> {
  const eventIds: string[] = [];
  for (const seed of BACKTEST_CHANGES) {
    eventIds.push(await insertChange(sql, { ...seed, objectId: `b${eventIds.length}` }));
  }
  return eventIds;
}

/** A `PORTABLE` backtest of `Order` over BACKTEST_RANGE, any tenant and event type, in SQL. */
export function expectedBacktest(eventIds: string[]) {
  const sample = (index: number, createdAt: string, eventType = "INSERT") => ({
    event_id: eventIds[index],
    entity_type: "Order",
    entity_id: `b${index}`,
    event_type: eventType,
    created_at: createdAt,
  });
  return {
    method: "sql",
    ...BACKTEST_RANGE,
    considered: 7,
    fired: 4,
    errors: 2,
    truncated: false,
    // Earliest first.
    samples: [
      sample(0, "2026-01-01T00:00:00.000Z"),
      sample(9, "2026-01-01T00:30:00.000Z"),
      sample(4, "2026-01-01T04:00:00.000Z"),
      sample(6, "2026-01-01T06:00:00.000Z", "DELETE"),
    ],
  };
}
