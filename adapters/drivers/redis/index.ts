export {
  createRedisCacheStore,
  type RedisCacheStore,
  type RedisCacheStoreOptions,
} from "./redis-cache-store.ts";
