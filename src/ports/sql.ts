/**
 * The SQL port: the one way the core talks to PostgreSQL. Adapters implement it over postgres.js
 * (`adapters/drivers/postgres`) or PGlite (`adapters/drivers/embedded`). Parameters are positional (`$1`, `$2`).
 *
 * Conventions every statement of the core follows, so that any driver gives the same answers:
 * - JSON goes in as text and is cast in SQL (`$1::text::jsonb`): drivers disagree on how they
 *   serialise objects, none disagree on text.
 * - BIGINT, UUID and JSONB come back cast to `::text` where exactness matters (ids beyond 2^53,
 *   numbers like `100.00`); the core parses them itself.
 */
export interface SqlExecutor {
  /**
   * Runs `text` and resolves to its rows. Without params (omitted or empty), text may hold several
   * statements, and the rows are those of the last statement that returns rows; with params,
   * exactly one.
   */
  query<Row extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
}

/** Callbacks of a `LISTEN`. */
export interface ListenHandlers {
  /** A notification arrived on the channel. */
  onNotify(payload: string): void;
  /**
   * The listening connection was lost and is listening again: notifications sent in between are
   * gone, so the caller should look at the tables now.
   */
  onReconnect?(): void;
}

/** An active `LISTEN`, until `close`. */
export interface SqlListener {
  close(): Promise<void>;
}

/** A driver: queries, transactions, and LISTEN where the connection allows it. */
export interface SqlClient extends SqlExecutor {
  /**
   * Runs `fn` in one transaction on one connection: committed when `fn` resolves, rolled back when
   * it throws (the error is rethrown).
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * `LISTEN channel` on a dedicated connection that re-listens, with capped and jittered backoff,
   * after it drops. Absent where the connection cannot listen (Hyperdrive, transaction poolers):
   * the runtime then relies on polling alone.
   */
  listen?(channel: string, handlers: ListenHandlers): Promise<SqlListener>;
  /** Closes every connection. */
  close(): Promise<void>;
}
