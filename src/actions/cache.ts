import * as v from "valibot";
import type { CacheStore } from "../ports/cache.ts";
import { escapeGlob, hasUnescapedGlob, renderKeyPattern, unescapeGlob } from "./cache-key.ts";
import { template } from "./fields.ts";
import { tenantNamespace } from "./policy.ts";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  requireService,
} from "./types.ts";

/** How many keys one SCAN page asks for (FraiseQL's COUNT). */
export const CACHE_SCAN_COUNT = 100;

/** The `cache` action's config. */
export const cacheConfigSchema = v.strictObject({
  type: v.literal("cache"),
  key_pattern: template("text"),
  action: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (action) => action !== "refresh",
        'action "refresh" is not supported: a cache cannot be refilled from an event; use "invalidate"',
      ),
      v.literal("invalidate", 'must be "invalidate"'),
    ),
    "invalidate",
  ),
});
export type CacheConfig = v.InferOutput<typeof cacheConfigSchema>;

function unavailable(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof ActionFailure) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ActionFailure("transient", "CACHE_UNAVAILABLE", `cache store failed: ${reason}`, {
    cause: error,
  });
}

async function invalidateMatching(
  store: CacheStore,
  pattern: string,
  signal: AbortSignal,
): Promise<number> {
  let removed = 0;
  let cursor = "0";
  // Delete page by page as SCAN walks: no key list of unbounded size is ever held, and a key
  // created mid-walk may be missed, which SCAN's guarantees allow (it was not cached from before).
  do {
    signal.throwIfAborted();
    const page = await store.scan(pattern, cursor, CACHE_SCAN_COUNT, signal);
    if (page.keys.length > 0) removed += await store.unlink(page.keys, signal);
    cursor = page.cursor;
  } while (cursor !== "0");
  return removed;
}

async function run(request: ActionRequest<CacheConfig>) {
  const { config, environment, signal } = request;
  const store = requireService(
    environment.cache,
    "cache action: no cache store on this runtime (set REDIS_URL, or give the runtime an Upstash REST store)",
  );
  const rendered = renderKeyPattern(config.key_pattern, request);
  if ("missing" in rendered) {
    throw new ActionFailure(
      "permanent",
      "INVALID_CACHE_KEY",
      `key_pattern: ${rendered.missing} has no value in this event`,
    );
  }
  if (rendered.key === "") {
    throw new ActionFailure("permanent", "INVALID_CACHE_KEY", "key_pattern rendered empty");
  }
  // A tenant's observer reaches only its own keys: even `*` stays under its namespace.
  const pattern =
    request.tenant === null
      ? rendered.key
      : `${escapeGlob(tenantNamespace(environment.policy, request.tenant))}${rendered.key}`;
  let removed: number;
  try {
    removed = hasUnescapedGlob(pattern)
      ? await invalidateMatching(store, pattern, signal)
      : await store.unlink([unescapeGlob(pattern)], signal);
  } catch (error) {
    throw unavailable(error, signal);
  }
  return { message: `invalidated ${removed} key(s)` };
}

/** Invalidates cached keys (one literal key, or every key a glob matches) when a row changes. */
export const cacheAction: ActionDefinition<CacheConfig> = {
  type: "cache",
  schema: cacheConfigSchema,
  destination: () => "cache",
  run,
};
