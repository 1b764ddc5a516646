/**
 * A Redis-compatible key-value store whose keys the `cache` action invalidates: a Redis client
 * over TCP (`adapters/drivers/redis`) where the runtime has sockets, or the Upstash-compatible REST API
 * (`createUpstashCacheStore`) on Workers.
 */
export interface CacheStore {
  /** `UNLINK` these exact keys; resolves to how many existed. */
  unlink(keys: readonly string[], signal: AbortSignal): Promise<number>;
  /** One `SCAN <cursor> MATCH <pattern> COUNT <count>` page; cursor "0" starts and ends a walk. */
  scan(
    pattern: string,
    cursor: string,
    count: number,
    signal: AbortSignal,
  ): Promise<{ cursor: string; keys: string[] }>;
}
