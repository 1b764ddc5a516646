/**
 * The Worker's configuration: the servers' variables (`parseServerConfig`, from `[vars]` and
 * `wrangler secret`), minus what a Worker has no use for, plus the tick's own limits. The database
 * is the `HYPERDRIVE` binding, never `DATABASE_URL`.
 */
import {
  defaultTenantConcurrency,
  parseServerConfig,
  type ServerConfig,
} from "../../../src/config/server-config.ts";
import { ConfigError, type ConfigIssue } from "../../../src/errors.ts";

/** Variables only the Worker reads (documented in docs/runtimes.md, Cloudflare Workers). */
export const WORKERS_ENV_VARS = {
  /** Wall-clock time a tick claims and starts new work for (ms). */
  OBSERVERS_TICK_BUDGET_MS: { min: 1_000, max: 600_000, fallback: 20_000 },
  /** Outbound requests (action `fetch`es) after which a tick stops claiming. */
  OBSERVERS_TICK_MAX_SUBREQUESTS: { min: 1, max: 1_000_000, fallback: 600 },
} as const;

/**
 * Attempts at once on a Worker unless `OBSERVERS_CONCURRENCY` says otherwise: an invocation has 6
 * simultaneous outgoing connections, two of which the tick's database client holds; more attempts
 * would only queue inside the runtime, their timeouts running.
 */
export const WORKERS_DEFAULT_CONCURRENCY = 4;
/**
 * Changes per read and deliveries per claim on a Worker unless `OBSERVERS_BATCH_SIZE` says
 * otherwise: what a tick has taken on when it stops (at most twice this) still runs during its
 * shutdown, so this bounds how far a tick can go past its subrequest limit, and the CPU one
 * ingest transaction costs.
 */
export const WORKERS_DEFAULT_BATCH_SIZE = 100;
/** Database connections of a tick (of the 6 an invocation may have open). */
export const TICK_DATABASE_CONNECTIONS = 2;

/**
 * Server variables that mean nothing on a Worker: set, they are ignored with a warning
 * (docs/runtimes.md). Every other server variable applies (test/unit/workers-config.test.ts).
 */
export const WORKERS_IGNORED_VARS = [
  "DATABASE_URL",
  "PORT",
  "HOST",
  "OBSERVERS_DATA_DIR",
  "OBSERVERS_EMBEDDED_PORT",
  "OBSERVERS_JOB_HANDLERS",
  "OBSERVERS_MIGRATE",
  "REDIS_URL",
  "SMTP_URL",
  // The API's requests have their own Hyperdrive clients (docs/security.md, "Limits").
  "OBSERVERS_API_POOL_SIZE",
  "OBSERVERS_API_STATEMENT_TIMEOUT_MS",
  // No resolver to ask: the check of literal addresses still applies (docs/security.md).
  "OBSERVERS_RESOLVE_TARGETS",
  // The live hubs bound a socket's backlog in messages: Workers report no buffered bytes.
  "OBSERVERS_LIVE_MAX_BUFFERED_BYTES",
  // The client is `cf-connecting-ip`, which Cloudflare sets.
  "OBSERVERS_TRUSTED_PROXIES",
  "OBSERVERS_TRUSTED_PROXY_HEADER",
  // Sources do not run on Workers (`/api/sources` answers 501): a Bun or Deno server reads them.
  "OBSERVERS_SOURCE_KEY",
  "OBSERVERS_SOURCE_LEASE_MS",
] as const;

export interface WorkersConfig {
  server: ServerConfig;
  tickBudgetMs: number;
  maxSubrequests: number;
  /** Upstash's REST endpoint for `cache` actions (`UPSTASH_REDIS_REST_URL` and `_TOKEN`). */
  upstash: { url: string; token: string } | null;
  /** Set variables the Worker ignores, by name (to warn about). */
  ignored: string[];
}

/** The string-valued entries of a Worker's `env` (bindings are objects). */
export function stringVars(env: object): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (typeof value === "string") vars[name] = value;
  return vars;
}

function integerVar(
  vars: Record<string, string>,
  name: keyof typeof WORKERS_ENV_VARS,
  issues: ConfigIssue[],
): number {
  const { min, max, fallback } = WORKERS_ENV_VARS[name];
  const raw = vars[name]?.trim();
  if (!raw) return fallback;
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) {
    issues.push({ path: name, message: `must be an integer from ${min} to ${max}, got ${raw}` });
    return fallback;
  }
  return value;
}

/**
 * Reads the Worker's configuration from its `env`. Throws `ConfigError` naming every bad
 * variable (never echoing URLs or tokens).
 */
export function workersConfig(env: object): WorkersConfig {
  const vars = stringVars(env);
  const ignored = WORKERS_IGNORED_VARS.filter((name) => vars[name]?.trim());
  const serverVars: Record<string, string> = { ...vars };
  for (const name of WORKERS_IGNORED_VARS) delete serverVars[name];
  const issues: ConfigIssue[] = [];
  let server: ServerConfig | null = null;
  try {
    server = parseServerConfig(serverVars);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  const tickBudgetMs = integerVar(vars, "OBSERVERS_TICK_BUDGET_MS", issues);
  const maxSubrequests = integerVar(vars, "OBSERVERS_TICK_MAX_SUBREQUESTS", issues);
  const upstashUrl = vars.UPSTASH_REDIS_REST_URL?.trim();
  const upstashToken = vars.UPSTASH_REDIS_REST_TOKEN?.trim();
  if (upstashUrl && !/^https?:\/\//.test(upstashUrl)) {
    issues.push({ path: "UPSTASH_REDIS_REST_URL", message: "must be an https:// URL" });
  }
  if (Boolean(upstashUrl) !== Boolean(upstashToken)) {
    issues.push({
      path: upstashUrl ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL",
      message: "set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither",
    });
  }
  if (vars.OBSERVERS_TRANSPORT?.trim().toLowerCase() === "nats") {
    issues.push({
      path: "OBSERVERS_TRANSPORT",
      message:
        "nats is not available on Cloudflare Workers (no long-lived TCP connections): the Worker keeps the postgres transport; run NATS bridges and workers on Bun or Deno",
    });
  }
  if (issues.length > 0 || server === null) throw new ConfigError(issues);
  if (!vars.OBSERVERS_BATCH_SIZE?.trim()) {
    server = { ...server, batchSize: WORKERS_DEFAULT_BATCH_SIZE };
  }
  if (!vars.OBSERVERS_CONCURRENCY?.trim()) {
    server = { ...server, concurrency: WORKERS_DEFAULT_CONCURRENCY };
    if (!vars.OBSERVERS_TENANT_CONCURRENCY?.trim()) {
      server = { ...server, tenantConcurrency: defaultTenantConcurrency(server.concurrency) };
    }
  }
  if (!vars.OBSERVERS_PER_DESTINATION?.trim()) {
    server = { ...server, perDestination: Math.min(server.perDestination, server.concurrency) };
  }
  return {
    server,
    tickBudgetMs,
    maxSubrequests,
    upstash: upstashUrl && upstashToken ? { url: upstashUrl, token: upstashToken } : null,
    ignored,
  };
}
