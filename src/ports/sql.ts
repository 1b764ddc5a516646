/**
 * The SQL port: the one way the core talks to PostgreSQL. Adapters implement it over postgres.js
 * (`adapters/postgres`) or PGlite (`adapters/embedded`). Parameters are positional (`$1`, `$2`).
 */
export interface SqlExecutor {
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
}
