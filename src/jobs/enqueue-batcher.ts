/**
 * Builtin enqueues batched across concurrent `job` actions: one statement (one commit) in flight
 * at a time, and the enqueues that arrive while it runs go together in the next one, so a burst of
 * deliveries costs a few commits instead of one each, while a lone enqueue starts at once. Each
 * job keeps the single enqueue's rule (`enqueueBuiltinJobs`): once per delivery, job_key
 * replacement. A batch holds at most one job per (tenant, job_key) and per delivery; later ones
 * wait for the next batch, in order. A batch that fails is retried one job at a time, so one bad
 * row fails only its own delivery.
 */
import type { JobRequest } from "../ports/jobs.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { enqueueBuiltinJob, enqueueBuiltinJobs } from "../store/job-enqueue.ts";

/** Jobs one statement enqueues at most. */
export const MAX_ENQUEUE_BATCH = 100;

interface Waiting {
  job: JobRequest;
  resolve: (enqueued: { id: string }) => void;
  reject: (error: unknown) => void;
}

/** Enqueues builtin jobs in batches; `onCommitted` runs after each statement that enqueued. */
export function createEnqueueBatcher(
  sql: SqlExecutor,
  onCommitted: () => void,
  maxBatch = MAX_ENQUEUE_BATCH,
): (job: JobRequest) => Promise<{ id: string }> {
  let queue: Waiting[] = [];
  let flushing = false;

  /** The next batch, taken from the queue: first come first, skipping keys already in it. */
  function take(): Waiting[] {
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    const taken = new Set<string>();
    for (const waiting of queue) {
      const { job } = waiting;
      const key = job.jobKey === null ? null : `${job.tenant ?? ""}\u0000${job.jobKey}`;
      const delivery = `\u0001${job.deliveryId}`;
      if (batch.length >= maxBatch || taken.has(delivery) || (key !== null && taken.has(key))) {
        rest.push(waiting);
        // A skipped key stays taken, so its later jobs keep their order behind it.
        if (key !== null) taken.add(key);
        taken.add(delivery);
        continue;
      }
      batch.push(waiting);
      if (key !== null) taken.add(key);
      taken.add(delivery);
    }
    queue = rest;
    return batch;
  }

  /** A wake-up hint: its failure must not stop the batches (polling stays the truth). */
  function ring(): void {
    try {
      onCommitted();
    } catch {
      // Nothing to do: the runners' next poll finds the jobs.
    }
  }

  async function one(waiting: Waiting): Promise<void> {
    try {
      waiting.resolve(await enqueueBuiltinJob(sql, waiting.job));
    } catch (error) {
      waiting.reject(error);
      return;
    }
    ring();
  }

  async function run(batch: Waiting[]): Promise<void> {
    if (batch.length === 1 && batch[0]) return one(batch[0]);
    let ids: Map<string, string>;
    try {
      ids = await enqueueBuiltinJobs(
        sql,
        batch.map((waiting) => waiting.job),
      );
    } catch {
      for (const waiting of batch) await one(waiting);
      return;
    }
    for (const waiting of batch) {
      const id = ids.get(waiting.job.deliveryId);
      if (id === undefined) waiting.reject(new Error("enqueue returned no job"));
      else waiting.resolve({ id });
    }
    ring();
  }

  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) await run(take());
    } finally {
      flushing = false;
    }
  }

  return (job) =>
    new Promise((resolve, reject) => {
      queue.push({ job, resolve, reject });
      if (!flushing) void flush();
    });
}
