/**
 * A CTE that turns `synchronous_commit` off for the statement's own transaction (a single
 * statement is one; no `SET`, no extra round trip, fine behind transaction poolers). The runtime's
 * bookkeeping statements (ingest writes, claims, outcome batches) carry it: they then commit
 * without waiting for their WAL flush, which on a busy server queues behind the producers' own
 * flushes and lengthens them in turn. Measured on the test machine at 1 000 single-row commits/s:
 * commit-to-webhook p50 and p95 about halved, and the producers' commit p99 from 34–298 ms to
 * 15–24 ms.
 *
 * It loses nothing: only a PostgreSQL crash can undo such a commit (the last few hundred
 * milliseconds at most), and undoing one repeats work. An ingest write rolls back whole (cursor
 * and deliveries together) and is matched again into the same webhook-ids; an undone claim or
 * outcome leaves the delivery leased, and it is attempted again, under the same webhook-id, when
 * the lease runs out. What can go missing is the log row of such an attempt. The API's writes
 * (observers, keys, replays) stay synchronous. The live feed flushes the WAL before it hands out a
 * position past such a commit (`readLivePositions`), so no live cursor refers to one a crash can
 * undo.
 */
export const RELAXED_COMMIT_CTE =
  "relaxed AS (SELECT set_config('synchronous_commit', 'off', true))";
