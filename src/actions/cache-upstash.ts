import type { CacheStore } from "../ports/cache.ts";

/** Options for `createUpstashCacheStore`. */
export interface UpstashCacheStoreOptions {
  /** The database's REST URL (`UPSTASH_REDIS_REST_URL`). */
  url: string;
  /** Its REST token (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * A `CacheStore` over Upstash's Redis REST API: each command is a JSON array POSTed to the
 * database URL, answered `{"result": ...}` or `{"error": "..."}`. Works wherever `fetch` does,
 * which is how the `cache` action reaches Redis from Cloudflare Workers (no TCP sockets needed).
 * https://upstash.com/docs/redis/features/restapi
 */
export function createUpstashCacheStore(options: UpstashCacheStoreOptions): CacheStore {
  const url = options.url;
  const send = options.fetch ?? globalThis.fetch;
  async function command(args: readonly string[], signal: AbortSignal): Promise<unknown> {
    const response = await send(url, {
      method: "POST",
      headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json" },
      body: JSON.stringify(args),
      signal,
    });
    const text = await response.text();
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new Error(
        `Upstash ${args[0]}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`,
      );
    }
    if (typeof reply === "object" && reply !== null) {
      if ("error" in reply) throw new Error(`Upstash ${args[0]}: ${String(reply.error)}`);
      if (response.ok && "result" in reply) return reply.result;
    }
    throw new Error(`Upstash ${args[0]}: HTTP ${response.status}, unexpected reply`);
  }
  return {
    async unlink(keys, signal) {
      if (keys.length === 0) return 0;
      const result = await command(["UNLINK", ...keys], signal);
      if (typeof result !== "number") throw new Error("Upstash UNLINK: reply is not a number");
      return result;
    },
    async scan(pattern, cursor, count, signal) {
      const args = ["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)];
      const result = await command(args, signal);
      if (
        !Array.isArray(result) ||
        (typeof result[0] !== "string" && typeof result[0] !== "number") ||
        !Array.isArray(result[1]) ||
        !result[1].every((key) => typeof key === "string")
      ) {
        throw new Error("Upstash SCAN: reply is not [cursor, keys]");
      }
      return { cursor: String(result[0]), keys: result[1] as string[] };
    },
  };
}
