import { createClient } from "@redis/client";
import type { CacheStore } from "../../../src/ports/cache.ts";

/** Options for `createRedisCacheStore`. */
export interface RedisCacheStoreOptions {
  /** `redis://` or `rediss://` URL (`REDIS_URL`). */
  url: string;
  /** How long a command waits for a connection before failing (retried later). Default 5000. */
  connectTimeoutMs?: number;
}

/** A `CacheStore` that owns its connection. */
export type RedisCacheStore = CacheStore & { close(): Promise<void> };

/**
 * The `cache` action's store over a Redis connection (node-redis), for runtimes with TCP sockets.
 * It connects on first use and keeps reconnecting in the background; meanwhile commands fail fast
 * (the offline queue is off) so the action's retry schedule, not a hidden queue, decides when
 * to try again.
 */
export function createRedisCacheStore(options: RedisCacheStoreOptions): RedisCacheStore {
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) + Math.random() * 100,
    },
  });
  let lastError: Error | undefined;
  // node-redis emits connection failures as events; without a listener they would crash the
  // process. They reach callers through the failed commands instead.
  client.on("error", (error: Error) => {
    lastError = error;
  });
  let connecting: Promise<unknown> | undefined;

  async function ready(signal: AbortSignal) {
    signal.throwIfAborted();
    if (client.isReady) return client.withAbortSignal(signal);
    // The first connect() retries forever by itself; wait for it only up to the timeout.
    connecting ??= client.connect().catch(() => {});
    let wake: () => void = () => {};
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const timer = setTimeout(wake, connectTimeoutMs);
    signal.addEventListener("abort", wake, { once: true });
    client.once("ready", wake);
    try {
      await Promise.race([connecting, woken]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", wake);
      client.off("ready", wake);
    }
    signal.throwIfAborted();
    if (!client.isReady) {
      const reason = lastError ? `: ${lastError.message}` : "";
      throw new Error(`Redis is not reachable${reason}`, { cause: lastError });
    }
    return client.withAbortSignal(signal);
  }

  return {
    async unlink(keys, signal) {
      if (keys.length === 0) return 0;
      return (await ready(signal)).unlink([...keys]);
    },
    async scan(pattern, cursor, count, signal) {
      const reply = await (await ready(signal)).scan(cursor, { MATCH: pattern, COUNT: count });
      return { cursor: String(reply.cursor), keys: reply.keys.map(String) };
    },
    async close() {
      if (connecting === undefined) return;
      if (client.isReady) await client.close();
      else if (client.isOpen) client.destroy();
    },
  };
}
