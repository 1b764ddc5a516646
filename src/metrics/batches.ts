/**
 * Batch metrics (docs/metrics.md), counted in one place: the executor's `executeBatch`
 * (src/executor/executor.ts) when a batch's one attempt ends. Its members' attempts are counted
 * by `recordAttempt` like any other delivery's.
 */
import type { AttemptStatus } from "../executor/outcome.ts";
import { metrics } from "./observers.ts";

const batches = metrics.counter(
  "fraiseql_observer_batches_sent_total",
  "Batched requests (webhook batch) that ended, by action type and status: success, failed, timeout or cancelled.",
  ["action_type", "status"],
);

/** Sizes up to the largest batch allowed (1000). */
const SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

const sizes = metrics.histogram(
  "fraiseql_observer_batch_size",
  "Deliveries per batched request, by action type.",
  ["action_type"],
  SIZE_BUCKETS,
);

/** Counts one batch attempt of `size` deliveries that ended in `status`. */
export function recordBatch(actionType: string, status: AttemptStatus, size: number): void {
  batches.labels(actionType, status).inc();
  sizes.labels(actionType).observe(size);
}
