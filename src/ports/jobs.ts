import type { JsonValue } from "../json.ts";

/** Long-running work handed off by the `job` action, to be run by the runtime's queue. */
export interface JobRequest {
  /** The queue (a named lane) the job goes to. */
  queue: string;
  /** The task name the queue's workers dispatch on. */
  task: string;
  payload: JsonValue;
  /** Idempotency key: enqueueing the same key twice yields one job (retries of one delivery). */
  key: string;
  maxAttempts: number | null;
}

/** The runtime's job queue (PostgreSQL-backed on servers, Cloudflare Queues on Workers). */
export interface JobQueue {
  enqueue(job: JobRequest, signal: AbortSignal): Promise<{ id: string }>;
}
