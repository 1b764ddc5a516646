import type { SqlExecutor } from "../ports/sql.ts";

/** What one take from a shared token bucket gave. */
export interface TokenGrant {
  granted: number;
  /** Tokens left in the bucket after the take (fractional: it refills continuously). */
  left: number;
}

/**
 * Takes up to `want` tokens from the bucket of (observer, action), shared by every server
 * (`core.tb_observer_rate_limit`): refilled at `rate` per second since it was last taken from, up
 * to `burst`. One statement (an upsert), so concurrent takes serialise on the row and never hand
 * out more than the bucket holds.
 */
export async function takeTokens(
  sql: SqlExecutor,
  fkObserver: string,
  actionIndex: number,
  rate: number,
  burst: number,
  want: number,
): Promise<TokenGrant> {
  const avail = `LEAST($3::float8, b.tokens + $5::float8
    * GREATEST(0, extract(epoch FROM now() - b.refilled_at)))`;
  const rows = await sql.query<{ granted: number; left: number }>(
    `INSERT INTO core.tb_observer_rate_limit AS b (fk_observer, action_index, tokens, last_grant,
       granted_total)
     VALUES ($1::text::bigint, $2, $3::float8 - LEAST(floor($3::float8), $4),
       LEAST(floor($3::float8), $4), LEAST(floor($3::float8), $4))
     ON CONFLICT (fk_observer, action_index) DO UPDATE SET
       tokens = ${avail} - LEAST(floor(${avail}), $4),
       last_grant = LEAST(floor(${avail}), $4),
       granted_total = b.granted_total + LEAST(floor(${avail}), $4),
       refilled_at = now()
     RETURNING last_grant AS granted, tokens AS left`,
    [fkObserver, actionIndex, burst, want, rate],
  );
  const row = rows[0];
  return { granted: Number(row?.granted ?? 0), left: Number(row?.left ?? 0) };
}
