/**
 * Replays (docs/delivery.md): an observer's actions delivered again for the retained changes of
 * `[since, until)` that match its current condition: what the API starts, reads and cancels. A
 * replay row is worked through in pages by whichever runtime holds its lease
 * (src/store/replay-pages.ts).
 *
 * A replayed delivery is a new delivery with a new webhook-id, a digest of (replay, change,
 * observer, action): receivers deduplicate on webhook-id, so re-sending the original id would be
 * dropped as a duplicate by exactly the receivers a replay is for; a digest (not a random id)
 * keeps a page written twice from making two.
 */
import { ConfigError, ConflictError, LimitError, NotFoundError } from "../errors.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import { type BacktestResult, backtestObserver } from "./backtest.ts";
import {
  isoColumn,
  isUuid,
  type Page,
  type PageRequest,
  pageBounds,
  sqlState,
  type TenantScope,
  tenantCondition,
  toPage,
  UNIQUE_VIOLATION,
} from "./common.ts";
import { readLive } from "./observers.ts";
import { timeRange } from "./time-range.ts";

/** A replay as the API shows it. */
export interface Replay {
  id: string;
  observer_id: string;
  since: string;
  until: string;
  status: "running" | "done" | "cancelled" | "failed";
  /** Changes of the range that matched the observer so far. */
  matched: number;
  /** Deliveries created for them (one per action). */
  created: number;
  /** Changes read so far, and in the range when it started. */
  scanned: number;
  total: number;
  error: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** Bounds of a replay. */
export interface ReplayLimits {
  /** Changes (of the observer's entity and event types) one replay may cover (default 100 000). */
  maxChanges?: number;
  /** Longest range, in days (default 31). */
  maxRangeDays?: number;
}

/** What `POST /api/observers/{id}/replay` with `dry_run` answers. */
export interface ReplayDryRun {
  dry_run: true;
  since: string;
  until: string;
  /** Changes in range of the observer's entity and event types (and tenant). */
  considered: number;
  /** Of those, the changes its current condition matches: what a replay would deliver. */
  matched: number;
  /** Deliveries a replay would create (`matched` × actions). */
  deliveries: number;
}

const DEFAULT_MAX_CHANGES = 100_000;

/**
 * A range bound as the caller gave it: milliseconds, or microseconds when it has them (as the dry
 * run answers; `isoColumn` would show a range [.000500, .000501) as one instant).
 */
function boundColumn(column: string, alias: string): string {
  const utc = `${column} AT TIME ZONE 'UTC'`;
  return `CASE WHEN to_char(${utc}, 'US') LIKE '%000'
    THEN to_char(${utc}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    ELSE to_char(${utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END AS ${alias}`;
}

const REPLAY_COLUMNS = `r.id::text AS id, o.id::text AS observer_id, ${boundColumn("r.since", "since")},
  ${boundColumn("r.until", "until")}, r.status, r.matched::float8 AS matched, r.created::float8 AS created,
  r.scanned::float8 AS scanned, r.total::float8 AS total, r.error, r.created_by,
  ${isoColumn("r.created_at")}, ${isoColumn("r.updated_at")}, ${isoColumn("r.finished_at")}`;

/**
 * Starts a replay of observer `id` over `[since, until)` (or, `dryRun`, counts what it would
 * deliver). Refused: a range with `since >= until` or longer than `maxRangeDays` (400/422), more
 * than `maxChanges` changes (422 `REPLAY_TOO_LARGE`), a disabled observer (409: enable it, or
 * it would deliver what it skips), a replay of it already running (409).
 */
export async function startReplay(
  sql: SqlExecutor,
  id: string,
  request: { since: string; until: string; dryRun?: boolean },
  options: TenantScope & { actor?: string | null; limits?: ReplayLimits } = {},
): Promise<Replay | ReplayDryRun> {
  const stored = await readLive(sql, id, options);
  if (stored.event_type === "SCHEDULE") {
    throw new ConflictError("a scheduled observer watches no changes: there is nothing to replay");
  }
  const maxChanges = options.limits?.maxChanges ?? DEFAULT_MAX_CHANGES;
  // Checked (400 naming the field) and normalised to the microsecond, as the backtest reads them.
  const range = timeRange({ since: request.since, until: request.until });
  if (range.since === range.until) {
    throw new ConfigError([{ path: "since", message: "must be before until" }]);
  }
  await checkRetained(sql, range.until ?? request.until);
  const counted: BacktestResult = await backtestObserver(sql, {
    observer: {
      entity_type: stored.entity_type,
      event_type: stored.event_type,
      condition_expression: stored.condition_expression,
      fk_customer_org: stored.fk_customer_org,
    },
    since: request.since,
    until: request.until,
    sampleLimit: 0,
    scanLimit: maxChanges,
    ...(options.limits?.maxRangeDays === undefined
      ? {}
      : { maxRangeDays: options.limits.maxRangeDays }),
  });
  if (counted.truncated) {
    throw new LimitError(
      "REPLAY_TOO_LARGE",
      `the range holds more than ${maxChanges} changes of this observer's entity and event types, the most one replay covers (OBSERVERS_BACKTEST_MAX_ROWS bounds replays too): replay a narrower range`,
      maxChanges,
    );
  }
  const actions = (JSON.parse(stored.actions) as unknown[]).length;
  if (request.dryRun === true) {
    return {
      dry_run: true,
      since: counted.since,
      until: counted.until,
      considered: counted.considered,
      matched: counted.fired,
      deliveries: counted.fired * actions,
    };
  }
  if (!stored.enabled) {
    throw new ConflictError("the observer is disabled: enable it before replaying");
  }
  try {
    const rows = await sql.query<Replay>(
      `WITH o AS (
         SELECT pk_observer, id, fk_customer_org FROM core.tb_observer
         WHERE id = $1::uuid AND deleted_at IS NULL
       ),
       bounds AS (
         SELECT min(transaction_id) AS first_txid, max(transaction_id) AS last_txid
         FROM core.tb_entity_change_log
         WHERE created_at >= $2::text::timestamptz AND created_at < $3::text::timestamptz
       ),
       r AS (
         INSERT INTO core.tb_observer_replay (fk_observer, fk_customer_org, since, until, total,
           cursor_txid, cursor_id, end_txid, created_by, status, finished_at)
         SELECT o.pk_observer, o.fk_customer_org, $2::text::timestamptz, $3::text::timestamptz,
           $4::bigint, COALESCE(b.first_txid, '0'), 0, COALESCE(b.last_txid, '0'), $5::text,
           CASE WHEN b.first_txid IS NULL THEN 'done' ELSE 'running' END,
           CASE WHEN b.first_txid IS NULL THEN now() END
         FROM o, bounds b
         RETURNING *
       )
       SELECT ${REPLAY_COLUMNS} FROM r JOIN o ON o.pk_observer = r.fk_observer`,
      [id, counted.since, counted.until, counted.considered, options.actor ?? null],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError(`no observer with id ${quoted(id)}`);
    return replayOf(row);
  } catch (error) {
    if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
    throw new ConflictError(
      "a replay of this observer is already running: wait for it or cancel it",
      { cause: error },
    );
  }
}

/**
 * Refuses a range that ends before the oldest change still retained (pruned by
 * `OBSERVERS_CHANGE_LOG_RETENTION_DAYS`): there is nothing left to replay, and saying so beats
 * a replay that silently finds nothing. A range that only starts before it replays what is left.
 */
async function checkRetained(sql: SqlExecutor, until: string): Promise<void> {
  // Compared in SQL: created_at and the bound have microseconds, which Date would cut.
  const rows = await sql.query<{ oldest: string | null; outside: boolean | null }>(
    `SELECT ${isoColumn("min(created_at)", "oldest")},
       min(created_at) >= $1::text::timestamptz AS outside
     FROM core.tb_entity_change_log`,
    [until],
  );
  const oldest = rows[0]?.oldest ?? null;
  if (rows[0]?.outside === true) {
    throw new LimitError(
      "REPLAY_OUTSIDE_RETENTION",
      `the range ends before the oldest change in the change log (${oldest}): nothing in it can be replayed (changes older than OBSERVERS_CHANGE_LOG_RETENTION_DAYS are pruned, and none are captured before a table is tracked)`,
      0,
    );
  }
}

/** One replay (a tenant-bound caller's only); `NotFoundError` otherwise. */
export async function getReplay(
  sql: SqlExecutor,
  replayId: string,
  scope: TenantScope = {},
): Promise<Replay> {
  if (!isUuid(replayId)) throw replayNotFound(replayId);
  const rows = await sql.query<Replay>(
    `SELECT ${REPLAY_COLUMNS} FROM core.tb_observer_replay r
     JOIN core.tb_observer o ON o.pk_observer = r.fk_observer
     WHERE r.id = $1::uuid AND ${tenantCondition("o.fk_customer_org", 2)}`,
    [replayId, scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) throw replayNotFound(replayId);
  return replayOf(row);
}

/** An observer's replays, newest first. */
export async function listReplays(
  sql: SqlExecutor,
  observerId: string,
  request: PageRequest & TenantScope,
): Promise<Page<Replay>> {
  await readLive(sql, observerId, request);
  const { page, limit, offset } = pageBounds(request);
  const [rows, counts] = await Promise.all([
    sql.query<Replay>(
      `SELECT ${REPLAY_COLUMNS} FROM core.tb_observer_replay r
       JOIN core.tb_observer o ON o.pk_observer = r.fk_observer
       WHERE o.id = $1::uuid ORDER BY r.pk_observer_replay DESC LIMIT $2::integer OFFSET $3::bigint`,
      [observerId, limit, offset],
    ),
    sql.query<{ total: string }>(
      `SELECT count(*)::text AS total FROM core.tb_observer_replay r
       JOIN core.tb_observer o ON o.pk_observer = r.fk_observer WHERE o.id = $1::uuid`,
      [observerId],
    ),
  ]);
  return toPage(rows.map(replayOf), page, limit, Number(counts[0]?.total ?? 0));
}

/**
 * Cancels a running replay: it creates no more deliveries (a page being written when the cancel
 * lands is refused by its cursor check). Deliveries it created already stay pending: cancel them
 * with a bulk cancel. A replay that has ended answers 409.
 */
export async function cancelReplay(
  sql: SqlExecutor,
  replayId: string,
  scope: TenantScope = {},
): Promise<Replay> {
  const current = await getReplay(sql, replayId, scope);
  if (current.status !== "running") {
    throw new ConflictError(`the replay has ended (${current.status}): there is nothing to cancel`);
  }
  await sql.query(
    `UPDATE core.tb_observer_replay
     SET status = 'cancelled', finished_at = now(), updated_at = now(), lease_owner = NULL
     WHERE id = $1::uuid AND status = 'running'`,
    [replayId],
  );
  return getReplay(sql, replayId, scope);
}

function replayOf(row: Replay): Replay {
  return {
    ...row,
    matched: Number(row.matched),
    created: Number(row.created),
    scanned: Number(row.scanned),
    total: Number(row.total),
  };
}

function replayNotFound(id: string): NotFoundError {
  return new NotFoundError(`no replay with id ${quoted(id)}`);
}
