/**
 * A defect of postgres.js (3.4.9) that a long-running process must survive. On every new
 * connection the driver runs its own query for the server's array types (`fetch_types`) and drops
 * that promise: if the connection fails during it (terminated by `pg_terminate_backend`, a
 * PostgreSQL restart, a failover, a statement timeout), the rejection is unhandled, and Bun, Node
 * and Deno end the process on an unhandled rejection. Nothing is lost by ignoring it: the
 * connection is gone, the application's own queries fail or succeed on their own promises, and the
 * pool opens another connection. Reported upstream as porsager/postgres#1192, #1205 and #1223.
 * postgres.js 4 loads types once per pool and handles a failed load itself (src/pool.js), with
 * another query text: a host's postgres.js 4 pool never needs this guard, and does not trip it.
 */

/** Whether an unhandled rejection is that dropped array-type query failing (and nothing else). */
export function isArrayTypeFetchFailure(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  // postgres.js attaches the failed query's text to the error (non-enumerable `query`).
  const query = (reason as { query?: unknown }).query;
  return (
    typeof query === "string" &&
    query.includes("pg_catalog.pg_type") &&
    query.includes("b.typarray") &&
    query.includes("a.typcategory = 'A'")
  );
}
