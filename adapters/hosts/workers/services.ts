/**
 * What actions get on a Worker: fetch (counted, so a tick stops claiming before the invocation's
 * subrequest limit), the Worker's string vars and secrets (for `*_env` fields), the tick's SQL
 * client (for `database` actions), and Upstash's REST API for `cache` when configured. Workers
 * have no SMTP or Redis client here: `email` with provider `smtp`, and `cache` without Upstash,
 * fail permanently with `UNSUPPORTED_ON_RUNTIME`; HTTP email providers work. `job` actions reach
 * the database's queues and the Worker's Cloudflare Queues bindings (queues.ts).
 */
import { createUpstashCacheStore } from "../../../src/actions/cache-upstash.ts";
import type { ActionEnvironment } from "../../../src/actions/types.ts";
import type { JobDoorbell } from "../../../src/jobs/doorbell.ts";
import { createSqlJobQueues } from "../../../src/jobs/sql-queues.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import type { WorkersConfig } from "./config.ts";
import { cloudflareQueues } from "./queues.ts";

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
  sql?: SqlClient;
  /** The Worker's env, where `cloudflare-queues` jobs find their queue binding by name. */
  queues?: Readonly<Record<string, unknown>>;
  /**
   * Rung after each builtin enqueue (src/jobs/doorbell.ts), for the Bun or Deno processes that run
   * the jobs; the tick waits for it before closing its connections. Default one over `sql`.
   */
  doorbell?: JobDoorbell;
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
    // Job queues: builtin and graphile-worker in the database (builtin jobs are run by Bun or
    // Deno processes with registered handlers), Cloudflare Queues by binding.
    jobs: {
      ...(options.sql
        ? createSqlJobQueues(options.sql, options.doorbell ? { doorbell: options.doorbell } : {})
        : {}),
      ...(options.queues ? { "cloudflare-queues": cloudflareQueues(options.queues) } : {}),
    },
    ...(config.upstash
      ? { cache: createUpstashCacheStore({ ...config.upstash, fetch: options.fetch }) }
      : {}),
  };
}
