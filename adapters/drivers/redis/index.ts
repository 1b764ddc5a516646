export {
  createRedisCacheStore,
  type RedisCacheStore,
  type RedisCacheStoreOptions,
} from "./redis-cache-store.ts";
export {
  createRedisIngestDedup,
  type RedisIngestDedup,
  type RedisIngestDedupOptions,
} from "./redis-ingest-dedup.ts";
