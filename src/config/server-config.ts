import * as v from "valibot";
import type { ActionPolicy } from "../actions/policy.ts";
import { DEFAULT_API_LIMITS as API, type ApiLimits } from "../api/limits.ts";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { DEFAULT_PER_DESTINATION } from "../executor/executor.ts";
import { type IpRange, parseTrustedProxies } from "../net/client-address.ts";
import { LOG_LEVELS, type LogLevel } from "../ports/logger.ts";
import { STREAM_NAME_PATTERN, SUBJECT_PREFIX_PATTERN } from "../transport/subject.ts";
import { parseActionPolicy } from "./action-policy.ts";
import type { ServerEnvName } from "./env-vars.ts";

/** The circuit settings the server passes to its runtime (`CircuitSettings`, minus the probe lease). */
export interface CircuitSettingsConfig {
  failureThreshold: number;
  probeDelayMs: number;
  maxProbeDelayMs: number;
  disableAfterMs: number;
}

/** The server's settings, parsed from its environment (see `SERVER_ENV_VARS`). */
export interface ServerConfig {
  /** Null: run on embedded PGlite under `dataDir`. */
  databaseUrl: string | null;
  port: number;
  host: string;
  /** Null: generate one (printed once, kept hashed in the database). */
  adminToken: string | null;
  allowPrivateTargets: boolean;
  /** Resolve targets' names and check every address (Bun and Deno; see src/net/resolved.ts). */
  resolveTargets: boolean;
  dataDir: string;
  /** Port of the embedded database's socket; 0 means none. */
  embeddedPort: number;
  /** `OBSERVERS_JOB_HANDLERS`: the ready servers' module of job handlers; null: none. */
  jobHandlers: string | null;
  migrate: boolean;
  logLevel: LogLevel;
  redisUrl: string | null;
  natsUrl: string | null;
  smtpUrl: string | null;
  /** `OBSERVERS_SOURCE_KEY`: encrypts sources' inline URLs; null: sources need `url_env`. */
  sourceKey: string | null;
  /** `OBSERVERS_SOURCE_LEASE_MS`: another server takes a source over this long after its reader dies. */
  sourceLeaseMs: number;
  listenerId: string;
  pollIntervalMs: number;
  batchSize: number;
  concurrency: number;
  perDestination: number;
  /** Endpoint health: circuits per destination and auto-disable (docs/delivery.md). */
  circuits: CircuitSettingsConfig;
  /** `OBSERVERS_ADAPTIVE_CONCURRENCY`: learn each destination's limit (capped by perDestination). */
  adaptiveConcurrency: boolean;
  leaseMs: number;
  shutdownTimeoutMs: number;
  /** Unsent bytes a live subscriber may queue before it is closed (1013). */
  liveMaxBufferedBytes: number;
  /** How often open WebSockets' keys are re-checked (revoked elsewhere: closed with 1008). */
  liveKeyCheckMs: number;
  /** `OBSERVERS_METRICS_PUBLIC`: scrapes need no token. */
  metricsPublic: boolean;
  /** Proxies whose forwarding header names the client; null: none (headers ignored). */
  trustedProxies: { ranges: IpRange[]; header: "x-forwarded-for" | "forwarded" } | null;
  retention: { changeLogDays: number; logDays: number; dlqDays: number };
  /** What actions may reference and what tenants' actions may configure (docs/security.md). */
  actionPolicy: ActionPolicy;
  /** Attempts one tenant's deliveries may run at once. */
  tenantConcurrency: number;
  /** Deliveries one ingest statement creates at most. */
  ingestMaxDeliveries: number;
  /** What the API refuses beyond (see `ApiLimits`). */
  apiLimits: ApiLimits;
  /** The API's own PostgreSQL pool (with `DATABASE_URL`). */
  apiPool: { size: number; statementTimeoutMs: number };
  /** `OBSERVERS_TRANSPORT`: how changes reach the workers. */
  transport: "postgres" | "nats";
  /** `OBSERVERS_ROLE` (NATS mode). */
  role: "all" | "bridge" | "worker";
  /** NATS mode's settings (present with `OBSERVERS_TRANSPORT=nats`, when `natsUrl` is set). */
  nats: {
    stream: string;
    subjectPrefix: string;
    consumer: string;
    ackWaitMs: number;
    bridgeLeaseMs: number;
  };
}

const TRUE_WORDS = ["1", "true", "yes", "on"];
const FALSE_WORDS = ["0", "false", "no", "off"];

function integer(min: number, max: number, fallback: number) {
  const allowed = `must be an integer from ${min} to ${max}`;
  const message = (issue: v.BaseIssue<unknown>) => `${allowed}, got ${issue.received}`;
  return v.optional(
    v.pipe(
      v.string(),
      v.regex(/^-?\d+$/, message),
      v.transform(Number),
      v.minValue(min, message),
      v.maxValue(max, message),
    ),
    String(fallback),
  );
}

function flag(fallback: boolean, allowed: string) {
  return v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(
        [...TRUE_WORDS, ...FALSE_WORDS],
        (issue) => `must be ${allowed}, got ${issue.received}`,
      ),
      v.transform((word) => TRUE_WORDS.includes(word)),
    ),
    String(fallback),
  );
}

/**
 * A URL with one of `schemes`. Never echoes the value: URLs carry passwords. `oneOnly`: the
 * message for a comma-separated list (which NATS users write out of habit), checked first.
 */
function url(schemes: readonly string[], oneOnly?: string) {
  const allowed = `must be a URL starting with ${schemes.map((s) => `${s}//`).join(" or ")}`;
  return v.optional(
    v.pipe(
      v.string(),
      v.check(
        (value) =>
          (oneOnly === undefined || !value.includes(",")) &&
          URL.canParse(value) &&
          schemes.includes(new URL(value).protocol),
        (issue) => (oneOnly !== undefined && String(issue.input).includes(",") ? oneOnly : allowed),
      ),
    ),
  );
}

/** One of `values` (any case). */
function choice<const T extends string>(values: readonly T[], fallback: T) {
  return v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(values, (issue) => `must be one of ${values.join(", ")}, got ${issue.received}`),
    ),
    fallback,
  );
}

/** Text matching `regex`; the message says what is allowed (the value is echoed: names only). */
function pattern(regex: RegExp, allowed: string, fallback: string) {
  return v.optional(
    v.pipe(
      v.string(),
      v.check(
        (value) => regex.test(value),
        (issue) => `${allowed}, got ${String(issue.input).slice(0, 80)}`,
      ),
    ),
    fallback,
  );
}

const text = (fallback: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.maxLength(1024, "must be at most 1024 characters"),
      v.check((value) => !/\p{Cc}/u.test(value), "must not contain control characters"),
    ),
    fallback,
  );

const policyText = () =>
  v.optional(v.pipe(v.string(), v.maxLength(65_536, "must be at most 65536 characters")));

const envSchema = v.object({
  DATABASE_URL: url(["postgres:", "postgresql:"]),
  PORT: integer(0, 65_535, 8080),
  HOST: text("0.0.0.0"),
  OBSERVERS_ADMIN_TOKEN: v.optional(
    v.pipe(
      v.string(),
      // The length only: never echo a token.
      v.minLength(16, (issue) => `must be at least 16 characters, got ${issue.received}`),
      v.regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces (it is sent as a header)"),
    ),
  ),
  OBSERVERS_ALLOW_PRIVATE_TARGETS: flag(false, "one of 1, true, yes, on, 0, false, no, off"),
  OBSERVERS_RESOLVE_TARGETS: flag(true, "one of 1, true, yes, on, 0, false, no, off"),
  OBSERVERS_DATA_DIR: text("./.data"),
  OBSERVERS_EMBEDDED_PORT: integer(0, 65_535, 5433),
  OBSERVERS_JOB_HANDLERS: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.nonEmpty("must name a module (a path or a file: URL)"),
      v.maxLength(1024, "must be at most 1024 characters"),
      v.check((value) => !/\p{Cc}/u.test(value), "must not contain control characters"),
    ),
  ),
  OBSERVERS_MIGRATE: flag(true, "on or off"),
  LOG_LEVEL: v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(
        LOG_LEVELS,
        (issue) => `must be one of ${LOG_LEVELS.join(", ")}, got ${issue.received}`,
      ),
    ),
    "info",
  ),
  REDIS_URL: url(["redis:", "rediss:"]),
  NATS_URL: url(
    ["nats:", "tls:"],
    "must be one server's URL, not a list: the client learns the cluster's other servers from the one it reaches",
  ),
  SMTP_URL: url(["smtp:", "smtps:"]),
  OBSERVERS_SOURCE_KEY: v.optional(
    v.pipe(v.string(), v.minLength(32, "must be at least 32 characters")),
  ),
  OBSERVERS_LISTENER_ID: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9._:-]{1,200}$/, "must be 1 to 200 letters, digits, '.', '_', ':' or '-'"),
    ),
    "default",
  ),
  OBSERVERS_POLL_INTERVAL_MS: integer(10, 3_600_000, 1000),
  OBSERVERS_BATCH_SIZE: integer(1, 10_000, 500),
  OBSERVERS_CONCURRENCY: integer(1, 10_000, 64),
  OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: integer(0, 1_000, 5),
  OBSERVERS_CIRCUIT_PROBE_DELAY_MS: integer(10, 3_600_000, 1_000),
  OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS: integer(10, 86_400_000, 300_000),
  OBSERVERS_DESTINATION_DISABLE_AFTER_MS: integer(0, 31_536_000_000, 432_000_000),
  OBSERVERS_PER_DESTINATION: integer(1, 10_000, DEFAULT_PER_DESTINATION),
  OBSERVERS_ADAPTIVE_CONCURRENCY: flag(true, "on or off"),
  OBSERVERS_LEASE_MS: integer(1000, 86_400_000, 30_000),
  OBSERVERS_SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 10_000),
  OBSERVERS_LIVE_MAX_BUFFERED_BYTES: integer(65_536, 1_073_741_824, 4 * 1024 * 1024),
  OBSERVERS_LIVE_KEY_CHECK_MS: integer(500, 60_000, 5_000),
  OBSERVERS_METRICS_PUBLIC: flag(false, "on or off"),
  OBSERVERS_TRUSTED_PROXIES: v.optional(
    v.pipe(
      v.string(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const parsed = parseTrustedProxies(dataset.value);
        if (parsed.ok) return parsed.ranges;
        addIssue({
          message: `must be IP addresses or CIDR ranges separated by commas; cannot read ${parsed.invalid.map((e) => JSON.stringify(e)).join(", ")}`,
        });
        return NEVER;
      }),
    ),
  ),
  OBSERVERS_TRUSTED_PROXY_HEADER: v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(
        ["x-forwarded-for", "forwarded"],
        (issue) => `must be x-forwarded-for or forwarded, got ${issue.received}`,
      ),
    ),
    "x-forwarded-for",
  ),
  OBSERVERS_CHANGE_LOG_RETENTION_DAYS: integer(1, 3650, 7),
  OBSERVERS_LOG_RETENTION_DAYS: integer(1, 3650, 30),
  OBSERVERS_DLQ_RETENTION_DAYS: integer(1, 3650, 30),
  // Read as text here, then by `parseActionPolicy`, which checks them against each other.
  OBSERVERS_ACTION_ENV_PREFIX: policyText(),
  OBSERVERS_ACTION_ENV_ALLOW: policyText(),
  OBSERVERS_TENANT_ENV_PREFIXES: policyText(),
  OBSERVERS_ALLOWED_BASE_URLS: policyText(),
  OBSERVERS_TENANT_FUNCTIONS: policyText(),
  OBSERVERS_TENANT_SENDERS: policyText(),
  OBSERVERS_TENANT_NAMESPACE: policyText(),
  // Unset: derived from OBSERVERS_CONCURRENCY.
  OBSERVERS_TENANT_CONCURRENCY: v.optional(v.unwrap(integer(1, 10_000, 1))),
  OBSERVERS_INGEST_MAX_DELIVERIES: integer(1, 1_000_000, 10_000),
  OBSERVERS_MAX_OBSERVERS_PER_TENANT: integer(1, 1_000_000, API.maxObserversPerTenant),
  OBSERVERS_MAX_ACTIONS_PER_OBSERVER: integer(1, 32, API.maxActionsPerObserver),
  OBSERVERS_BACKTEST_MAX_RANGE_DAYS: integer(1, 3650, API.backtestMaxRangeDays),
  OBSERVERS_BACKTEST_MAX_ROWS: integer(1, 10_000_000, API.backtestMaxRows),
  OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY: integer(1, 1000, API.backtestConcurrencyPerKey),
  OBSERVERS_API_POOL_SIZE: integer(1, 100, 4),
  OBSERVERS_API_STATEMENT_TIMEOUT_MS: integer(100, 3_600_000, 15_000),
  OBSERVERS_TRANSPORT: choice(["postgres", "nats"], "postgres"),
  OBSERVERS_ROLE: choice(["all", "bridge", "worker"], "all"),
  OBSERVERS_NATS_STREAM: pattern(
    STREAM_NAME_PATTERN,
    "must be a JetStream stream name: 1 to 64 letters, digits, '_' or '-'",
    "fraiseql_events",
  ),
  OBSERVERS_NATS_SUBJECT_PREFIX: pattern(
    SUBJECT_PREFIX_PATTERN,
    "must be subject tokens of letters, digits, '_' or '-' separated by single dots, without wildcards (e.g. fraiseql.mutation)",
    "fraiseql.mutation",
  ),
  OBSERVERS_NATS_CONSUMER: pattern(
    STREAM_NAME_PATTERN,
    "must be a JetStream consumer name: 1 to 64 letters, digits, '_' or '-'",
    "fraiseql_observer_worker",
  ),
  OBSERVERS_NATS_ACK_WAIT_MS: integer(1000, 3_600_000, 30_000),
  OBSERVERS_NATS_BRIDGE_LEASE_MS: integer(1000, 600_000, 10_000),
  OBSERVERS_SOURCE_LEASE_MS: integer(1000, 600_000, 15_000),
} satisfies Record<ServerEnvName, v.GenericSchema<string | undefined, unknown>>);

/** Every variable `parseServerConfig` reads (hosts check they handle each: the Worker's config). */
export const SERVER_ENV_VARS: readonly string[] = Object.keys(envSchema.entries);

/**
 * One tenant's share of the attempts running at once unless `OBSERVERS_TENANT_CONCURRENCY` says
 * otherwise: half, so a tenant whose receivers hang leaves the other half to everyone else.
 */
export function defaultTenantConcurrency(concurrency: number): number {
  return Math.max(1, Math.ceil(concurrency / 2));
}

/**
 * Reads the server's settings from `env` (`process.env`, `Bun.env`, `Deno.env.toObject()`).
 * Empty values count as unset. Throws `ConfigError` listing every bad variable by name, with what
 * is wrong and what is allowed.
 */
export function parseServerConfig(env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const input: Record<string, string> = {};
  for (const name of Object.keys(envSchema.entries)) {
    const value = env[name]?.trim();
    if (value) input[name] = value;
  }
  const result = v.safeParse(envSchema, input);
  const issues: ConfigIssue[] = result.success
    ? []
    : result.issues.map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message }));
  const actionPolicy = parseActionPolicy(input, issues);
  if (result.success && result.output.OBSERVERS_TRANSPORT === "nats" && !result.output.NATS_URL) {
    issues.push({
      path: "NATS_URL",
      message: "is required with OBSERVERS_TRANSPORT=nats (nats://host:4222 or tls://host:4222)",
    });
  }
  if (
    result.success &&
    result.output.OBSERVERS_TRANSPORT === "postgres" &&
    result.output.OBSERVERS_ROLE !== "all"
  ) {
    issues.push({
      path: "OBSERVERS_ROLE",
      message: `${result.output.OBSERVERS_ROLE} needs OBSERVERS_TRANSPORT=nats (in postgres mode every runtime does all the work)`,
    });
  }
  if (
    result.success &&
    result.output.OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS <
      result.output.OBSERVERS_CIRCUIT_PROBE_DELAY_MS
  ) {
    issues.push({
      path: "OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS",
      message: `must be at least OBSERVERS_CIRCUIT_PROBE_DELAY_MS (${result.output.OBSERVERS_CIRCUIT_PROBE_DELAY_MS})`,
    });
  }
  if (!result.success || issues.length > 0) throw new ConfigError(issues);
  const e = result.output;
  return {
    databaseUrl: e.DATABASE_URL ?? null,
    port: e.PORT,
    host: e.HOST,
    adminToken: e.OBSERVERS_ADMIN_TOKEN ?? null,
    allowPrivateTargets: e.OBSERVERS_ALLOW_PRIVATE_TARGETS,
    resolveTargets: e.OBSERVERS_RESOLVE_TARGETS,
    dataDir: e.OBSERVERS_DATA_DIR,
    embeddedPort: e.OBSERVERS_EMBEDDED_PORT,
    jobHandlers: e.OBSERVERS_JOB_HANDLERS ?? null,
    migrate: e.OBSERVERS_MIGRATE,
    logLevel: e.LOG_LEVEL,
    redisUrl: e.REDIS_URL ?? null,
    natsUrl: e.NATS_URL ?? null,
    smtpUrl: e.SMTP_URL ?? null,
    sourceKey: e.OBSERVERS_SOURCE_KEY ?? null,
    sourceLeaseMs: e.OBSERVERS_SOURCE_LEASE_MS,
    listenerId: e.OBSERVERS_LISTENER_ID,
    pollIntervalMs: e.OBSERVERS_POLL_INTERVAL_MS,
    batchSize: e.OBSERVERS_BATCH_SIZE,
    concurrency: e.OBSERVERS_CONCURRENCY,
    perDestination: e.OBSERVERS_PER_DESTINATION,
    circuits: {
      failureThreshold: e.OBSERVERS_CIRCUIT_FAILURE_THRESHOLD,
      probeDelayMs: e.OBSERVERS_CIRCUIT_PROBE_DELAY_MS,
      maxProbeDelayMs: e.OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS,
      disableAfterMs: e.OBSERVERS_DESTINATION_DISABLE_AFTER_MS,
    },
    adaptiveConcurrency: e.OBSERVERS_ADAPTIVE_CONCURRENCY,
    leaseMs: e.OBSERVERS_LEASE_MS,
    shutdownTimeoutMs: e.OBSERVERS_SHUTDOWN_TIMEOUT_MS,
    liveMaxBufferedBytes: e.OBSERVERS_LIVE_MAX_BUFFERED_BYTES,
    liveKeyCheckMs: e.OBSERVERS_LIVE_KEY_CHECK_MS,
    metricsPublic: e.OBSERVERS_METRICS_PUBLIC,
    trustedProxies: e.OBSERVERS_TRUSTED_PROXIES?.length
      ? { ranges: e.OBSERVERS_TRUSTED_PROXIES, header: e.OBSERVERS_TRUSTED_PROXY_HEADER }
      : null,
    retention: {
      changeLogDays: e.OBSERVERS_CHANGE_LOG_RETENTION_DAYS,
      logDays: e.OBSERVERS_LOG_RETENTION_DAYS,
      dlqDays: e.OBSERVERS_DLQ_RETENTION_DAYS,
    },
    actionPolicy,
    tenantConcurrency:
      e.OBSERVERS_TENANT_CONCURRENCY ?? defaultTenantConcurrency(e.OBSERVERS_CONCURRENCY),
    ingestMaxDeliveries: e.OBSERVERS_INGEST_MAX_DELIVERIES,
    apiLimits: {
      maxObserversPerTenant: e.OBSERVERS_MAX_OBSERVERS_PER_TENANT,
      maxActionsPerObserver: e.OBSERVERS_MAX_ACTIONS_PER_OBSERVER,
      backtestMaxRangeDays: e.OBSERVERS_BACKTEST_MAX_RANGE_DAYS,
      backtestMaxRows: e.OBSERVERS_BACKTEST_MAX_ROWS,
      backtestConcurrencyPerKey: e.OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY,
    },
    apiPool: {
      size: e.OBSERVERS_API_POOL_SIZE,
      statementTimeoutMs: e.OBSERVERS_API_STATEMENT_TIMEOUT_MS,
    },
    transport: e.OBSERVERS_TRANSPORT,
    role: e.OBSERVERS_ROLE,
    nats: {
      stream: e.OBSERVERS_NATS_STREAM,
      subjectPrefix: e.OBSERVERS_NATS_SUBJECT_PREFIX,
      consumer: e.OBSERVERS_NATS_CONSUMER,
      ackWaitMs: e.OBSERVERS_NATS_ACK_WAIT_MS,
      bridgeLeaseMs: e.OBSERVERS_NATS_BRIDGE_LEASE_MS,
    },
  };
}
