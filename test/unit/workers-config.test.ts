import { describe, expect, it } from "vitest";
import { WORKERS_IGNORED_VARS, workersConfig } from "../../adapters/hosts/workers/config.ts";
import { SERVER_ENV_VARS } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";

const HYPERDRIVE = { connectionString: "postgres://u:p@h/db" };

function issuesOf(env: object): string[] {
  try {
    workersConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe("workersConfig", () => {
  it("reads the servers' variables from string vars, ignoring bindings", () => {
    const config = workersConfig({
      HYPERDRIVE,
      LOG_LEVEL: "debug",
      OBSERVERS_ADMIN_TOKEN: "a-long-enough-admin-token",
      OBSERVERS_BATCH_SIZE: "50",
    });
    expect(config.server.logLevel).toBe("debug");
    expect(config.server.adminToken).toBe("a-long-enough-admin-token");
    expect(config.server.batchSize).toBe(50);
    expect(config.tickBudgetMs).toBe(20_000);
    expect(config.maxSubrequests).toBe(600);
    expect(config.upstash).toBeNull();
  });

  it("defaults to 4 attempts at once (6 connections an invocation, 2 for the database)", () => {
    const config = workersConfig({});
    expect(config.server.batchSize).toBe(100);
    expect(config.server.concurrency).toBe(4);
    expect(config.server.perDestination).toBe(4);
    // A tenant's share follows the Worker's concurrency, not the servers' 64.
    expect(config.server.tenantConcurrency).toBe(2);
    expect(workersConfig({ OBSERVERS_TENANT_CONCURRENCY: "3" }).server.tenantConcurrency).toBe(3);
    const chosen = workersConfig({ OBSERVERS_CONCURRENCY: "16", OBSERVERS_PER_DESTINATION: "2" });
    expect(chosen.server.concurrency).toBe(16);
    expect(chosen.server.perDestination).toBe(2);
  });

  it("ignores, and names, what a Worker has no use for (the database is the binding)", () => {
    const config = workersConfig({
      DATABASE_URL: "not a url",
      REDIS_URL: "x",
      PORT: "-1",
      OBSERVERS_API_STATEMENT_TIMEOUT_MS: "5000",
    });
    expect(config.ignored).toEqual([
      "DATABASE_URL",
      "PORT",
      "REDIS_URL",
      "OBSERVERS_API_STATEMENT_TIMEOUT_MS",
    ]);
  });

  it("names every bad variable at once", () => {
    expect(
      issuesOf({
        OBSERVERS_TICK_BUDGET_MS: "20s",
        OBSERVERS_TICK_MAX_SUBREQUESTS: "0",
        OBSERVERS_BATCH_SIZE: "0",
        UPSTASH_REDIS_REST_URL: "https://example.upstash.io",
      }),
    ).toEqual([
      "OBSERVERS_BATCH_SIZE: must be an integer from 1 to 10000, got 0",
      "OBSERVERS_TICK_BUDGET_MS: must be an integer from 1000 to 600000, got 20s",
      "OBSERVERS_TICK_MAX_SUBREQUESTS: must be an integer from 1 to 1000000, got 0",
      "UPSTASH_REDIS_REST_TOKEN: set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither",
    ]);
  });

  it("takes Upstash's REST endpoint for cache actions", () => {
    const config = workersConfig({
      UPSTASH_REDIS_REST_URL: "https://example.upstash.io",
      UPSTASH_REDIS_REST_TOKEN: "t",
    });
    expect(config.upstash).toEqual({ url: "https://example.upstash.io", token: "t" });
  });

  it("passes the circuit settings (OBSERVERS_CIRCUIT_*, disablement) to its ticks' runtime", () => {
    const config = workersConfig({
      OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: "2",
      OBSERVERS_CIRCUIT_PROBE_DELAY_MS: "500",
      OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS: "9000",
      OBSERVERS_DESTINATION_DISABLE_AFTER_MS: "0",
    });
    expect(config.server.circuits).toEqual({
      failureThreshold: 2,
      probeDelayMs: 500,
      maxProbeDelayMs: 9000,
      disableAfterMs: 0,
    });
    expect(config.ignored).toEqual([]);
    expect(issuesOf({ OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: "-1" })).toEqual([
      "OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: must be an integer from 0 to 1000, got -1",
    ]);
  });

  it("ignores, with a warning, what sources, proxies and name resolution would need", () => {
    const config = workersConfig({
      OBSERVERS_SOURCE_KEY: "k".repeat(40),
      OBSERVERS_SOURCE_LEASE_MS: "15000",
      OBSERVERS_TRUSTED_PROXIES: "10.0.0.0/8",
      OBSERVERS_RESOLVE_TARGETS: "false",
      OBSERVERS_LIVE_MAX_BUFFERED_BYTES: "65536",
    });
    expect(config.ignored).toEqual([
      "OBSERVERS_RESOLVE_TARGETS",
      "OBSERVERS_LIVE_MAX_BUFFERED_BYTES",
      "OBSERVERS_TRUSTED_PROXIES",
      "OBSERVERS_SOURCE_KEY",
      "OBSERVERS_SOURCE_LEASE_MS",
    ]);
  });

  it("has a decision for every server variable: applied, ignored with a warning, or NATS mode's", () => {
    // Read by the Worker's ticks, API, live hubs or actions (docs/runtimes.md). A new server
    // variable fails here until the Worker applies it or ignores it with a warning.
    const applied = [
      "OBSERVERS_ADMIN_TOKEN",
      "OBSERVERS_ALLOW_PRIVATE_TARGETS",
      "LOG_LEVEL",
      "OBSERVERS_LISTENER_ID",
      "OBSERVERS_POLL_INTERVAL_MS",
      "OBSERVERS_BATCH_SIZE",
      "OBSERVERS_CONCURRENCY",
      "OBSERVERS_PER_DESTINATION",
      "OBSERVERS_ADAPTIVE_CONCURRENCY",
      "OBSERVERS_CIRCUIT_FAILURE_THRESHOLD",
      "OBSERVERS_CIRCUIT_PROBE_DELAY_MS",
      "OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS",
      "OBSERVERS_DESTINATION_DISABLE_AFTER_MS",
      "OBSERVERS_LEASE_MS",
      "OBSERVERS_SHUTDOWN_TIMEOUT_MS",
      "OBSERVERS_LIVE_KEY_CHECK_MS",
      "OBSERVERS_METRICS_PUBLIC",
      "OBSERVERS_CHANGE_LOG_RETENTION_DAYS",
      "OBSERVERS_LOG_RETENTION_DAYS",
      "OBSERVERS_DLQ_RETENTION_DAYS",
      "OBSERVERS_ACTION_ENV_PREFIX",
      "OBSERVERS_ACTION_ENV_ALLOW",
      "OBSERVERS_TENANT_ENV_PREFIXES",
      "OBSERVERS_ALLOWED_BASE_URLS",
      "OBSERVERS_TENANT_FUNCTIONS",
      "OBSERVERS_TENANT_SENDERS",
      "OBSERVERS_TENANT_NAMESPACE",
      "OBSERVERS_TENANT_CONCURRENCY",
      "OBSERVERS_INGEST_MAX_DELIVERIES",
      "OBSERVERS_MAX_OBSERVERS_PER_TENANT",
      "OBSERVERS_MAX_ACTIONS_PER_OBSERVER",
      "OBSERVERS_BACKTEST_MAX_RANGE_DAYS",
      "OBSERVERS_BACKTEST_MAX_ROWS",
      "OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY",
      // `postgres` only: `nats` is refused at start-up.
      "OBSERVERS_TRANSPORT",
    ];
    // Only meaningful with OBSERVERS_TRANSPORT=nats, which the Worker refuses.
    const natsMode = [
      "NATS_URL",
      "OBSERVERS_ROLE",
      "OBSERVERS_NATS_STREAM",
      "OBSERVERS_NATS_SUBJECT_PREFIX",
      "OBSERVERS_NATS_CONSUMER",
      "OBSERVERS_NATS_ACK_WAIT_MS",
      "OBSERVERS_NATS_BRIDGE_LEASE_MS",
    ];
    const decided = [...applied, ...natsMode, ...WORKERS_IGNORED_VARS];
    expect(new Set(decided).size).toBe(decided.length);
    expect([...SERVER_ENV_VARS].sort()).toEqual([...decided].sort());
    expect(issuesOf({ OBSERVERS_TRANSPORT: "nats", NATS_URL: "nats://127.0.0.1:4222" })).toEqual([
      expect.stringMatching(/^OBSERVERS_TRANSPORT: nats is not available on Cloudflare Workers/),
    ]);
  });
});
