/**
 * What actions get on a Worker: fetch (counted, so a tick stops claiming before the invocation's
 * subrequest limit), the Worker's string vars and secrets (for `*_env` fields), the tick's SQL
 * client (for `database` actions), and Upstash's REST API for `cache` when configured. Workers
 * have no SMTP or Redis client here: `email` with provider `smtp`, and `cache` without Upstash,
 * fail permanently with `UNSUPPORTED_ON_RUNTIME`; HTTP email providers work.
 */
import { createUpstashCacheStore } from "../../../src/actions/cache-upstash.ts";
import type { ActionEnvironment } from "../../../src/actions/types.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlExecutor } from "../../../src/ports/sql.ts";
import type { WorkersConfig } from "./config.ts";

/** A `fetch` that counts its calls. */
export interface CountingFetch {
  fetch: typeof fetch;
  readonly count: number;
}

export function countingFetch(inner: typeof fetch = globalThis.fetch): CountingFetch {
  let count = 0;
  return {
    fetch: (input, init) => {
      count++;
      return inner(input, init);
    },
    get count() {
      return count;
    },
  };
}

/** The action environment of a Worker invocation. */
export function workersEnvironment(options: {
  config: WorkersConfig;
  vars: Readonly<Record<string, string>>;
  logger: Logger;
  fetch: typeof fetch;
  sql?: SqlExecutor;
}): ActionEnvironment {
  const { config } = options;
  return {
    fetch: options.fetch,
    env: options.vars,
    policy: config.server.actionPolicy,
    clock: systemClock,
    logger: options.logger,
    allowPrivateTargets: config.server.allowPrivateTargets,
    ...(options.sql ? { sql: options.sql } : {}),
    ...(config.upstash
      ? { cache: createUpstashCacheStore({ ...config.upstash, fetch: options.fetch }) }
      : {}),
  };
}
