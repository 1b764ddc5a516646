/**
 * Job metrics (docs/metrics.md), each counted in one place:
 * - `jobEnqueued`: by the `job` action (src/actions/job.ts) once its queue took the job, for every
 *   queue kind (builtin, graphile-worker, cloudflare-queues).
 * - `jobAttemptEnded`: by the runner's `execute` (src/jobs/runner.ts) when an attempt of a builtin
 *   job ends: succeeded, failed for good, or failed and retried.
 * - `jobsCancelled`: by the `/api/jobs` cancel routes (src/api/routes/jobs.ts), with how many the
 *   statement cancelled.
 * Labels take fixed values only: never a task name (tasks are the host's, unbounded).
 */

import { metrics } from "../metrics/observers.ts";
import type { JobQueueKind } from "../ports/jobs.ts";

const enqueued = metrics.counter(
  "fraiseql_observer_jobs_enqueued_total",
  "Jobs a job action handed to its queue, by queue kind.",
  ["queue"],
);

const completed = metrics.counter(
  "fraiseql_observer_jobs_completed_total",
  "Builtin job attempts that ended here, by outcome: succeeded, failed (for good), retried; cancelled through the API.",
  ["status"],
);

/** FraiseQL's job duration buckets go to 300 s; jobs here may run for hours. */
const JOB_BUCKETS = [0.01, 0.1, 1, 5, 30, 60, 300, 1800, 3600];

const duration = metrics.histogram(
  "fraiseql_observer_job_duration_seconds",
  "How long builtin job attempts ran, in seconds, by outcome (succeeded or failed).",
  ["status"],
  JOB_BUCKETS,
);

const byQueue: Record<JobQueueKind, ReturnType<typeof enqueued.labels>> = {
  builtin: enqueued.labels("builtin"),
  "graphile-worker": enqueued.labels("graphile-worker"),
  "cloudflare-queues": enqueued.labels("cloudflare-queues"),
};

/** How an attempt of a builtin job ended, as the metrics count it. */
export type JobAttemptEnd = "succeeded" | "failed" | "retried";

const ended: Record<JobAttemptEnd | "cancelled", ReturnType<typeof completed.labels>> = {
  succeeded: completed.labels("succeeded"),
  failed: completed.labels("failed"),
  retried: completed.labels("retried"),
  cancelled: completed.labels("cancelled"),
};

const durations = {
  succeeded: duration.labels("succeeded"),
  failed: duration.labels("failed"),
};

/** A job action's queue took a job. */
export function jobEnqueued(queue: JobQueueKind): void {
  byQueue[queue].inc();
}

/** An attempt of a builtin job ended after `ms` (a shutdown's or a lost lease's is not counted). */
export function jobAttemptEnded(end: JobAttemptEnd, ms: number): void {
  ended[end].inc();
  durations[end === "succeeded" ? "succeeded" : "failed"].observe(ms / 1000);
}

/** `count` jobs were cancelled through the API. */
export function jobsCancelled(count: number): void {
  if (count > 0) ended.cancelled.inc(count);
}
