/**
 * How soon the PostgreSQL adapter's pool tries again after failed connection attempts, and how
 * long one attempt may take. postgres.js waits up to 20 s between attempts by default; the fault
 * suite's PostgreSQL restarts found the server idle for 10–20 s with the database already back.
 * The pool's delays are now the listener's kind of backoff, capped at 2 s. A connection whose
 * backend was terminated during its start-up can hold its queries until the connect timeout (30 s
 * by default; the fault suite saw 29 s stalls): now 10 s. (No connection is made: these are the
 * pool's configuration.)
 */
import { describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";

/** The delay (seconds) postgres.js waits before reopening a connection after `failures`. */
function reconnectDelay(options: Parameters<typeof createPostgresClient>[1]) {
  const client = createPostgresClient("postgres://nobody@127.0.0.1:1/none", options);
  const { backoff, connect_timeout } = client.sql.options as unknown as {
    backoff: (failures: number) => number;
    connect_timeout: number;
  };
  return { backoff, connectTimeout: connect_timeout, close: () => client.close() };
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

  it("gives a connection attempt 10 s, handshake included, unless told otherwise", async () => {
    // A connection stuck in its start-up holds every query queued on it until this timeout.
    const defaults = reconnectDelay({});
    expect(defaults.connectTimeout).toBe(10);
    await defaults.close();
    const chosen = reconnectDelay({ connectTimeoutSeconds: 3 });
    expect(chosen.connectTimeout).toBe(3);
    await chosen.close();
  });
});
