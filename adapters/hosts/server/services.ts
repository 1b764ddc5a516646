import type { ActionEnvironment } from "../../../src/actions/types.ts";
import type { ServerConfig } from "../../../src/config/server-config.ts";
import { createSqlJobQueues, type SqlJobQueuesOptions } from "../../../src/jobs/sql-queues.ts";
import { cachingResolver } from "../../../src/net/resolver-cache.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import { createRedisCacheStore } from "../../drivers/redis/index.ts";
import { createSmtpTransport } from "../../drivers/smtp/index.ts";
import { resolveHost } from "./resolve-host.ts";

/** What actions get on a Bun or Deno server, and how to close the connections behind it. */
export interface ServerServices {
  environment: ActionEnvironment;
  close(): Promise<void>;
}

/**
 * The action environment of a Bun or Deno server: the host's fetch and resolver (for the SSRF
 * guard), the process environment (for `*_env` secrets), the SQL client for `database` actions,
 * Redis for `cache` (REDIS_URL) and SMTP for `email` (SMTP_URL). Both connect lazily, so an
 * unreachable one fails its actions (retried), not the startup. The `builtin` and
 * `graphile-worker` job queues are in the same database (`jobs`: the tasks this process's runner
 * has registered, known at once, and the doorbell it shares with the builtin queue).
 */
export function createServerServices(
  config: ServerConfig,
  env: Readonly<Record<string, string | undefined>>,
  sql: SqlClient,
  logger: Logger,
  jobs: SqlJobQueuesOptions = {},
): ServerServices {
  const cache = config.redisUrl ? createRedisCacheStore({ url: config.redisUrl }) : undefined;
  const email = config.smtpUrl ? createSmtpTransport({ url: config.smtpUrl }) : undefined;
  const environment: ActionEnvironment = {
    fetch: globalThis.fetch,
    env,
    policy: config.actionPolicy,
    clock: systemClock,
    logger,
    allowPrivateTargets: config.allowPrivateTargets,
    // Names are resolved and every address checked (src/net/resolved.ts), unless an egress
    // proxy or firewall does it (OBSERVERS_RESOLVE_TARGETS=false). Answers are kept 5 s.
    ...(config.resolveTargets ? { resolveHost: cachingResolver(resolveHost, systemClock) } : {}),
    sql,
    jobs: createSqlJobQueues(sql, jobs),
    ...(cache ? { cache } : {}),
    ...(email ? { email } : {}),
  };
  return {
    environment,
    async close() {
      email?.close();
      await cache?.close();
    },
  };
}
