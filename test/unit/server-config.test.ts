import { describe, expect, it } from "vitest";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import { SERVER_ENV_VARS } from "../../src/config/env-vars.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";

function issuesOf(env: Record<string, string>): { path: string; message: string }[] {
  try {
    parseServerConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  throw new Error("expected a ConfigError");
}

describe("parseServerConfig", () => {
  it("fills every default from an empty environment", () => {
    expect(parseServerConfig({})).toEqual({
      databaseUrl: null,
      port: 8080,
      host: "0.0.0.0",
      adminToken: null,
      allowPrivateTargets: false,
      resolveTargets: true,
      dataDir: "./.data",
      embeddedPort: 5433,
      jobHandlers: null,
      migrate: true,
      logLevel: "info",
      redisUrl: null,
      natsUrl: null,
      smtpUrl: null,
      sourceKey: null,
      sourceLeaseMs: 15_000,
      listenerId: "default",
      pollIntervalMs: 1000,
      batchSize: 500,
      concurrency: 64,
      circuits: {
        failureThreshold: 5,
        probeDelayMs: 1_000,
        maxProbeDelayMs: 300_000,
        disableAfterMs: 432_000_000,
      },
      perDestination: 256,
      adaptiveConcurrency: true,
      leaseMs: 30_000,
      shutdownTimeoutMs: 10_000,
      liveMaxBufferedBytes: 4_194_304,
      liveKeyCheckMs: 5_000,
      metricsPublic: false,
      trustedProxies: null,
      retention: { changeLogDays: 7, logDays: 30, dlqDays: 30 },
      actionPolicy: DEFAULT_ACTION_POLICY,
      tenantConcurrency: 32,
      ingestMaxDeliveries: 10_000,
      apiLimits: {
        maxObserversPerTenant: 1000,
        maxActionsPerObserver: 20,
        backtestMaxRangeDays: 31,
        backtestMaxRows: 100_000,
        backtestConcurrencyPerKey: 2,
      },
      apiPool: { size: 4, statementTimeoutMs: 15_000 },
      transport: "postgres",
      role: "all",
      nats: {
        stream: "fraiseql_events",
        subjectPrefix: "fraiseql.mutation",
        consumer: "fraiseql_observer_worker",
        ackWaitMs: 30_000,
        bridgeLeaseMs: 10_000,
      },
    });
  });

  it("derives the tenant share from the concurrency unless it is set", () => {
    expect(parseServerConfig({ OBSERVERS_CONCURRENCY: "5" }).tenantConcurrency).toBe(3);
    expect(
      parseServerConfig({ OBSERVERS_CONCURRENCY: "5", OBSERVERS_TENANT_CONCURRENCY: "5" })
        .tenantConcurrency,
    ).toBe(5);
    expect(() => parseServerConfig({ OBSERVERS_TENANT_CONCURRENCY: "0" })).toThrow(
      /OBSERVERS_TENANT_CONCURRENCY/,
    );
  });

  it("reads trusted proxies and their header, and names the entries it cannot read", () => {
    const config = parseServerConfig({
      OBSERVERS_TRUSTED_PROXIES: "10.0.0.0/8, fd00::/8",
      OBSERVERS_TRUSTED_PROXY_HEADER: "Forwarded",
      OBSERVERS_LIVE_KEY_CHECK_MS: "1000",
    });
    expect(config.trustedProxies?.header).toBe("forwarded");
    expect(config.trustedProxies?.ranges.map((r) => r.bits)).toEqual([8, 8]);
    expect(config.liveKeyCheckMs).toBe(1_000);
    // The header alone trusts nobody.
    expect(parseServerConfig({ OBSERVERS_TRUSTED_PROXY_HEADER: "forwarded" }).trustedProxies).toBe(
      null,
    );
    const byName = Object.fromEntries(
      issuesOf({
        OBSERVERS_TRUSTED_PROXIES: "10.0.0.0/8, proxy.internal",
        OBSERVERS_TRUSTED_PROXY_HEADER: "x-real-ip",
        OBSERVERS_LIVE_KEY_CHECK_MS: "100",
      }).map((issue) => [issue.path, issue.message]),
    );
    expect(byName.OBSERVERS_TRUSTED_PROXIES).toContain('"proxy.internal"');
    expect(byName.OBSERVERS_TRUSTED_PROXY_HEADER).toBe(
      'must be x-forwarded-for or forwarded, got "x-real-ip"',
    );
    expect(byName.OBSERVERS_LIVE_KEY_CHECK_MS).toBe(
      "must be an integer from 500 to 60000, got 100",
    );
  });

  it("reads every variable", () => {
    const config = parseServerConfig({
      DATABASE_URL: "postgres://u:p@db:5432/app",
      PORT: "0",
      HOST: "127.0.0.1",
      OBSERVERS_ADMIN_TOKEN: "a-token-of-16-chars",
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "YES",
      OBSERVERS_DATA_DIR: "/var/lib/observers",
      OBSERVERS_EMBEDDED_PORT: "0",
      OBSERVERS_MIGRATE: "off",
      LOG_LEVEL: "DEBUG",
      REDIS_URL: "rediss://cache:6380",
      NATS_URL: "nats://bus:4222",
      SMTP_URL: "smtps://user:pass@mail:465",
      OBSERVERS_LISTENER_ID: "eu-1",
      OBSERVERS_POLL_INTERVAL_MS: "250",
      OBSERVERS_BATCH_SIZE: "100",
      OBSERVERS_CONCURRENCY: "16",
      OBSERVERS_PER_DESTINATION: "2",
      OBSERVERS_LEASE_MS: "60000",
      OBSERVERS_SHUTDOWN_TIMEOUT_MS: "0",
      OBSERVERS_CHANGE_LOG_RETENTION_DAYS: "1",
      OBSERVERS_LOG_RETENTION_DAYS: "90",
      OBSERVERS_DLQ_RETENTION_DAYS: "365",
      OBSERVERS_TENANT_CONCURRENCY: "7",
      OBSERVERS_INGEST_MAX_DELIVERIES: "5000",
      OBSERVERS_MAX_OBSERVERS_PER_TENANT: "50",
      OBSERVERS_MAX_ACTIONS_PER_OBSERVER: "4",
      OBSERVERS_BACKTEST_MAX_RANGE_DAYS: "7",
      OBSERVERS_BACKTEST_MAX_ROWS: "1000",
      OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY: "1",
      OBSERVERS_API_POOL_SIZE: "2",
      OBSERVERS_API_STATEMENT_TIMEOUT_MS: "5000",
      OBSERVERS_TRANSPORT: "nats",
      OBSERVERS_ROLE: "bridge",
      OBSERVERS_NATS_STREAM: "events",
      OBSERVERS_NATS_SUBJECT_PREFIX: "app.changes",
      OBSERVERS_NATS_CONSUMER: "observers",
      OBSERVERS_NATS_ACK_WAIT_MS: "5000",
      OBSERVERS_NATS_BRIDGE_LEASE_MS: "3000",
    });
    expect(config).toMatchObject({
      databaseUrl: "postgres://u:p@db:5432/app",
      port: 0,
      host: "127.0.0.1",
      adminToken: "a-token-of-16-chars",
      allowPrivateTargets: true,
      embeddedPort: 0,
      migrate: false,
      logLevel: "debug",
      smtpUrl: "smtps://user:pass@mail:465",
      listenerId: "eu-1",
      shutdownTimeoutMs: 0,
      retention: { changeLogDays: 1, logDays: 90, dlqDays: 365 },
      tenantConcurrency: 7,
      ingestMaxDeliveries: 5000,
      apiLimits: {
        maxObserversPerTenant: 50,
        maxActionsPerObserver: 4,
        backtestMaxRangeDays: 7,
        backtestMaxRows: 1000,
        backtestConcurrencyPerKey: 1,
      },
      apiPool: { size: 2, statementTimeoutMs: 5000 },
      transport: "nats",
      role: "bridge",
      nats: {
        stream: "events",
        subjectPrefix: "app.changes",
        consumer: "observers",
        ackWaitMs: 5000,
        bridgeLeaseMs: 3000,
      },
    });
  });

  it("treats empty values as unset and ignores other variables", () => {
    expect(parseServerConfig({ PORT: "", DATABASE_URL: "  ", HOME: "/root" })).toMatchObject({
      port: 8080,
      databaseUrl: null,
    });
  });

  it.each([
    ["1", true],
    ["on", true],
    ["True", true],
    ["0", false],
    ["no", false],
    ["OFF", false],
  ])("reads OBSERVERS_ALLOW_PRIVATE_TARGETS=%s as %s", (value, expected) => {
    expect(parseServerConfig({ OBSERVERS_ALLOW_PRIVATE_TARGETS: value }).allowPrivateTargets).toBe(
      expected,
    );
  });

  it("resolves targets unless OBSERVERS_RESOLVE_TARGETS turns it off", () => {
    expect(parseServerConfig({}).resolveTargets).toBe(true);
    expect(parseServerConfig({ OBSERVERS_RESOLVE_TARGETS: "off" }).resolveTargets).toBe(false);
    expect(() => parseServerConfig({ OBSERVERS_RESOLVE_TARGETS: "maybe" })).toThrow(
      /OBSERVERS_RESOLVE_TARGETS/,
    );
  });

  it("lists every bad variable by name with what is allowed", () => {
    const issues = issuesOf({
      PORT: "http",
      OBSERVERS_BATCH_SIZE: "0",
      OBSERVERS_CONCURRENCY: "1.5",
      LOG_LEVEL: "verbose",
      OBSERVERS_ALLOW_PRIVATE_TARGETS: "maybe",
      OBSERVERS_MIGRATE: "later",
      DATABASE_URL: "mysql://secret@db/app",
      SMTP_URL: "http://mail",
      OBSERVERS_LISTENER_ID: "has spaces",
    });
    const byName = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        "DATABASE_URL",
        "LOG_LEVEL",
        "OBSERVERS_ALLOW_PRIVATE_TARGETS",
        "OBSERVERS_BATCH_SIZE",
        "OBSERVERS_CONCURRENCY",
        "OBSERVERS_LISTENER_ID",
        "OBSERVERS_MIGRATE",
        "PORT",
        "SMTP_URL",
      ].sort(),
    );
    expect(byName.PORT).toBe('must be an integer from 0 to 65535, got "http"');
    expect(byName.OBSERVERS_BATCH_SIZE).toBe("must be an integer from 1 to 10000, got 0");
    expect(byName.LOG_LEVEL).toContain("trace, debug, info, warn, error");
    expect(byName.OBSERVERS_MIGRATE).toContain("on or off");
    expect(byName.SMTP_URL).toContain("smtp:// or smtps://");
    // URLs carry passwords: never echoed.
    expect(byName.DATABASE_URL).not.toContain("secret");
  });

  it("says a NATS_URL list is not supported, rather than that it does not start with nats://", () => {
    const issues = issuesOf({
      OBSERVERS_TRANSPORT: "nats",
      NATS_URL: "nats://u:secret@a:4222,nats://u:secret@b:4222",
    });
    expect(issues).toEqual([
      { path: "NATS_URL", message: expect.stringContaining("one server's URL, not a list") },
    ]);
    expect(JSON.stringify(issues)).not.toContain("secret");
  });

  it("refuses an admin token shorter than 16 characters without echoing it", () => {
    const [issue] = issuesOf({ OBSERVERS_ADMIN_TOKEN: "short-secret" });
    expect(issue?.path).toBe("OBSERVERS_ADMIN_TOKEN");
    expect(issue?.message).toContain("at least 16 characters");
    expect(issue?.message).not.toContain("short-secret");
  });

  it("refuses integers out of range", () => {
    expect(issuesOf({ OBSERVERS_LEASE_MS: "999" })[0]?.path).toBe("OBSERVERS_LEASE_MS");
    expect(issuesOf({ PORT: "65536" })[0]?.path).toBe("PORT");
    expect(issuesOf({ OBSERVERS_DLQ_RETENTION_DAYS: "-1" })[0]?.path).toBe(
      "OBSERVERS_DLQ_RETENTION_DAYS",
    );
  });
});

describe("SERVER_ENV_VARS", () => {
  it("documents every variable parseServerConfig reads, with its default", () => {
    const names = SERVER_ENV_VARS.map((variable) => variable.name);
    expect(new Set(names).size).toBe(names.length);
    // A variable the parser reads but the list lacks would be ignored here: prove each is read.
    for (const variable of SERVER_ENV_VARS) {
      expect(variable.description.length).toBeGreaterThan(10);
      expect(() => parseServerConfig({ [variable.name]: "\u0000not valid\u0000" })).toThrow(
        variable.name,
      );
    }
  });

  it("defaults agree with parseServerConfig's", () => {
    const defaults = parseServerConfig({});
    const documented = Object.fromEntries(SERVER_ENV_VARS.map((v) => [v.name, v.default]));
    expect(documented.PORT).toBe(String(defaults.port));
    expect(documented.HOST).toBe(defaults.host);
    expect(documented.OBSERVERS_DATA_DIR).toBe(defaults.dataDir);
    expect(documented.OBSERVERS_EMBEDDED_PORT).toBe(String(defaults.embeddedPort));
    expect(documented.LOG_LEVEL).toBe(defaults.logLevel);
    expect(documented.OBSERVERS_LISTENER_ID).toBe(defaults.listenerId);
    expect(documented.OBSERVERS_BATCH_SIZE).toBe(String(defaults.batchSize));
    expect(documented.OBSERVERS_LEASE_MS).toBe(String(defaults.leaseMs));
    expect(documented.OBSERVERS_DLQ_RETENTION_DAYS).toBe(String(defaults.retention.dlqDays));
  });
});

describe("circuit settings", () => {
  it("reads them, refuses a longest probe delay under the first", () => {
    expect(
      parseServerConfig({
        OBSERVERS_CIRCUIT_FAILURE_THRESHOLD: "0",
        OBSERVERS_DESTINATION_DISABLE_AFTER_MS: "0",
      }).circuits,
    ).toMatchObject({ failureThreshold: 0, disableAfterMs: 0 });
    expect(() =>
      parseServerConfig({
        OBSERVERS_CIRCUIT_PROBE_DELAY_MS: "5000",
        OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS: "1000",
      }),
    ).toThrow("OBSERVERS_CIRCUIT_MAX_PROBE_DELAY_MS");
  });
});
