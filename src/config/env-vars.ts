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
  | "OBSERVERS_DATA_DIR"
  | "OBSERVERS_EMBEDDED_PORT"
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
  | "OBSERVERS_LEASE_MS"
  | "OBSERVERS_SHUTDOWN_TIMEOUT_MS"
  | "OBSERVERS_LIVE_MAX_BUFFERED_BYTES"
  | "OBSERVERS_CHANGE_LOG_RETENTION_DAYS"
  | "OBSERVERS_LOG_RETENTION_DAYS"
  | "OBSERVERS_DLQ_RETENTION_DAYS";

// A record, so that the compiler refuses a variable missing here or one the type does not know.
const DOCS: Record<ServerEnvName, Omit<ServerEnvVar, "name">> = {
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
  OBSERVERS_DATA_DIR: {
    default: "./.data",
    description: "Where the embedded database keeps its files (when DATABASE_URL is unset).",
  },
  OBSERVERS_EMBEDDED_PORT: {
    default: "5433",
    description:
      "Local port exposing the embedded database to psql and applications (0 disables it).",
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
  NATS_URL: { default: null, description: "NATS (nats:// or tls://). Accepted; not used yet." },
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
    default: "8",
    description: "Attempts running at once against one destination (1 to 10000).",
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
  OBSERVERS_CHANGE_LOG_RETENTION_DAYS: {
    default: "7",
    description: "Days matched change-log rows are kept (1 to 3650).",
  },
  OBSERVERS_LOG_RETENTION_DAYS: {
    default: "30",
    description: "Days execution log rows are kept (1 to 3650).",
  },
  OBSERVERS_DLQ_RETENTION_DAYS: {
    default: "30",
    description: "Days dead letters are kept (1 to 3650).",
  },
};

/** Every variable the server reads, with its default and description (the README's table). */
export const SERVER_ENV_VARS: readonly ServerEnvVar[] = Object.entries(DOCS).map(([name, doc]) => ({
  name: name as ServerEnvName,
  ...doc,
}));
