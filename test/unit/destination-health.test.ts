/**
 * The pure parts of endpoint health and rate limits (src/runtime/destination-health.ts,
 * rate-limiter.ts): the probe backoff, destinations never carrying credentials, reading
 * `rate_limit_per_second`, and a runtime's use of the shared bucket (a fake SQL port standing for
 * the database's grant, a fake clock): tokens are used locally, dropped after a second, and
 * waiters are spread one token apart.
 */
import { describe, expect, it } from "vitest";
import type { Delivery, ExecutionOutcome } from "../../src/executor/outcome.ts";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import {
  createDeliveryGate,
  DEFAULT_CIRCUIT_SETTINGS,
  probeDelay,
  rateLimitOf,
  safeDestination,
} from "../../src/runtime/destination-health.ts";
import { createRateLimiter } from "../../src/runtime/rate-limiter.ts";
import type { ClaimedDelivery } from "../../src/store/claims.ts";
import { fakeClock } from "../support/clock.ts";

describe("probeDelay", () => {
  it("doubles from the first delay to the cap, jittered over the upper half", () => {
    const s = DEFAULT_CIRCUIT_SETTINGS;
    expect(probeDelay(0, s, () => 0)).toBe(500);
    expect(probeDelay(0, s, () => 1)).toBe(1_000);
    expect(probeDelay(3, s, () => 1)).toBe(8_000);
    expect(probeDelay(20, s, () => 1)).toBe(300_000);
    expect(probeDelay(1_000, s, () => 0.5)).toBe(225_000);
  });
});

describe("safeDestination", () => {
  it("never keeps userinfo, and stays bounded", () => {
    expect(safeDestination("webhook:https://user:secret@hooks.example.com")).toBe(
      "webhook:https://hooks.example.com",
    );
    expect(safeDestination("webhook:https://hooks.example.com")).toBe(
      "webhook:https://hooks.example.com",
    );
    expect(safeDestination(`webhook:${"x".repeat(1_000)}`)).toHaveLength(300);
  });
});

describe("rateLimitOf", () => {
  it("reads a positive finite rate, nothing else", () => {
    expect(rateLimitOf({ type: "webhook", rate_limit_per_second: 2.5 })).toBe(2.5);
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "5", null]) {
      expect(rateLimitOf({ type: "webhook", rate_limit_per_second: rate })).toBeNull();
    }
    expect(rateLimitOf({ type: "webhook" })).toBeNull();
    expect(rateLimitOf(null)).toBeNull();
  });
});

/** A bucket as the database keeps it: refilled at `rate` up to `burst`, granting what it has. */
function fakeBucketSql(clock: { now(): number }) {
  let tokens: number | null = null;
  let at = 0;
  const takes: number[] = [];
  const sql: SqlExecutor = {
    async query(_text, params) {
      const [, , burst, want, rate] = (params ?? []) as [string, number, number, number, number];
      const now = clock.now();
      const available =
        tokens === null ? burst : Math.min(burst, tokens + (rate * (now - at)) / 1000);
      const granted = Math.min(Math.floor(available), want);
      tokens = available - granted;
      at = now;
      takes.push(granted);
      return [{ granted, left: tokens }] as never;
    },
  };
  return { sql, takes };
}

describe("createRateLimiter", () => {
  it("takes a quarter second's worth at a time and spreads the waiters one token apart", async () => {
    const clock = fakeClock();
    const { sql, takes } = fakeBucketSql(clock);
    const limiter = createRateLimiter({ sql, clock, onError: () => {} });
    const answers: (number | null)[] = [];
    for (let i = 0; i < 12; i++) answers.push(await limiter.take("1", 0, 8));
    // Burst 8, two tokens per take: four takes run now, then the bucket is empty.
    expect(answers.slice(0, 8)).toEqual(Array(8).fill(null));
    expect(takes).toEqual([2, 2, 2, 2, 0]);
    const waits = answers.slice(8).map(Number);
    expect(waits.every((at) => at > clock.now())).toBe(true);
    // One token (125 ms at 8/s) apart.
    expect(waits.slice(1).map((at, i) => at - (waits[i] ?? 0))).toEqual([125, 125, 125]);
  });

  it("drops tokens not used within a second instead of lending them on", async () => {
    const clock = fakeClock();
    const { sql, takes } = fakeBucketSql(clock);
    const limiter = createRateLimiter({ sql, clock, onError: () => {} });
    expect(await limiter.take("1", 0, 40)).toBeNull();
    expect(takes).toEqual([10]);
    clock.advance(1_001);
    expect(await limiter.take("1", 0, 40)).toBeNull();
    // A new take: the nine unused tokens were not used after their second.
    expect(takes).toEqual([10, 10]);
  });

  it("waits rather than runs when the bucket cannot be read", async () => {
    const clock = fakeClock();
    const errors: string[] = [];
    const limiter = createRateLimiter({
      sql: { query: async () => Promise.reject(new Error("down")) },
      clock,
      onError: (_e, where) => errors.push(where),
    });
    const at = await limiter.take("1", 0, 5);
    expect(at).toBeGreaterThan(clock.now());
    expect(errors).toEqual(["rate_limit"]);
  });
});

describe("a runtime's view of a circuit it opened", () => {
  const DESTINATION = "webhook:https://hooks.example.com";
  const delivery = (id: string) =>
    ({
      id,
      action: { type: "webhook", url: "https://hooks.example.com/x" },
      observer: { id: "o", name: "o", tenant: null },
    }) as unknown as Delivery;
  const claim = (id: string) =>
    ({ id, fk_observer: "1", action_index: 0, dead_letter: null }) as unknown as ClaimedDelivery;
  const failed = { failureKind: "transient", errorCode: "HTTP_STATUS", httpStatus: 503 };

  /** The shared table as another server sees it: empty until the failure's write commits. */
  function fakeDestinationsSql() {
    const writes: (() => void)[] = [];
    let committed = false;
    const sql: SqlExecutor = {
      async query(text) {
        if (text.includes("INSERT INTO core.tb_observer_destination")) {
          await new Promise<void>((resolve) => writes.push(resolve));
          committed = true;
          return [] as never;
        }
        // listUnhealthy: the committed row only (never a reset here, so an open row stays open).
        if (!committed) return [] as never;
        return [
          {
            id: "d",
            destination: DESTINATION,
            state: "open",
            consecutive_failures: 1,
            open_count: 1,
            opened_at: 0,
            next_probe_at: Number.MAX_SAFE_INTEGER,
            probe_owner: null,
            probe_until: null,
            failing_since: 0,
            last_error_code: "HTTP_STATUS",
            last_http_status: 503,
            disabled_at: null,
            disabled_reason: null,
          },
        ] as never;
      },
    };
    const commit = () => {
      for (const resolve of writes.splice(0)) resolve();
    };
    return { sql, commit };
  }

  it("is not undone by a shared read that cannot have seen its failure yet", async () => {
    const clock = fakeClock();
    const { sql, commit } = fakeDestinationsSql();
    const gate = createDeliveryGate({
      sql,
      owner: "me",
      clock,
      cacheMs: 0,
      settings: { failureThreshold: 1, probeDelayMs: 60_000, maxProbeDelayMs: 60_000 },
      onWake: () => {},
      onError: (error) => {
        throw error;
      },
    });
    gate.track(claim("a"));
    expect(await gate.admit(delivery("a"), DESTINATION)).toBeNull();
    // Its failure opens the circuit at once; the shared row is still being written.
    expect(gate.report("a", failed as unknown as ExecutionOutcome)).toBeNull();
    clock.advance(5);
    gate.track(claim("b"));
    expect(await gate.admit(delivery("b"), DESTINATION)).toMatchObject({
      destination: DESTINATION,
    });
    // Once written, the shared row says the same.
    commit();
    await new Promise((resolve) => setTimeout(resolve, 0));
    clock.advance(5);
    gate.track(claim("c"));
    expect(await gate.admit(delivery("c"), DESTINATION)).toMatchObject({
      destination: DESTINATION,
    });
  });
});

describe("a probe overdue with nothing due for it", () => {
  const DESTINATION = "webhook:https://down.example.com";
  /** The shared rows a read returns, and the wake-ups asked for (by destination). */
  function overdueSql(row: Record<string, unknown>) {
    const wakes: string[] = [];
    const sql = {
      async query(text: string, params?: readonly unknown[]) {
        if (
          text.includes("FROM core.tb_observer_destination") &&
          text.includes("state <> 'closed'")
        )
          return [row];
        if (text.includes("SET next_attempt_at = now()")) {
          wakes.push(String(params?.[0]));
          return [{ pk: "1" }];
        }
        throw new Error(`unexpected query ${text}`);
      },
    } as unknown as SqlExecutor;
    return { sql, wakes };
  }

  const base = {
    id: "d",
    destination: DESTINATION,
    state: "open",
    consecutive_failures: 3,
    open_count: 2,
    opened_at: 0,
    probe_owner: null,
    probe_until: null,
    failing_since: 0,
    last_error_code: "HTTP_503",
    last_http_status: 503,
    disabled_at: null,
    disabled_reason: null,
  };

  async function ticks(row: Record<string, unknown>, clock: ReturnType<typeof fakeClock>) {
    const { sql, wakes } = overdueSql(row);
    let woken = 0;
    const gate = createDeliveryGate({
      sql,
      owner: "me",
      clock,
      cacheMs: 0,
      onWake: () => woken++,
      onError: (error) => {
        throw error;
      },
    });
    const tick = async (advance: number) => {
      clock.advance(advance);
      gate.tick();
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    };
    return { wakes, tick, woken: () => woken };
  }

  it("wakes one parked delivery, at most once per period, when nobody holds the probe", async () => {
    const clock = fakeClock();
    const { wakes, tick, woken } = await ticks(
      { ...base, next_probe_at: clock.now() - 60_000 },
      clock,
    );
    await tick(0);
    expect(wakes).toEqual([DESTINATION]);
    expect(woken()).toBe(1);
    await tick(1_000);
    expect(wakes).toHaveLength(1);
    await tick(5_000);
    expect(wakes).toHaveLength(2);
  });

  it("wakes none while the probe is not overdue, is held, or the destination is disabled", async () => {
    const clock = fakeClock();
    for (const row of [
      { ...base, next_probe_at: clock.now() - 1_000 },
      { ...base, next_probe_at: clock.now() + 60_000 },
      {
        ...base,
        next_probe_at: clock.now() - 60_000,
        probe_owner: "other",
        probe_until: clock.now() + 60_000,
      },
      { ...base, next_probe_at: clock.now() - 60_000, disabled_at: clock.now() - 1 },
    ]) {
      const { wakes, tick } = await ticks(row, clock);
      await tick(0);
      expect(wakes).toEqual([]);
    }
  });
});
