import { createClient } from "@redis/client";
import type { IngestDedup } from "../../../src/ports/transport.ts";

/** Options of `createRedisIngestDedup`. */
export interface RedisIngestDedupOptions {
  /** `redis://` or `rediss://` URL (`REDIS_URL`). */
  url: string;
  /** How long a record is kept (default one day): far beyond any redelivery. */
  ttlSeconds?: number;
  /** Key prefix (default `fraiseql:observers:nats:matched:`). */
  prefix?: string;
}

/** An `IngestDedup` that owns its connection. */
export type RedisIngestDedup = IngestDedup & { close(): Promise<void> };

/**
 * NATS workers' first dedup check (FraiseQL's Phase 8B dedup): one `SET NX EX` record per change
 * whose deliveries PostgreSQL has created (their webhook-ids derive from it), looked up with one
 * `MGET` per batch before PostgreSQL is asked. Redis failing only costs that shortcut: the
 * guarantee is PostgreSQL's (`core.tb_nats_ingested`). Commands fail fast while disconnected.
 */
export function createRedisIngestDedup(options: RedisIngestDedupOptions): RedisIngestDedup {
  const ttl = options.ttlSeconds ?? 86_400;
  const prefix = options.prefix ?? "fraiseql:observers:nats:matched:";
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2_000,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) + Math.random() * 100,
    },
  });
  // Failures reach callers through the commands; unheard, the event would end the process.
  client.on("error", () => {});
  let connecting: Promise<unknown> | undefined;
  async function ready() {
    if (client.isReady) return client;
    connecting ??= client.connect().catch(() => {});
    await Promise.race([connecting, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    if (!client.isReady) throw new Error("Redis is not reachable");
    return client;
  }
  return {
    async seen(eventIds) {
      if (eventIds.length === 0) return new Set();
      const redis = await ready();
      const values = await redis.mGet(eventIds.map((id) => prefix + id));
      const seen = new Set<string>();
      values.forEach((value, i) => {
        if (value !== null) seen.add(eventIds[i] as string);
      });
      return seen;
    },
    async remember(eventIds) {
      if (eventIds.length === 0) return;
      const redis = await ready();
      const multi = redis.multi();
      for (const id of eventIds) multi.set(prefix + id, "1", { NX: true, EX: ttl });
      await multi.exec();
    },
    async close() {
      if (client.isOpen) await client.quit().catch(() => {});
    },
  };
}
