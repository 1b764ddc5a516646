import type { SqlExecutor } from "../ports/sql.ts";
import { releaseNext } from "./claims.ts";
import { type ArrayValue, arrayColumn, arrayLiteral, storableText } from "./pg-array.ts";
import { RELAXED_COMMIT_CTE } from "./relaxed-commit.ts";

/**
 * What became of one claimed delivery's attempt, with what the log row and a dead letter need.
 * `discard` ends a delivery that can no longer run (its observer or action was deleted).
 */
export interface OutcomeRecord {
  /** The delivery row (`pk_observer_delivery`); null for log-only rows (conditions, unreadable changes). */
  pk: string | null;
  disposition: "done" | "retry" | "dead_letter" | "discard" | "log";
  status: "success" | "failed" | "timeout" | "cancelled" | "skipped";
  attempt: number;
  max_attempts: number;
  next_attempt: number | null;
  /** ISO timestamps. */
  next_at: string | null;
  started_at: string | null;
  completed_at: string;
  duration_ms: number | null;
  http_status: number | null;
  error_code: string | null;
  error_message: string | null;
  message: string | null;
  excerpt: string | null;
  fk_observer: string | null;
  observer_name: string | null;
  delivery_id: string | null;
  action_index: number | null;
  action_type: string | null;
  /** The change, for the log and (on dead letter) the DLQ's copy. */
  event_id: string;
  fk_entity_change_log: string | null;
  entity_type: string | null;
  entity_id: string | null;
  event_type: string | null;
  fk_customer_org: string | null;
  trace_id: string | null;
  change: DeadLetterChange | null;
  /** The batch the attempt went out in (docs/delivery.md, "Batches"): its id and size. */
  batch_id?: string | null;
  batch_size?: number | null;
  /**
   * A retry that waits for its destination's next probe (a failed probe, put back uncharged):
   * held for it like a deferred delivery, so the observer's `held` counts it and a close wakes it.
   */
  held_destination?: string | null;
  /** The attempt was an `on_dead_letter` action's: its `action_index` indexes `on_dead_letter`. */
  on_dead_letter?: boolean;
}

/** The attempt fields a record leaves empty unless it has them (no attempt ran, nothing answered). */
export const NO_ATTEMPT = {
  next_attempt: null,
  next_at: null,
  started_at: null,
  duration_ms: null,
  http_status: null,
  message: null,
  excerpt: null,
} as const satisfies Partial<OutcomeRecord>;

/** The change columns a dead letter keeps (JSON as text, exactly as stored). */
export interface DeadLetterChange {
  object_type: string;
  modification_type: string;
  object_id: string | null;
  object_data: string | null;
  object_data_before: string | null;
  tenant_id: string | null;
  transaction_id: string | null;
  created_at: string;
}

/** The columns of a log row: one array parameter each, from `$9` on, one element per outcome. */
const LOG_COLUMNS: readonly [
  name: string,
  type: string,
  value: (o: OutcomeRecord) => ArrayValue,
][] = [
  ["fk_observer", "bigint", (o) => o.fk_observer],
  ["fk_entity_change_log", "bigint", (o) => o.fk_entity_change_log],
  ["delivery_id", "uuid", (o) => o.delivery_id],
  ["event_id", "uuid", (o) => o.event_id],
  ["entity_type", "text", (o) => o.entity_type],
  ["entity_id", "text", (o) => o.entity_id],
  ["event_type", "text", (o) => o.event_type],
  ["status", "text", (o) => o.status],
  ["action_index", "integer", (o) => o.action_index],
  ["action_type", "text", (o) => o.action_type],
  ["started_at", "timestamptz", (o) => o.started_at],
  ["completed_at", "timestamptz", (o) => o.completed_at],
  ["duration_ms", "integer", (o) => o.duration_ms],
  ["error_code", "text", (o) => o.error_code],
  ["error_message", "text", (o) => o.error_message],
  ["attempt", "integer", (o) => o.attempt],
  ["max_attempts", "integer", (o) => o.max_attempts],
  ["next_retry_at", "timestamptz", (o) => (o.disposition === "retry" ? o.next_at : null)],
  ["message", "text", (o) => o.message],
  ["excerpt", "text", (o) => o.excerpt],
  ["http_status", "integer", (o) => o.http_status],
  ["trace_id", "text", (o) => o.trace_id],
  ["fk_customer_org", "bigint", (o) => o.fk_customer_org],
  ["batch_id", "uuid", (o) => o.batch_id ?? null],
  ["batch_size", "integer", (o) => o.batch_size ?? null],
  ["on_dead_letter", "boolean", (o) => (o.on_dead_letter === true ? true : null)],
];
const FIRST_LOG_PARAM = 9;
const LOG_ROWS = `unnest(${LOG_COLUMNS.map(
  ([, type], i) => `$${FIRST_LOG_PARAM + i}::text::${type}[]`,
).join(", ")}) AS o(${LOG_COLUMNS.map(([name]) => name).join(", ")})`;
/** The retries' held destinations, after the log columns (`OutcomeRecord.held_destination`). */
const RETRY_HELD_PARAM = FIRST_LOG_PARAM + LOG_COLUMNS.length;

/** What an ended delivery tells of its place in an entity's order (`releaseNext`'s heads). */
const ORDERING_RETURNING = `fk_observer AS o_observer, action_index AS o_action,
         ordering_key AS o_key, ordering_txid AS o_txid, fk_entity_change_log AS o_change,
         pk_observer_delivery AS o_pk`;
const ORDERING_RETURNING_D = `d.fk_observer AS o_observer, d.action_index AS o_action,
         d.ordering_key AS o_key, d.ordering_txid AS o_txid, d.fk_entity_change_log AS o_change,
         d.pk_observer_delivery AS o_pk`;

/** What a dead letter keeps, one recordset row per final failure. */
const DEAD_ROWS = `jsonb_to_recordset($7::text::jsonb) AS x(
  pk bigint, fk_observer bigint, observer_name text, delivery_id uuid, action_index integer,
  action_type text, event_id uuid, fk_entity_change_log bigint, fk_customer_org bigint,
  trace_id text, attempt integer, max_attempts integer, error_code text, error_message text,
  http_status integer, completed_at timestamptz, change jsonb)`;

/** What `on_dead_letter` needs of a dead letter just written (buried or requeued). */
const DEAD_LETTER_FIELDS = (q: string) => `${q}pk_observer_dlq, ${q}id, ${q}fk_observer,
  ${q}event_id, ${q}fk_entity_change_log, ${q}fk_customer_org, ${q}delivery_id, ${q}action_index,
  ${q}action_type, ${q}attempts, ${q}max_attempts, ${q}error_code, ${q}error_message,
  ${q}response_status_code, ${q}last_attempt_at, ${q}retry_count, ${q}dead_letter`;

/**
 * on_dead_letter (docs/delivery.md): each dead letter written in this statement queues one
 * delivery per action of its observer's `on_dead_letter`, unless it is itself the dead letter of
 * such a delivery (no loops). The failure travels in `dead_letter` (what the event shows); the
 * webhook-id is a digest of (dead letter, its replay count, action), so it is stable across the
 * delivery's retries, and a dead letter replayed and failing again reports under a new one.
 */
const ON_DEAD_LETTER_CTE = `alerted AS (
       INSERT INTO core.tb_observer_delivery (id, event_id, fk_observer, fk_entity_change_log,
         fk_dead_letter, action_index, fk_customer_org, dead_letter)
       SELECT md5('on_dead_letter:' || b.id || ':' || b.retry_count || ':' || (a.n - 1))::uuid,
         b.event_id, b.fk_observer, b.fk_entity_change_log, b.pk_observer_dlq, (a.n - 1)::integer,
         b.fk_customer_org,
         jsonb_build_object('dead_letter_id', b.id,
           'observer', jsonb_build_object('id', o.id, 'name', o.name),
           'action_index', b.action_index, 'action_type', b.action_type,
           'delivery_id', b.delivery_id, 'attempts', b.attempts, 'max_attempts', b.max_attempts,
           'error_code', b.error_code, 'error_message', b.error_message,
           'http_status', b.response_status_code,
           'failed_at', to_char(b.last_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
       FROM (SELECT * FROM buried UNION ALL SELECT * FROM requeued) b
         JOIN core.tb_observer o ON o.pk_observer = b.fk_observer AND o.deleted_at IS NULL
         CROSS JOIN LATERAL jsonb_array_elements(
           CASE WHEN jsonb_typeof(o.on_dead_letter) = 'array' THEN o.on_dead_letter ELSE '[]' END
         ) WITH ORDINALITY AS a(action, n)
       WHERE b.dead_letter IS NULL
     )`;

/**
 * Records a batch of outcomes in one statement: success deletes the delivery (and the dead letter
 * it replayed), a retry puts it back to wait until `next_at`, a final failure moves it to the DLQ
 * (or back into the dead letter it replayed), and every attempt gets its log row. Only rows still
 * leased by `owner` change: a delivery whose lease was lost belongs to whoever claimed it since.
 *
 * The statement is prepared once per connection and runs on its generic plan, so every part must
 * plan well without seeing its parameters: each disposition reaches the delivery table through
 * its own primary-key array (`pk = ANY(...)`), and only retries and dead letters, which carry
 * per-row values, join anything (a hash join on the pk).
 */
export async function recordOutcomes(
  sql: SqlExecutor,
  owner: string,
  outcomes: readonly OutcomeRecord[],
): Promise<void> {
  if (outcomes.length === 0) return;
  const done: string[] = [];
  const discarded: string[] = [];
  const retried: {
    pk: string[];
    attempt: (number | null)[];
    at: (string | null)[];
    held: (string | null)[];
  } = {
    pk: [],
    attempt: [],
    at: [],
    held: [],
  };
  const dead: OutcomeRecord[] = [];
  for (const o of outcomes) {
    if (o.pk === null) continue;
    if (o.disposition === "done") done.push(o.pk);
    else if (o.disposition === "discard") discarded.push(o.pk);
    else if (o.disposition === "retry") {
      retried.pk.push(o.pk);
      retried.attempt.push(o.next_attempt);
      retried.at.push(o.next_at);
      retried.held.push(o.held_destination ?? null);
    } else if (o.disposition === "dead_letter") dead.push(o);
  }
  await sql.query(
    `WITH ${RELAXED_COMMIT_CTE},
     finished AS (
       DELETE FROM core.tb_observer_delivery
       WHERE pk_observer_delivery = ANY($2::text::bigint[]) AND lease_owner = $1
       RETURNING fk_observer_dlq, ${ORDERING_RETURNING}
     ),
     resolved AS (
       DELETE FROM core.tb_observer_dlq
       WHERE pk_observer_dlq = ANY(ARRAY(SELECT fk_observer_dlq FROM finished))
     ),
     discarded AS (
       DELETE FROM core.tb_observer_delivery
       WHERE pk_observer_delivery = ANY($3::text::bigint[]) AND lease_owner = $1
       RETURNING fk_observer_dlq, ${ORDERING_RETURNING}
     ),
     -- A replay that cannot run (its observer or action is gone) leaves its dead letter waiting.
     released AS (
       UPDATE core.tb_observer_dlq SET status = 'pending'
       WHERE pk_observer_dlq = ANY(ARRAY(SELECT fk_observer_dlq FROM discarded))
     ),
     retried AS (
       UPDATE core.tb_observer_delivery d
       SET attempt = r.attempt, next_attempt_at = r.at, lease_owner = NULL,
         held_destination = r.held
       FROM unnest($4::text::bigint[], $5::text::integer[], $6::text::timestamptz[],
         $${RETRY_HELD_PARAM}::text::text[]) AS r(pk, attempt, at, held)
       WHERE d.pk_observer_delivery = ANY($4::text::bigint[]) AND d.pk_observer_delivery = r.pk
         AND d.lease_owner = $1
     ),
     dead AS (
       DELETE FROM core.tb_observer_delivery d USING ${DEAD_ROWS}
       WHERE d.pk_observer_delivery = ANY($8::text::bigint[]) AND d.pk_observer_delivery = x.pk
         AND d.lease_owner = $1
       RETURNING d.fk_observer_dlq, d.dead_letter AS reported, ${ORDERING_RETURNING_D}, x.*
     ),
     requeued AS (
       UPDATE core.tb_observer_dlq q
       SET status = 'pending', attempts = dead.attempt, max_attempts = dead.max_attempts,
           error_code = dead.error_code, error_message = dead.error_message,
           response_status_code = dead.http_status, last_attempt_at = dead.completed_at
       FROM dead
       WHERE q.pk_observer_dlq = ANY(ARRAY(SELECT fk_observer_dlq FROM dead))
         AND q.pk_observer_dlq = dead.fk_observer_dlq
       RETURNING ${DEAD_LETTER_FIELDS("q.")}
     ),
     -- An ordered delivery that left the table releases the next one of its entity (docs/delivery.md).
     released_next AS (${releaseNext(`(
       SELECT o_observer, o_action, o_key, o_txid, o_change, o_pk FROM finished WHERE o_key IS NOT NULL
       UNION ALL
       SELECT o_observer, o_action, o_key, o_txid, o_change, o_pk FROM discarded WHERE o_key IS NOT NULL
       UNION ALL
       SELECT o_observer, o_action, o_key, o_txid, o_change, o_pk FROM dead WHERE o_key IS NOT NULL)`)}
     ),
     buried AS (
       INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id, action_index,
         action_type, event_id, fk_entity_change_log, object_type, modification_type, object_id,
         object_data, object_data_before, fk_customer_org, tenant_id, trace_id, transaction_id,
         change_created_at, attempts, max_attempts, error_code, error_message,
         response_status_code, last_attempt_at, dead_letter)
       SELECT dead.fk_observer, dead.observer_name, dead.delivery_id, dead.action_index,
         dead.action_type, dead.event_id, dead.fk_entity_change_log, dead.change ->> 'object_type',
         dead.change ->> 'modification_type', dead.change ->> 'object_id',
         (dead.change ->> 'object_data')::jsonb, (dead.change ->> 'object_data_before')::jsonb,
         dead.fk_customer_org, (dead.change ->> 'tenant_id')::uuid, dead.trace_id,
         (dead.change ->> 'transaction_id')::xid8, (dead.change ->> 'created_at')::timestamptz,
         dead.attempt, dead.max_attempts, dead.error_code, dead.error_message, dead.http_status,
         dead.completed_at, dead.reported
       FROM dead WHERE dead.fk_observer_dlq IS NULL
       RETURNING ${DEAD_LETTER_FIELDS("")}
     ),
     ${ON_DEAD_LETTER_CTE}
     INSERT INTO core.tb_observer_log (fk_observer, fk_entity_change_log, delivery_id, event_id,
       entity_type, entity_id, event_type, status, action_index, action_type, started_at,
       completed_at, duration_ms, error_code, error_message, attempt_number, max_attempts,
       next_retry_at, response_payload, response_status_code, trace_id, fk_customer_org,
       request_payload)
     SELECT o.fk_observer, o.fk_entity_change_log, o.delivery_id, o.event_id, o.entity_type,
       o.entity_id, o.event_type, o.status, o.action_index, o.action_type, o.started_at,
       o.completed_at, o.duration_ms, o.error_code, o.error_message, o.attempt, o.max_attempts,
       o.next_retry_at,
       NULLIF(jsonb_strip_nulls(jsonb_build_object('message', o.message, 'excerpt', o.excerpt)), '{}'),
       o.http_status, o.trace_id, o.fk_customer_org,
       -- A batched attempt's batch, and whether it was an on_dead_letter action's; the request
       -- itself is never stored.
       NULLIF(jsonb_strip_nulls(jsonb_build_object('batch_id', o.batch_id,
         'batch_size', o.batch_size, 'on_dead_letter', o.on_dead_letter)), '{}')
     FROM relaxed, ${LOG_ROWS}`,
    [
      owner,
      arrayLiteral(done),
      arrayLiteral(discarded),
      arrayLiteral(retried.pk),
      arrayLiteral(retried.attempt),
      arrayLiteral(retried.at),
      JSON.stringify(dead.map(deadRow)),
      arrayLiteral(dead.map((o) => o.pk)),
      ...LOG_COLUMNS.map(([, , value]) => arrayColumn(outcomes, value)),
      arrayLiteral(retried.held),
    ],
  );
}

function deadRow(o: OutcomeRecord) {
  return {
    pk: o.pk,
    fk_observer: o.fk_observer,
    observer_name: o.observer_name,
    delivery_id: o.delivery_id,
    action_index: o.action_index,
    action_type: o.action_type,
    event_id: o.event_id,
    fk_entity_change_log: o.fk_entity_change_log,
    fk_customer_org: o.fk_customer_org,
    trace_id: o.trace_id,
    attempt: o.attempt,
    max_attempts: o.max_attempts,
    // JSON cannot carry NUL into jsonb either.
    error_code: o.error_code === null ? null : storableText(o.error_code),
    error_message: o.error_message === null ? null : storableText(o.error_message),
    http_status: o.http_status,
    completed_at: o.completed_at,
    change: o.change,
  };
}
