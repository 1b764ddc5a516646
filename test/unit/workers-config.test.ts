import { describe, expect, it } from "vitest";
import { workersConfig } from "../../adapters/hosts/workers/config.ts";
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
});
