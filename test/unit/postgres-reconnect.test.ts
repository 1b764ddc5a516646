/**
 * How soon the PostgreSQL adapter's pool tries again after failed connection attempts. postgres.js
 * waits up to 20 s by default; the fault suite's PostgreSQL restarts found the server idle for
 * 10–20 s with the database already back. The pool's delays are now the listener's kind of
 * backoff, capped at 2 s. (No connection is made: the delays are the pool's configuration.)
 */
import { describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/postgres/postgres-client.ts";

/** The delay (seconds) postgres.js waits before reopening a connection after `failures`. */
function reconnectDelay(options: Parameters<typeof createPostgresClient>[1]) {
  const client = createPostgresClient("postgres://nobody@127.0.0.1:1/none", options);
  const { backoff } = client.sql.options as unknown as { backoff: (failures: number) => number };
  return { backoff, close: () => client.close() };
}

describe("the pool's reconnection backoff", () => {
  it("waits at most 2 s however many attempts failed, starting from 100 ms", async () => {
    const { backoff, close } = reconnectDelay({ random: () => 0.999_999 });
    expect(backoff(1)).toBeLessThanOrEqual(0.1);
    for (let failures = 1; failures <= 60; failures++) {
      expect(backoff(failures)).toBeLessThanOrEqual(2);
    }
    expect(backoff(60)).toBeGreaterThan(1.99);
    await close();
  });

  it("takes its bounds from reconnectBackoff, jittered by `random`", async () => {
    const { backoff, close } = reconnectDelay({
      reconnectBackoff: { initialMs: 50, maxMs: 500 },
      random: () => 0.5,
    });
    expect(backoff(1)).toBe(0.025);
    expect(backoff(30)).toBe(0.25);
    await close();
  });
});
