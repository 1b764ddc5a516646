import type { SqlExecutor } from "../ports/sql.ts";
import { releaseNext } from "./claims.ts";
import { sqlState } from "./common.ts";
import { type OutcomeRecord, recordOutcomes } from "./outcomes.ts";
import { storableText } from "./pg-array.ts";
import { RELAXED_COMMIT_CTE } from "./relaxed-commit.ts";

/** The error code of the log row that stands in for an outcome the database refused. */
export const OUTCOME_QUARANTINED = "OUTCOME_QUARANTINED";

/** `lease_owner` of a delivery parked because not even its quarantine row could be written. */
export const PARKED_OWNER = "quarantined";

/** Longest error text kept on a quarantine row. */
const MAX_MESSAGE = 2_000;

/**
 * How a failed write of outcome rows is handled, by SQLSTATE:
 * - `row`: class 22 (data exception) or 23 (integrity constraint violation). The rows themselves
 *   are refused: writing the same row again fails again, writing the others may well succeed.
 * - `maybe-row`: what triggers raise to refuse a row (P0001 `raise_exception`, P0004
 *   `assert_failure`) and class 44 (`WITH CHECK OPTION`). A trigger may refuse one row or every
 *   row: a record is set aside when its minimal quarantine row is accepted, or when others of
 *   its batch were written; otherwise the batch is handed back.
 * - `transient`: everything else (connection lost, server shutting down, out of resources, a
 *   serialization failure, read-only after a failover, an error without a SQLSTATE). It may pass,
 *   and is not about one row: the batch is written again later, whole, as before.
 */
export function failureKind(error: unknown): "row" | "maybe-row" | "transient" {
  const state = sqlState(error);
  if (state === undefined || !/^[0-9A-Z]{5}$/.test(state)) return "transient";
  if (state.startsWith("22") || state.startsWith("23")) return "row";
  if (state === "P0001" || state === "P0004" || state.startsWith("44")) return "maybe-row";
  return "transient";
}

/** An outcome the database refused, and what was written in its place. */
export interface QuarantinedOutcome {
  record: OutcomeRecord;
  /** Why the database refused it. */
  error: unknown;
  /**
   * `logged`: a minimal log row (`OUTCOME_QUARANTINED`) was written and the delivery ended;
   * `parked`: not even that row could be written, so the delivery was parked (never due again,
   * `lease_owner = 'quarantined'`); `unrecorded`: nothing could be written (the runtime's own log
   * line is the only trace; an unparked delivery comes due again when its lease runs out).
   */
  how: "logged" | "parked" | "unrecorded";
}

/** What `recordOutcomesIsolating` did with a batch. */
export interface IsolatedWrite {
  /** Written as they were. */
  recorded: OutcomeRecord[];
  /** Refused by the database, set aside so they block nothing. */
  quarantined: QuarantinedOutcome[];
  /**
   * A failure that may pass (connection lost, or a database refusing every row): `unwritten` are
   * to be written again later.
   */
  failure: { error: unknown; unwritten: OutcomeRecord[] } | null;
}

/**
 * Single records refused, even as a minimal quarantine row, before anything of their batch was
 * written, after which the batch is handed back instead of split further: the database may be
 * refusing every write (a trigger, say), and finding that out row by row would cost two
 * statements per record.
 */
const MAX_DOUBTFUL = 8;

/**
 * Records a batch of outcomes (`recordOutcomes`, one statement) so that no single record can hold
 * up the others. When the database refuses the batch for something in its rows (`failureKind`),
 * the batch is split in halves and each written on its own, down to the refused records, which are
 * quarantined (`writeQuarantineRow`, else `parkDelivery`); the others are recorded as usual, at
 * the cost of about two statements per halving. A record refused in a way that might concern
 * every row (`maybe-row`) whose quarantine row is refused too is only parked once other records
 * of the batch were written; if none were, the batch comes back, those records last (so that the
 * next try starts with the others). A failure that may pass stops the write, and what was not
 * written yet comes back in `failure`, to be written again later. Never throws.
 */
export async function recordOutcomesIsolating(
  sql: SqlExecutor,
  owner: string,
  outcomes: readonly OutcomeRecord[],
): Promise<IsolatedWrite> {
  const result: IsolatedWrite = { recorded: [], quarantined: [], failure: null };
  // Parts still to write, in order: a refused part is replaced by its two halves.
  const parts: OutcomeRecord[][] = outcomes.length > 0 ? [[...outcomes]] : [];
  const doubtful: { record: OutcomeRecord; error: unknown }[] = [];
  const handBack = (error: unknown, rest: OutcomeRecord[][]): IsolatedWrite => {
    result.failure = { error, unwritten: [...rest.flat(), ...doubtful.map((d) => d.record)] };
    return result;
  };
  for (let part = parts.shift(); part !== undefined; part = parts.shift()) {
    try {
      await recordOutcomes(sql, owner, part);
      result.recorded.push(...part);
    } catch (error: unknown) {
      const kind = failureKind(error);
      if (kind === "transient") return handBack(error, [part, ...parts]);
      const [only] = part;
      if (part.length > 1 || only === undefined) {
        const half = Math.ceil(part.length / 2);
        parts.unshift(part.slice(0, half), part.slice(half));
        continue;
      }
      try {
        if (await writeQuarantineRow(sql, owner, only, error)) {
          result.quarantined.push({ record: only, error, how: "logged" });
        } else if (kind === "row" || result.recorded.length > 0) {
          result.quarantined.push({
            record: only,
            error,
            how: await parkDelivery(sql, owner, only),
          });
        } else {
          doubtful.push({ record: only, error });
          if (doubtful.length >= MAX_DOUBTFUL) return handBack(error, parts);
        }
      } catch (failure: unknown) {
        return handBack(failure, [part, ...parts]);
      }
    }
  }
  const [first] = doubtful;
  if (first === undefined) return result;
  if (result.recorded.length === 0) return handBack(first.error, []);
  // Others were written: it was these records the database refused, twice each.
  for (let next = doubtful.shift(); next !== undefined; next = doubtful.shift()) {
    try {
      const how = await parkDelivery(sql, owner, next.record);
      result.quarantined.push({ record: next.record, error: next.error, how });
    } catch (failure: unknown) {
      doubtful.unshift(next);
      return handBack(failure, []);
    }
  }
  return result;
}

/**
 * Sets aside one outcome the database refused (`error`): ends its delivery (a replayed dead letter
 * goes back to `pending`) and writes a minimal log row in its place, with only the columns that
 * identify it (observer, delivery, event, action, attempt, tenant), status `failed` (recording
 * it failed; the message gives the attempt's own status) and error code `OUTCOME_QUARANTINED`
 * with what was refused and why, so that it shows among the failures. The delivery ends even
 * when its outcome was a retry: a record that cannot be written would fail the same way after
 * every later attempt, and the row says so for an operator to act on. False when the database
 * refuses this row too (nothing changed); throws only what may pass.
 */
export async function writeQuarantineRow(
  sql: SqlExecutor,
  owner: string,
  record: OutcomeRecord,
  error: unknown,
): Promise<boolean> {
  try {
    await sql.query(
      `WITH ${RELAXED_COMMIT_CTE},
       ended AS (
         DELETE FROM core.tb_observer_delivery
         WHERE pk_observer_delivery = $1::text::bigint AND lease_owner = $2
         RETURNING fk_observer_dlq, fk_observer AS o_observer, action_index AS o_action,
           ordering_key AS o_key, ordering_txid AS o_txid, fk_entity_change_log AS o_change,
           pk_observer_delivery AS o_pk
       ),
       released AS (
         UPDATE core.tb_observer_dlq SET status = 'pending'
         WHERE pk_observer_dlq = ANY(ARRAY(SELECT fk_observer_dlq FROM ended))
       ),
       released_next AS (${releaseNext("(SELECT * FROM ended WHERE o_key IS NOT NULL)")})
       INSERT INTO core.tb_observer_log (fk_observer, fk_entity_change_log, delivery_id, event_id,
         status, action_index, action_type, completed_at, error_code, error_message,
         attempt_number, max_attempts, fk_customer_org)
       SELECT $3::text::bigint, $4::text::bigint, $5::uuid, $6::uuid, 'failed', $7::integer, $8,
         $9::timestamptz, $10, $11, GREATEST($12::integer, 1), $13::integer, $14::text::bigint
       FROM relaxed`,
      [
        record.pk,
        owner,
        record.fk_observer,
        record.fk_entity_change_log,
        record.delivery_id,
        record.event_id,
        record.action_index,
        record.action_type === null ? null : storableText(record.action_type),
        record.completed_at,
        OUTCOME_QUARANTINED,
        quarantineMessage(record, error),
        record.attempt,
        record.max_attempts,
        record.fk_customer_org,
      ],
    );
    return true;
  } catch (failure: unknown) {
    if (failureKind(failure) === "transient") throw failure;
    return false;
  }
}

/**
 * Parks the delivery of an outcome whose records the database refuses, even the minimal one:
 * `lease_owner = 'quarantined'` and due at `infinity`, so it is never claimed again and its action
 * never runs again; an operator finds it in the delivery table. `unrecorded` when that is refused
 * too, or the record has no delivery (a log-only row): then only the runtime's log line is left.
 * Throws only what may pass.
 */
export async function parkDelivery(
  sql: SqlExecutor,
  owner: string,
  record: OutcomeRecord,
): Promise<"parked" | "unrecorded"> {
  if (record.pk === null) return "unrecorded";
  try {
    const parked = await sql.query(
      `UPDATE core.tb_observer_delivery SET next_attempt_at = 'infinity', lease_owner = $3
       WHERE pk_observer_delivery = $1::text::bigint AND lease_owner = $2 RETURNING 1`,
      [record.pk, owner, PARKED_OWNER],
    );
    return parked.length > 0 ? "parked" : "unrecorded";
  } catch (failure: unknown) {
    if (failureKind(failure) === "transient") throw failure;
    return "unrecorded";
  }
}

/** The quarantine row's message: what the outcome was, and why the database refused it. */
export function quarantineMessage(record: OutcomeRecord, error: unknown): string {
  const state = sqlState(error);
  const reason = error instanceof Error ? error.message : String(error);
  const outcome = [
    `status ${record.status}`,
    `disposition ${record.disposition}`,
    record.http_status === null ? null : `HTTP ${record.http_status}`,
    record.error_code === null ? null : `error ${record.error_code}`,
  ]
    .filter((part) => part !== null)
    .join(", ");
  const sqlstate = state === undefined ? "" : ` (SQLSTATE ${state})`;
  const ended = record.pk === null ? "" : "; the delivery was ended so that it blocks nothing";
  const text = `the outcome of this attempt (${outcome}) could not be recorded and was quarantined: ${reason}${sqlstate}${ended}`;
  return storableText(text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text);
}
