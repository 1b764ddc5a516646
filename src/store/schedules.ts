/**
 * Scheduled events (docs/time.md): a scheduled observer's ticks, claimed in PostgreSQL so that
 * each fires once however many runtimes run, and one-off events posted through the API. Both are
 * rows of core.tb_observer_event whose deliveries (one per action) wait in
 * core.tb_observer_delivery until their instant, like any other.
 */

import { ConflictError } from "../errors.ts";
import type { JsonValue } from "../json.ts";
import { latestTick, nextTick } from "../observers/schedule.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { isUuid, tenantCondition } from "./common.ts";
import { arrayColumn } from "./pg-array.ts";

/** Scheduled observers one `fireDueSchedules` looks at, at most (the rest on its next call). */
const SCHEDULE_BATCH = 500;

/** What one `fireDueSchedules` did. */
export interface ScheduleRound {
  /** Ticks this call claimed and fired. */
  fired: number;
  /** Deliveries those ticks created (due at their tick, plus each action's `delay_ms`). */
  deliveries: number;
  /** When the soonest scheduled observer is due next (epoch ms), or null when none is. */
  nextRunAt: number | null;
  /** The batch was full: call again at once. */
  more: boolean;
}

interface DueRow {
  pk: string;
  schedule: string;
  timezone: string | null;
  next_run_ms: number | null;
  /** The schedule its next_run_at was computed from differs (or there is none yet). */
  stale: boolean;
}

/**
 * Fires the scheduled observers due at `now` (epoch ms, the runtime's clock). For each, in one
 * statement: moves `next_run_at` from the value read to the first tick after `now`
 * (compare-and-set: of several runtimes reading the same row, one moves it), and only then
 * creates the tick's event and a delivery per action, due at the tick. Catch-up rule: however
 * many ticks passed since `next_run_at` (downtime), one fires, the latest at or before `now`,
 * with that instant as `scheduled_at`. An observer seen for the first time, or whose schedule or
 * time zone changed, gets its first tick after `now` and fires nothing yet.
 */
export async function fireDueSchedules(sql: SqlExecutor, now: number): Promise<ScheduleRound> {
  const rows = await sql.query<DueRow>(
    `SELECT o.pk_observer::text AS pk, o.schedule, o.timezone,
       (extract(epoch FROM s.next_run_at) * 1000)::float8 AS next_run_ms,
       s.fk_observer IS NULL OR s.schedule <> o.schedule
         OR s.timezone IS DISTINCT FROM o.timezone AS stale
     FROM core.tb_observer o
     LEFT JOIN core.tb_observer_schedule s ON s.fk_observer = o.pk_observer
     WHERE o.schedule IS NOT NULL AND o.event_type = 'SCHEDULE' AND o.deleted_at IS NULL
       AND o.enabled
       AND (s.fk_observer IS NULL OR s.schedule <> o.schedule
         OR s.timezone IS DISTINCT FROM o.timezone OR s.next_run_at <= $1::timestamptz)
     ORDER BY s.next_run_at NULLS FIRST
     LIMIT ${SCHEDULE_BATCH}`,
    [new Date(now).toISOString()],
  );
  const plans: {
    pk: string;
    schedule: string;
    timezone: string | null;
    old: string | null;
    next: string;
    tick: string | null;
  }[] = [];
  for (const row of rows) {
    const next = nextTick(row.schedule, row.timezone, now);
    // A schedule that never fires again (a date in the past) keeps a next run far away.
    const nextIso = new Date(next ?? Date.UTC(9999, 0, 1)).toISOString();
    const old = row.next_run_ms == null ? null : new Date(Number(row.next_run_ms)).toISOString();
    if (row.stale || row.next_run_ms == null) {
      plans.push({ ...row, old, next: nextIso, tick: null });
      continue;
    }
    const latest = latestTick(row.schedule, row.timezone, now);
    const tick = Math.max(latest ?? Number(row.next_run_ms), Number(row.next_run_ms));
    plans.push({ ...row, old, next: nextIso, tick: new Date(tick).toISOString() });
  }
  let fired = 0;
  let deliveries = 0;
  if (plans.length > 0) {
    const [result] = await sql.query<{ fired: number; deliveries: number }>(
      `WITH u AS (
         SELECT * FROM unnest($1::text::bigint[], $2::text::text[], $3::text::text[],
           $4::text::timestamptz[], $5::text::timestamptz[], $6::text::timestamptz[])
           AS u(pk, schedule, timezone, old, next, tick)
       ),
       started AS (
         INSERT INTO core.tb_observer_schedule AS s (fk_observer, schedule, timezone, next_run_at)
         SELECT u.pk, u.schedule, u.timezone, u.next FROM u WHERE u.tick IS NULL
         ON CONFLICT (fk_observer) DO UPDATE SET schedule = EXCLUDED.schedule,
           timezone = EXCLUDED.timezone, next_run_at = EXCLUDED.next_run_at, updated_at = now()
         WHERE s.schedule <> EXCLUDED.schedule OR s.timezone IS DISTINCT FROM EXCLUDED.timezone
       ),
       claimed AS (
         UPDATE core.tb_observer_schedule s
         SET next_run_at = u.next, last_run_at = u.tick, updated_at = now()
         FROM u
         WHERE u.tick IS NOT NULL AND s.fk_observer = u.pk AND s.next_run_at = u.old
           AND s.schedule = u.schedule AND s.timezone IS NOT DISTINCT FROM u.timezone
         RETURNING s.fk_observer, u.tick
       ),
       ticks AS (
         INSERT INTO core.tb_observer_event (fk_observer, kind, scheduled_at, fk_customer_org)
         SELECT c.fk_observer, 'schedule', c.tick, o.fk_customer_org
         FROM claimed c JOIN core.tb_observer o ON o.pk_observer = c.fk_observer
         ON CONFLICT DO NOTHING
         RETURNING pk_observer_event, id, fk_observer, scheduled_at, fk_customer_org
       ),
       created AS (
         ${INSERT_EVENT_DELIVERIES("ticks")}
       )
       SELECT (SELECT count(*) FROM ticks)::int AS fired,
         (SELECT count(*) FROM created)::int AS deliveries`,
      [
        arrayColumn(plans, (p) => p.pk),
        arrayColumn(plans, (p) => p.schedule),
        arrayColumn(plans, (p) => p.timezone),
        arrayColumn(plans, (p) => p.old),
        arrayColumn(plans, (p) => p.next),
        arrayColumn(plans, (p) => p.tick),
      ],
    );
    fired = result?.fired ?? 0;
    deliveries = result?.deliveries ?? 0;
  }
  const [soonest] = await sql.query<{ at: number | null }>(
    `SELECT (extract(epoch FROM min(s.next_run_at)) * 1000)::float8 AS at
     FROM core.tb_observer_schedule s JOIN core.tb_observer o ON o.pk_observer = s.fk_observer
     WHERE o.schedule IS NOT NULL AND o.deleted_at IS NULL AND o.enabled`,
  );
  return {
    fired,
    deliveries,
    nextRunAt: soonest?.at == null ? null : Number(soonest.at),
    more: rows.length >= SCHEDULE_BATCH,
  };
}

/**
 * The deliveries of the events a CTE named `events` returned (pk_observer_event, id, fk_observer,
 * scheduled_at, fk_customer_org): one per action of the observer, due at the event's instant
 * plus the action's `delay_ms`, with a webhook-id derived like a change's.
 */
const INSERT_EVENT_DELIVERIES = (events: string) =>
  `INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_observer_event,
     action_index, fk_customer_org, next_attempt_at)
   SELECT md5(ev.id::text || ':' || ev.fk_observer || ':' || i)::uuid, ev.id, ev.fk_observer,
     ev.pk_observer_event, i, ev.fk_customer_org,
     ev.scheduled_at + COALESCE((o.actions -> i ->> 'delay_ms')::bigint, 0) * interval '1 millisecond'
   FROM ${events} ev JOIN core.tb_observer o ON o.pk_observer = ev.fk_observer
   CROSS JOIN LATERAL generate_series(0, jsonb_array_length(o.actions) - 1) AS i
   RETURNING 1`;

/** A one-off event, as `POST /api/observers/{id}/schedule` answers it. */
export interface ScheduledEvent {
  id: string;
  observer_id: string;
  run_at: string;
  payload: JsonValue;
  /** Deliveries created: one per action of the observer. */
  deliveries: number;
  created_at: string;
}

/**
 * Schedules a one-off event of observer `observerId` (Hasura's one-off scheduled triggers): its
 * actions run at `runAt` with `payload` (as `after.payload` of a SCHEDULE event). Null when the
 * observer is absent, deleted or another tenant's; `ConflictError` when it is disabled (nothing
 * is scheduled: a disabled observer runs nothing).
 */
export async function scheduleOneOff(
  sql: SqlExecutor,
  observerId: string,
  event: { runAt: string; payload: JsonValue },
  options: { tenant?: string | null; actor?: string | null } = {},
): Promise<ScheduledEvent | null> {
  if (!isUuid(observerId)) return null;
  const rows = await sql.query<
    Omit<ScheduledEvent, "payload"> & { payload: string; enabled: boolean }
  >(
    `WITH o AS (
       SELECT pk_observer, fk_customer_org, enabled FROM core.tb_observer
       WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 4)}
     ),
     ev AS (
       INSERT INTO core.tb_observer_event (fk_observer, kind, scheduled_at, payload,
         fk_customer_org, created_by)
       SELECT o.pk_observer, 'one_off', $2::timestamptz, $3::text::jsonb, o.fk_customer_org,
         $5::text
       FROM o WHERE o.enabled
       RETURNING pk_observer_event, id, fk_observer, scheduled_at, fk_customer_org, payload,
         created_at
     ),
     created AS (
       ${INSERT_EVENT_DELIVERIES("ev")}
     )
     SELECT o.enabled, ev.id::text AS id, $1::text AS observer_id,
       to_char(ev.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS run_at,
       ev.payload::text AS payload,
       (SELECT count(*) FROM created)::int AS deliveries,
       to_char(ev.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
     FROM o LEFT JOIN ev ON true`,
    [
      observerId,
      event.runAt,
      JSON.stringify(event.payload),
      options.tenant ?? null,
      options.actor ?? null,
    ],
  );
  const row = rows[0];
  if (!row) return null;
  if (!row.enabled) {
    throw new ConflictError(
      `observer ${JSON.stringify(observerId)} is disabled: enable it before scheduling an event (a disabled observer runs nothing)`,
    );
  }
  const { enabled: _enabled, ...scheduled } = row;
  return { ...scheduled, payload: JSON.parse(row.payload) as JsonValue };
}
