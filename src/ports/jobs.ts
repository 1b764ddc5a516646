import type { JsonValue } from "../json.ts";

/** Where a `job` action's jobs go (docs/jobs.md). */
export const JOB_QUEUE_KINDS = ["builtin", "graphile-worker", "cloudflare-queues"] as const;
export type JobQueueKind = (typeof JOB_QUEUE_KINDS)[number];

/** Long-running work handed off by the `job` action, to be run by a queue. */
export interface JobRequest {
  /** The task name the queue's workers dispatch on (already namespaced where policy says so). */
  task: string;
  payload: JsonValue;
  /** graphile-worker `job_key` semantics: one pending job per key (per tenant); null: none. */
  jobKey: string | null;
  /** Null: the queue's default (the handler's `retry.max_attempts`, graphile-worker's 25). */
  maxAttempts: number | null;
  /** The delivery: enqueueing twice for one delivery yields one job (a retry after a lost reply). */
  deliveryId: string;
  eventId: string;
  observerId: string;
  /** The observer's tenant, or null for a global observer. */
  tenant: string | null;
  /** `cloudflare-queues`: the Worker's queue binding the observer names. */
  binding?: string;
}

/** What a queue says about an action it cannot take, at create time: the field and why. */
export interface JobTargetIssue {
  /** The action's field (`task`, `binding`). */
  field: string;
  message: string;
}

/** One queue kind of the runtime. */
export interface JobQueue {
  enqueue(job: JobRequest, signal: AbortSignal): Promise<{ id: string }>;
  /**
   * Checks an action's target when an observer is written: a task no live process handles, a
   * binding the Worker lacks. Null: fine, or it cannot tell (the job then waits visibly).
   */
  check?(target: { task: string; binding?: string | undefined }): Promise<JobTargetIssue | null>;
  /**
   * Jobs of this queue became due outside `enqueue` (an API retry, committed): wakes the
   * processes that run them. Absent where the queue's own service dispatches.
   */
  ring?(): void;
}

/** The runtime's job queues, by kind: a kind it lacks is refused (API) or fails permanently. */
export type JobQueues = Partial<Record<JobQueueKind, JobQueue>>;
