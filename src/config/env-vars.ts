/** One environment variable the server reads: its default (as documented) and what it does. */
export interface ServerEnvVar {
  name: ServerEnvName;
  /** The default as a person reads it, or null when unset means "off" or "not used". */
  default: string | null;
  description: string;
}

/** Every variable `parseServerConfig` reads. */
export type ServerEnvName =
  | "DATABASE_URL"
  | "PORT"
  | "HOST"
  | "OBSERVERS_ADMIN_TOKEN"
  | "OBSERVERS_ALLOW_PRIVATE_TARGETS"
  | "OBSERVERS_RESOLVE_TARGETS"
  | "OBSERVERS_DATA_DIR"
  | "OBSERVERS_EMBEDDED_PORT"
  | "OBSERVERS_JOB_HANDLERS"
  | "OBSERVERS_MIGRATE"
  | "LOG_LEVEL"
  | "REDIS_URL"
  | "NATS_URL"
  | "SMTP_URL"
  | "OBSERVERS_LISTENER_ID"
  | "OBSERVERS_POLL_INTERVAL_MS"
  | "OBSERVERS_BATCH_SIZE"
  | "OBSERVERS_CONCURRENCY"
  | "OBSERVERS_PER_DESTINATION"
  | "OBSERVERS_CIRCUIT_FAILURE_THRESHOLD"
  | "OBSERVERS_CIRCUIT_PROBE_DELAY_MS"
  | "OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS"
  | "OBSERVERS_DESTINATION_DISABLE_AFTER_MS"
  | "OBSERVERS_ADAPTIVE_CONCURRENCY"
  | "OBSERVERS_LEASE_MS"
  | "OBSERVERS_SHUTDOWN_TIMEOUT_MS"
  | "OBSERVERS_LIVE_MAX_BUFFERED_BYTES"
  | "OBSERVERS_LIVE_KEY_CHECK_MS"
  | "OBSERVERS_METRICS_PUBLIC"
  | "OBSERVERS_TRUSTED_PROXIES"
  | "OBSERVERS_TRUSTED_PROXY_HEADER"
  | "OBSERVERS_CHANGE_LOG_RETENTION_DAYS"
  | "OBSERVERS_LOG_RETENTION_DAYS"
  | "OBSERVERS_DLQ_RETENTION_DAYS"
  | "OBSERVERS_ACTION_ENV_PREFIX"
  | "OBSERVERS_ACTION_ENV_ALLOW"
  | "OBSERVERS_TENANT_ENV_PREFIXES"
  | "OBSERVERS_ALLOWED_BASE_URLS"
  | "OBSERVERS_TENANT_FUNCTIONS"
  | "OBSERVERS_TENANT_SENDERS"
  | "OBSERVERS_TENANT_NAMESPACE"
  | "OBSERVERS_TENANT_CONCURRENCY"
  | "OBSERVERS_INGEST_MAX_DELIVERIES"
  | "OBSERVERS_MAX_OBSERVERS_PER_TENANT"
  | "OBSERVERS_MAX_ACTIONS_PER_OBSERVER"
  | "OBSERVERS_BACKTEST_MAX_RANGE_DAYS"
  | "OBSERVERS_BACKTEST_MAX_ROWS"
  | "OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY"
  | "OBSERVERS_API_POOL_SIZE"
  | "OBSERVERS_API_STATEMENT_TIMEOUT_MS"
  | "OBSERVERS_TRANSPORT"
  | "OBSERVERS_ROLE"
  | "OBSERVERS_NATS_STREAM"
  | "OBSERVERS_NATS_SUBJECT_PREFIX"
  | "OBSERVERS_NATS_CONSUMER"
  | "OBSERVERS_NATS_ACK_WAIT_MS"
  | "OBSERVERS_NATS_BRIDGE_LEASE_MS"
  | "OBSERVERS_SOURCE_KEY"
  | "OBSERVERS_SOURCE_LEASE_MS";

// A record, so that the compiler refuses a variable missing here or one the type does not know.
const DOCS: Record<ServerEnvName, Omit<ServerEnvVar, "name">> = {
  OBSERVERS_TRANSPORT: {
    default: "postgres",
    description:
      "postgres (the runtime reads the change log) or nats (a bridge publishes changes to NATS JetStream, workers consume them; needs NATS_URL).",
  },
  OBSERVERS_ROLE: {
    default: "all",
    description:
      "NATS mode: all (bridge and worker), bridge (publish only: runs no delivery and fires no schedule) or worker (consume, match, deliver, fire schedules).",
  },
  OBSERVERS_NATS_STREAM: {
    default: "fraiseql_events",
    description: "NATS mode: the JetStream stream (letters, digits, _ and -), created if missing.",
  },
  OBSERVERS_NATS_SUBJECT_PREFIX: {
    default: "fraiseql.mutation",
    description:
      "NATS mode: subjects are <prefix>.<entity_type>.<INSERT|UPDATE|DELETE|CUSTOM> (dot-separated tokens of letters, digits, _ and -).",
  },
  OBSERVERS_NATS_CONSUMER: {
    default: "fraiseql_observer_worker",
    description: "NATS mode: the durable pull consumer every worker shares.",
  },
  OBSERVERS_NATS_ACK_WAIT_MS: {
    default: "30000",
    description:
      "NATS mode: how long a message may stay unacknowledged (a worker killed) before redelivery (1000 to 3600000).",
  },
  OBSERVERS_NATS_BRIDGE_LEASE_MS: {
    default: "10000",
    description:
      "NATS mode: the bridges' publishing lease; another bridge takes over this long after the leader dies (1000 to 600000).",
  },
  OBSERVERS_SOURCE_KEY: {
    default: null,
    description:
      "Key (at least 32 characters) encrypting the inline url of sources (POST /api/sources, AES-GCM). Unset: sources must name their URL with url_env.",
  },
  OBSERVERS_SOURCE_LEASE_MS: {
    default: "15000",
    description:
      "A source's lease: one server reads each source; another takes over this long after it died (1000 to 600000).",
  },
  DATABASE_URL: {
    default: null,
    description:
      "PostgreSQL URL (postgres:// or postgresql://). Unset: embedded PGlite under OBSERVERS_DATA_DIR.",
  },
  PORT: { default: "8080", description: "HTTP port of the API (0 picks a free one)." },
  HOST: { default: "0.0.0.0", description: "Interface the HTTP server binds to." },
  OBSERVERS_ADMIN_TOKEN: {
    default: null,
    description:
      "Bootstrap admin bearer token (at least 16 characters). Unset: in embedded mode one is generated, printed once and kept (hashed) in the database; with DATABASE_URL the server prints none and refuses to start unless an admin key exists (npm run create-key).",
  },
  OBSERVERS_ALLOW_PRIVATE_TARGETS: {
    default: "false",
    description:
      "Permit actions to reach loopback and private networks (1/true/yes/on or 0/false/no/off).",
  },
  OBSERVERS_RESOLVE_TARGETS: {
    default: "true",
    description:
      "Bun and Deno: resolve each target's host name and refuse it if any address is private (off only where an egress proxy or firewall enforces that itself).",
  },
  OBSERVERS_DATA_DIR: {
    default: "./.data",
    description: "Where the embedded database keeps its files (when DATABASE_URL is unset).",
  },
  OBSERVERS_EMBEDDED_PORT: {
    default: "5433",
    description:
      "Local port exposing the embedded database to psql and applications (0 disables it).",
  },
  OBSERVERS_JOB_HANDLERS: {
    default: null,
    description:
      "The ready servers (Bun, Deno): a module (path or file: URL) whose register(jobs) (or default export) registers builtin job handlers before start (docs/jobs.md).",
  },
  OBSERVERS_MIGRATE: {
    default: "on",
    description: "Apply pending migrations at startup (on or off).",
  },
  LOG_LEVEL: { default: "info", description: "trace, debug, info, warn or error." },
  REDIS_URL: {
    default: null,
    description: "Redis (redis:// or rediss://) for the cache action. Unset: cache actions fail.",
  },
  NATS_URL: {
    default: null,
    description:
      "NATS (nats:// or tls://, credentials allowed: never logged). Required when OBSERVERS_TRANSPORT=nats.",
  },
  SMTP_URL: {
    default: null,
    description:
      "SMTP server (smtp:// or smtps://) for email actions with provider smtp. Unset: they fail.",
  },
  OBSERVERS_LISTENER_ID: {
    default: "default",
    description: "Name of this runtime's change-log cursor; runtimes sharing one share the work.",
  },
  OBSERVERS_POLL_INTERVAL_MS: {
    default: "1000",
    description: "Look for changes this often even without a notification (10 to 3600000).",
  },
  OBSERVERS_BATCH_SIZE: {
    default: "500",
    description: "Changes read per ingest and deliveries per claim (1 to 10000).",
  },
  OBSERVERS_CONCURRENCY: {
    default: "64",
    description: "Action attempts running at once (1 to 10000).",
  },
  OBSERVERS_PER_DESTINATION: {
    default: "256",
    description:
      "Most attempts running at once against one destination (1 to 10000): the cap of its adaptive limit, or the fixed limit with OBSERVERS_ADAPTIVE_CONCURRENCY=off.",
  },
  OBSERVERS_ADAPTIVE_CONCURRENCY: {
    default: "on",
    description:
      "on: each destination's attempts at once are learnt from its latency and overload signals (timeouts, 408/429/5xx, connection errors), from 1 up to OBSERVERS_PER_DESTINATION. off: OBSERVERS_PER_DESTINATION is a fixed limit.",
  },
  OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: {
    default: "5",
    description:
      "Consecutive transient failures (5xx, 408, 429, timeouts, connection errors) that open a destination's circuit, shared by every server; 0 turns circuits off (0 to 1000).",
  },
  OBSERVERS_CIRCUIT_PROBE_DELAY_MS: {
    default: "1000",
    description:
      "Wait before the first probe of an open circuit; doubles per failed probe, jittered (10 to 3600000).",
  },
  OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS: {
    default: "300000",
    description: "Longest wait between probes (at least the probe delay; up to 86400000).",
  },
  OBSERVERS_DESTINATION_DISABLE_AFTER_MS: {
    default: "432000000",
    description:
      "A destination failing this long (5 days) is disabled: its deliveries are held, not dead-lettered, until reset; 0 never disables (0 to 31536000000).",
  },
  OBSERVERS_LEASE_MS: {
    default: "30000",
    description: "Lease of a claimed delivery, renewed while it runs (1000 to 86400000).",
  },
  OBSERVERS_SHUTDOWN_TIMEOUT_MS: {
    default: "10000",
    description: "On SIGTERM/SIGINT, how long running attempts may finish (0 to 600000).",
  },
  OBSERVERS_LIVE_MAX_BUFFERED_BYTES: {
    default: "4194304",
    description:
      "Unsent bytes a WebSocket subscriber may fall behind by before it is closed with 1013 (65536 to 1073741824).",
  },
  OBSERVERS_LIVE_KEY_CHECK_MS: {
    default: "5000",
    description:
      "How often each server re-checks the API keys of its open WebSockets; a socket whose key was revoked on another server is closed (1008) within this (500 to 60000).",
  },
  OBSERVERS_METRICS_PUBLIC: {
    default: "off",
    description:
      "Serve GET /metrics (and /api/observers/metrics) without a token, for a scraper on a private network (on or off). Off: a key bound to no tenant (any scope). docs/metrics.md.",
  },
  OBSERVERS_TRUSTED_PROXIES: {
    default: null,
    description:
      "Addresses or CIDR ranges of your reverse proxies (comma-separated, IPv4 or IPv6). Only a request from one of them has its client address read from OBSERVERS_TRUSTED_PROXY_HEADER (right to left, skipping trusted hops), for throttling failed authentication. Unset: the peer address, headers ignored.",
  },
  OBSERVERS_TRUSTED_PROXY_HEADER: {
    default: "x-forwarded-for",
    description:
      "The header your trusted proxies write the client address into: x-forwarded-for or forwarded (RFC 7239).",
  },
  OBSERVERS_CHANGE_LOG_RETENTION_DAYS: {
    default: "7",
    description: "Days matched change-log rows are kept (1 to 3650).",
  },
  OBSERVERS_LOG_RETENTION_DAYS: {
    default: "30",
    description: "Days execution log rows, and finished jobs, are kept (1 to 3650).",
  },
  OBSERVERS_DLQ_RETENTION_DAYS: {
    default: "30",
    description: "Days dead letters, and failed jobs, are kept (1 to 3650).",
  },
  OBSERVERS_ACTION_ENV_PREFIX: {
    default: "OBSERVERS_SECRET_",
    description:
      "Actions of global observers may reference (`*_env`) variables with this prefix; none: only OBSERVERS_ACTION_ENV_ALLOW. The server's own variables never (docs/security.md).",
  },
  OBSERVERS_ACTION_ENV_ALLOW: {
    default: null,
    description:
      "Further variables global observers may reference, by name (comma-separated). Naming a server variable is a startup error.",
  },
  OBSERVERS_TENANT_ENV_PREFIXES: {
    default: null,
    description:
      "tenant=PREFIX_ pairs (comma-separated): the only variables that tenant's observers may reference. Unlisted tenants: none.",
  },
  OBSERVERS_ALLOWED_BASE_URLS: {
    default: null,
    description:
      "Origins a base_url may name when the action takes a value from the environment (comma-separated); otherwise only the provider's own API.",
  },
  OBSERVERS_TENANT_FUNCTIONS: {
    default: null,
    description:
      "Functions (name or schema.name, comma-separated) that tenants' database actions may call. Unset: none.",
  },
  OBSERVERS_TENANT_SENDERS: {
    default: null,
    description:
      "From addresses and @domains (comma-separated) tenants' SMTP email may use. Unset: tenants cannot send over SMTP.",
  },
  OBSERVERS_TENANT_NAMESPACE: {
    default: "tenant:{tenant}:",
    description:
      "Prefixed to every cache key pattern, and graphile-worker or Cloudflare Queues job task, of a tenant's observer ({tenant} is its id).",
  },
  OBSERVERS_TENANT_CONCURRENCY: {
    default: null,
    description:
      "Attempts one tenant's deliveries may run at once (1 to 10000). Unset: half of OBSERVERS_CONCURRENCY, rounded up. Deliveries without a tenant are not capped.",
  },
  OBSERVERS_INGEST_MAX_DELIVERIES: {
    default: "10000",
    description:
      "Deliveries one ingest statement creates at most: the batch is cut to stay under it (1 to 1000000).",
  },
  OBSERVERS_MAX_OBSERVERS_PER_TENANT: {
    default: "1000",
    description: "Live observers per tenant, and without a tenant (1 to 1000000); 422 beyond.",
  },
  OBSERVERS_MAX_ACTIONS_PER_OBSERVER: {
    default: "20",
    description: "Actions one observer may have (1 to 32); 422 beyond.",
  },
  OBSERVERS_BACKTEST_MAX_RANGE_DAYS: {
    default: "31",
    description: "Longest time range of one backtest (1 to 3650); 422 beyond.",
  },
  OBSERVERS_BACKTEST_MAX_ROWS: {
    default: "100000",
    description:
      "Changes one backtest considers at most; beyond, it reports truncated (1 to 10000000).",
  },
  OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY: {
    default: "2",
    description: "Backtests one API key may run at once on one server (1 to 1000); 429 beyond.",
  },
  OBSERVERS_API_POOL_SIZE: {
    default: "4",
    description:
      "PostgreSQL connections of the API's own pool, apart from the runtime's (1 to 100; with DATABASE_URL).",
  },
  OBSERVERS_API_STATEMENT_TIMEOUT_MS: {
    default: "15000",
    description:
      "statement_timeout of the API's connections (100 to 3600000; with DATABASE_URL); 503 beyond.",
  },
};

/** Every variable the server reads, with its default and description (docs/configuration.md's table). */
export const SERVER_ENV_VARS: readonly ServerEnvVar[] = Object.entries(DOCS).map(([name, doc]) => ({
  name: name as ServerEnvName,
  ...doc,
}));
