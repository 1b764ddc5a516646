/**
 * The queue kinds that live in the observers' PostgreSQL database: `builtin` (core.tb_job, run by
 * handlers registered with `observers.jobs.register`) and `graphile-worker` (its `add_job` in the
 * same database). Any runtime with the SQL client has both; the Worker adds `cloudflare-queues`.
 */
import { ActionFailure } from "../actions/types.ts";
import { stringifyJson } from "../json.ts";
import type { JobQueue, JobQueues } from "../ports/jobs.ts";
import type { SqlClient } from "../ports/sql.ts";
import { sqlState } from "../store/common.ts";
import { recordHandOff, setExternalId } from "../store/job-enqueue.ts";
import { liveTasks } from "../store/job-leases.ts";
import { createJobDoorbell, type JobDoorbell } from "./doorbell.ts";
import { createEnqueueBatcher } from "./enqueue-batcher.ts";

/** Options of `createSqlJobQueues`. */
export interface SqlJobQueuesOptions {
  /** Tasks registered in this process (before or after start): known even before announced. */
  localTasks?: () => Iterable<string>;
  /**
   * Rung after each builtin enqueue has committed (doorbell.ts): this process's runner shares it.
   * Default one of the queue's own over `sql`, which rings other processes only.
   */
  doorbell?: JobDoorbell;
}

/**
 * `builtin`: one row per job in core.tb_job, once per delivery. Enqueues are autocommit
 * statements without a NOTIFY, batched across concurrent actions (enqueue-batcher.ts); the
 * doorbell rings once each has committed.
 */
export function builtinJobQueue(sql: SqlClient, options: SqlJobQueuesOptions = {}): JobQueue {
  const doorbell = options.doorbell ?? createJobDoorbell({ sql });
  const enqueue = createEnqueueBatcher(sql, () => doorbell.ring());
  return {
    enqueue: (job) => enqueue(job),
    ring: () => doorbell.ring(),
    async check({ task }) {
      // The server knows its tasks when some process (this one, or a live one) registered any:
      // then a task none of them handles is refused. Knowing none, the job will wait visibly.
      const known = await liveTasks(sql);
      for (const local of options.localTasks?.() ?? []) known.add(local);
      if (known.size === 0 || known.has(task)) return null;
      return {
        field: "task",
        message: `no live process has registered task ${task} (registered: ${[...known].sort().join(", ")}); register it with observers.jobs.register (docs/jobs.md)`,
      };
    },
  };
}

/** SQLSTATEs of a database without graphile-worker's schema or function. */
const MISSING_SCHEMA = new Set(["3F000", "42883", "42P01"]);

/**
 * `graphile-worker`: `graphile_worker.add_job` in a transaction that also records the hand-off in
 * core.tb_job under the delivery id, so a delivery adds its job exactly once, even when it is
 * retried after a lost reply or a crash (the record is found and nothing is added).
 */
export function graphileWorkerQueue(sql: SqlClient): JobQueue {
  return {
    async enqueue(job) {
      try {
        return await sql.transaction(async (tx) => {
          const record = await recordHandOff(tx, job);
          if (!record.created) return { id: record.id };
          const rows = await tx.query<{ id: string }>(
            `SELECT (graphile_worker.add_job($1, $2::text::json, job_key => $3,
               max_attempts => $4::int)).id::text AS id`,
            [job.task, stringifyJson(job.payload), job.jobKey, job.maxAttempts],
          );
          const external = rows[0]?.id;
          if (external !== undefined) await setExternalId(tx, record.pk, external);
          return { id: record.id };
        });
      } catch (error) {
        const state = sqlState(error);
        if (state !== undefined && MISSING_SCHEMA.has(state)) {
          throw new ActionFailure(
            "permanent",
            "GRAPHILE_WORKER_MISSING",
            "the graphile_worker schema (graphile_worker.add_job) is missing in the observers' database: run graphile-worker's migrations there (start a graphile-worker runner once)",
            { cause: error },
          );
        }
        throw error;
      }
    },
  };
}

/** Both SQL-backed queue kinds over one client. */
export function createSqlJobQueues(sql: SqlClient, options: SqlJobQueuesOptions = {}): JobQueues {
  return {
    builtin: builtinJobQueue(sql, options),
    "graphile-worker": graphileWorkerQueue(sql),
  };
}
