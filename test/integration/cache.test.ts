/**
 * The cache action against the real Redis (REDIS_URL, default redis://127.0.0.1:6379), through
 * both stores: node-redis over TCP and the Upstash REST store (via a proxy to the same Redis).
 * Redis down fails loudly: these tests never skip.
 */
import { randomUUID } from "node:crypto";
import { createClient } from "@redis/client";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisCacheStore } from "../../adapters/drivers/redis/index.ts";
import { cacheAction, cacheConfigSchema } from "../../src/actions/cache.ts";
import { escapeGlob, hasUnescapedGlob, unescapeGlob } from "../../src/actions/cache-key.ts";
import { createUpstashCacheStore } from "../../src/actions/cache-upstash.ts";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import type { CacheStore } from "../../src/ports/cache.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert, remove } from "../support/events.ts";
import { startUpstashProxy, type UpstashProxy } from "../support/upstash-proxy.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Keys of this run only; no glob characters, so it can head a pattern.
const PREFIX = `obs-test-${randomUUID()}`;

const redis = createClient({
  url: REDIS_URL,
  socket: { reconnectStrategy: false, connectTimeout: 3000 },
});
redis.on("error", () => {});

beforeAll(async () => {
  try {
    await redis.connect();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${REDIS_URL} (${String(error)}). Start it (see .ci/run) or set ` +
        "REDIS_URL: these tests need a real server and never skip.",
      { cause: error },
    );
  }
});

afterAll(async () => {
  if (!redis.isReady) return;
  for await (const keys of redis.scanIterator({ MATCH: `${PREFIX}:*`, COUNT: 500 })) {
    if (keys.length > 0) await redis.unlink(keys);
  }
  await redis.close();
});

async function seed(keys: readonly string[]): Promise<void> {
  await redis.mSet(keys.map((key) => [key, "1"] as [string, string]));
}

async function existing(keys: readonly string[]): Promise<string[]> {
  const present = await Promise.all(keys.map((key) => redis.exists(key)));
  return keys.filter((_, i) => present[i] === 1);
}

/** Counts the store's calls, to show a walk really went page by page. */
function counting(store: CacheStore) {
  const calls = { scan: 0, unlink: 0 };
  const wrapped: CacheStore = {
    scan: (...args) => {
      calls.scan++;
      return store.scan(...args);
    },
    unlink: (...args) => {
      calls.unlink++;
      return store.unlink(...args);
    },
  };
  return { store: wrapped, calls };
}

function invalidate(store: CacheStore, keyPattern: string, event = insert({ id: 1 })) {
  const environment = testEnvironment({ cache: store });
  return runAction(cacheAction, { type: "cache", key_pattern: keyPattern }, event, { environment });
}

/** The same scenarios for every store. */
function cacheStoreSuite(
  name: string,
  open: () => Promise<CacheStore & { close(): Promise<void> }>,
) {
  describe(`cache action over ${name}`, () => {
    let store: CacheStore & { close(): Promise<void> };
    // Each store gets its own key space, so the suites cannot disturb each other.
    const space = `${PREFIX}:${name}`;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(() => store.close());

    it("unlinks one literal key", async () => {
      const keys = [`${space}:user:1`, `${space}:user:10`];
      await seed(keys);
      const result = await invalidate(store, `${space}:user:{{ id }}`);
      expect(result.message).toBe("invalidated 1 key(s)");
      expect(await existing(keys)).toEqual([`${space}:user:10`]);
      // Already gone: still a success, with nothing invalidated.
      expect((await invalidate(store, `${space}:user:{{ id }}`)).message).toBe(
        "invalidated 0 key(s)",
      );
    });

    it("walks a glob across many SCAN pages", async () => {
      const matching = Array.from({ length: 250 }, (_, i) => `${space}:order:42:v${i}`);
      const others = [`${space}:order:421:v1`, `${space}:order:4:v1`];
      await seed([...matching, ...others]);
      const { store: counted, calls } = counting(store);
      const result = await invalidate(counted, `${space}:order:{{ id }}:*`, remove({ id: 42 }));
      expect(result.message).toBe("invalidated 250 key(s)");
      expect(calls.scan).toBeGreaterThan(2);
      expect(await existing([...matching, ...others])).toEqual(others);
    });

    it("never lets an event value act as a glob", async () => {
      const keys = [
        `${space}:user:*x`,
        `${space}:user:ax`,
        `${space}:user:*xy`,
        `${space}:user:\\*x`,
      ];
      await seed(keys);
      const literal = await invalidate(store, `${space}:user:{{ name }}`, insert({ name: "*x" }));
      expect(literal.message).toBe("invalidated 1 key(s)");
      expect(await existing(keys)).toEqual([
        `${space}:user:ax`,
        `${space}:user:*xy`,
        `${space}:user:\\*x`,
      ]);
      // The template's own `*` is still a wildcard; the value's `*` and `\` stay literal.
      await seed(keys);
      const glob = await invalidate(store, `${space}:user:{{ name }}*`, insert({ name: "*x" }));
      expect(glob.message).toBe("invalidated 2 key(s)");
      expect(await existing(keys)).toEqual([`${space}:user:ax`, `${space}:user:\\*x`]);
      const backslash = await invalidate(
        store,
        `${space}:user:{{ name }}`,
        insert({ name: "\\*x" }),
      );
      expect(backslash.message).toBe("invalidated 1 key(s)");
      expect(await existing(keys)).toEqual([`${space}:user:ax`]);
    });
  });
}

cacheStoreSuite("redis", async () => createRedisCacheStore({ url: REDIS_URL }));

cacheStoreSuite("upstash", async () => {
  const proxy: UpstashProxy = await startUpstashProxy(REDIS_URL, "upstash-test-token");
  const store = createUpstashCacheStore({ url: proxy.url, token: proxy.token });
  return { ...store, close: () => proxy.close() };
});

describe("cache action failures", () => {
  it("a runtime without a store fails permanently, naming what to configure", async () => {
    const error = await actionFailure(
      runAction(cacheAction, { type: "cache", key_pattern: "k" }, insert({ id: 1 })),
    );
    expect(error.kind).toBe("permanent");
    expect(error.code).toBe("UNSUPPORTED_ON_RUNTIME");
    expect(error.message).toMatch(/REDIS_URL/);
    expect(error.message).toMatch(/Upstash/);
  });

  it("an unreachable Redis is transient CACHE_UNAVAILABLE", async () => {
    const store = createRedisCacheStore({ url: "redis://127.0.0.1:1", connectTimeoutMs: 200 });
    try {
      const error = await actionFailure(invalidate(store, `${PREFIX}:x:{{ id }}`));
      expect(error.kind).toBe("transient");
      expect(error.code).toBe("CACHE_UNAVAILABLE");
    } finally {
      await store.close();
    }
  });

  it("an Upstash error reply (bad token) is transient CACHE_UNAVAILABLE", async () => {
    const proxy = await startUpstashProxy(REDIS_URL, "right-token");
    try {
      const store = createUpstashCacheStore({ url: proxy.url, token: "wrong-token" });
      const error = await actionFailure(invalidate(store, `${PREFIX}:x:*`));
      expect(error.code).toBe("CACHE_UNAVAILABLE");
      expect(error.message).toMatch(/Unauthorized/);
    } finally {
      await proxy.close();
    }
  });

  it("a placeholder the event lacks fails permanently instead of widening the pattern", async () => {
    const store = createUpstashCacheStore({ url: "http://127.0.0.1:1", token: "t" });
    const error = await actionFailure(
      invalidate(store, `${PREFIX}:user:{{ after.id }}*`, remove({ id: 1 })),
    );
    expect(error.code).toBe("INVALID_CACHE_KEY");
    expect(error.message).toMatch(/\{\{ after\.id \}\}/);
  });

  it("refresh is refused with a clear message", () => {
    const result = v.safeParse(cacheConfigSchema, {
      type: "cache",
      key_pattern: "k",
      action: "refresh",
    });
    expect(result.issues?.map((issue) => issue.message)).toEqual([
      'action "refresh" is not supported: a cache cannot be refilled from an event; use "invalidate"',
    ]);
  });
});

describe("glob escaping", () => {
  it("escapes, detects and unescapes", () => {
    expect(escapeGlob("a*b?c[d]e\\f")).toBe("a\\*b\\?c\\[d\\]e\\\\f");
    expect(hasUnescapedGlob(escapeGlob("a*b?c[d]e\\f"))).toBe(false);
    expect(unescapeGlob(escapeGlob("a*b?c[d]e\\f"))).toBe("a*b?c[d]e\\f");
    expect(hasUnescapedGlob("user:\\*x*")).toBe(true);
    expect(hasUnescapedGlob("user:[ab]")).toBe(true);
    expect(hasUnescapedGlob("user:]x")).toBe(false);
  });
});

describe("a tenant's cache action", () => {
  it("stays under the tenant's namespace: even `*` wipes only its own keys", async () => {
    const store = createRedisCacheStore({ url: REDIS_URL });
    try {
      const space = `${PREFIX}:tenants`;
      const policy = {
        ...DEFAULT_ACTION_POLICY,
        tenantNamespace: `${space}:tenant:{tenant}:`,
      };
      const keys = [
        `${space}:tenant:7:user:1`,
        `${space}:tenant:7:order:1`,
        `${space}:tenant:42:user:1`,
        `${space}:tenant:70:user:1`,
        `${space}:shared:user:1`,
      ];
      await seed(keys);
      const environment = testEnvironment({ cache: store, policy });
      const wipe = (key_pattern: string, tenant: string | null) =>
        runAction(cacheAction, { type: "cache", key_pattern }, insert({ id: 1 }), {
          environment,
          tenant,
        });
      expect((await wipe("user:{{ id }}", "7")).message).toBe("invalidated 1 key(s)");
      expect((await wipe("*", "7")).message).toBe("invalidated 1 key(s)");
      expect(await existing(keys)).toEqual(keys.slice(2));
      // A global observer's pattern is used as written.
      expect((await wipe(`${space}:shared:*`, null)).message).toBe("invalidated 1 key(s)");
      expect(await existing(keys)).toEqual(keys.slice(2, 4));
    } finally {
      await store.close();
    }
  });
});
