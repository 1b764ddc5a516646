/**
 * The adaptive per-destination limit (src/executor/adaptive-limit.ts) and the keyed limiter
 * driving it, against a fake receiver whose latency the test controls, on a fake clock.
 */
import { describe, expect, it } from "vitest";
import { createAdaptiveLimit } from "../../src/executor/adaptive-limit.ts";
import { type AttemptSignal, createKeyedLimiter } from "../../src/executor/limiter.ts";

/** A discrete-event clock: timers run in time order, promise callbacks settle between them. */
function createSimulation() {
  let now = 0;
  let seq = 0;
  const timers: { at: number; seq: number; run: () => void }[] = [];
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return {
    now: () => now,
    after(ms: number, run: () => void) {
      timers.push({ at: now + ms, seq: seq++, run });
    },
    /** Runs timers until `until` (ms). */
    async runUntil(until: number) {
      await settle();
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers[0];
        if (!next || next.at > until) break;
        timers.shift();
        now = next.at;
        next.run();
        await settle();
      }
      now = until;
    },
  };
}

/**
 * `clients` loops, each sending one request after another to one destination through the
 * limiter; the receiver answers after `latency(inFlightAtReceiver)` ms, with `answer()`.
 */
function drive(options: {
  clients: number;
  perKey: number;
  adaptive?: boolean;
  latency: (inFlight: number, now: number) => number;
  answer?: (now: number) => AttemptSignal;
}) {
  const sim = createSimulation();
  const limiter = createKeyedLimiter({
    limit: 10_000,
    perKey: options.perKey,
    adaptive: options.adaptive ?? true,
    now: sim.now,
  });
  const stats = { inFlight: 0, maxInFlight: 0, done: 0 };
  let stopped = false;
  async function client(): Promise<void> {
    while (!stopped) {
      const release = await limiter.acquire("webhook:http://receiver");
      if (!release) return;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      await new Promise<void>((resolve) =>
        sim.after(options.latency(stats.inFlight, sim.now()), resolve),
      );
      stats.inFlight--;
      stats.done++;
      release(options.answer?.(sim.now()) ?? "answered");
    }
  }
  for (let i = 0; i < options.clients; i++) void client();
  return {
    sim,
    stats,
    limit: () => limiter.limitOf("webhook:http://receiver"),
    /** In-flight high-water mark from now on. */
    resetMax() {
      stats.maxInFlight = stats.inFlight;
    },
    stop() {
      stopped = true;
    },
  };
}

describe("createAdaptiveLimit", () => {
  it("grows while the round trip stays at its usual value, up to the cap and no further", () => {
    const limit = createAdaptiveLimit({ max: 100 });
    expect(limit.limit).toBe(16);
    for (let i = 0; i < 2_000; i++) {
      limit.sample({ rttMs: 2, inflight: limit.limit, overloaded: false, at: i });
      expect(limit.limit).toBeLessThanOrEqual(100);
    }
    expect(limit.limit).toBe(100);
  });

  it("shrinks when the round trip rises well above its usual value", () => {
    const limit = createAdaptiveLimit({ max: 200, initial: 100 });
    let at = 0;
    for (let i = 0; i < 200; i++)
      limit.sample({ rttMs: 2, inflight: 100, overloaded: false, at: at++ });
    const before = limit.limit;
    for (let i = 0; i < 100; i++)
      limit.sample({ rttMs: 20, inflight: limit.limit, overloaded: false, at: at++ });
    expect(limit.limit).toBeLessThan(before / 4);
    expect(limit.limit).toBeGreaterThanOrEqual(1);
  });

  it("never lets round trips alone take it below 16 (or its start, if lower)", () => {
    for (const [initial, floor] of [
      [100, 16],
      [16, 16],
      [4, 4],
    ] as const) {
      const limit = createAdaptiveLimit({ max: 200, initial });
      let at = 0;
      for (let i = 0; i < 200; i++)
        limit.sample({ rttMs: 2, inflight: limit.limit, overloaded: false, at: at++ });
      // The round trip rises fiftyfold and stays there: the limit shrinks, to the floor only.
      for (let i = 0; i < 500; i++)
        limit.sample({ rttMs: 100, inflight: limit.limit, overloaded: false, at: at++ });
      expect(limit.limit).toBe(floor);
    }
  });

  it("falls below 16 on overload signals, and round trips do not lower it further", () => {
    const limit = createAdaptiveLimit({ max: 64 });
    let at = 0;
    for (let i = 0; i < 10; i++)
      limit.sample({ rttMs: 5, inflight: 16, overloaded: true, at: at++ });
    const overloaded = limit.limit;
    expect(overloaded).toBeLessThan(16);
    for (let i = 0; i < 200; i++)
      limit.sample({ rttMs: 50 + i, inflight: limit.limit, overloaded: false, at: at++ });
    expect(limit.limit).toBeGreaterThanOrEqual(overloaded);
  });

  it("does not grow on samples that did not use the limit", () => {
    const limit = createAdaptiveLimit({ max: 100 });
    for (let i = 0; i < 500; i++) limit.sample({ rttMs: 1, inflight: 2, overloaded: false, at: i });
    expect(limit.limit).toBe(16);
  });

  it("falls on overload signals to 1 and never below, then recovers", () => {
    const limit = createAdaptiveLimit({ max: 64 });
    for (let i = 0; i < 100; i++) limit.sample({ rttMs: 5, inflight: 16, overloaded: true, at: i });
    expect(limit.limit).toBe(1);
    for (let i = 0; i < 300; i++)
      limit.sample({ rttMs: 5, inflight: limit.limit, overloaded: false, at: 100 + i });
    expect(limit.limit).toBeGreaterThan(16);
  });

  it("refuses a cap below 1", () => {
    expect(() => createAdaptiveLimit({ max: 0 })).toThrow(RangeError);
  });
});

describe("createKeyedLimiter, adaptive", () => {
  it("puts more in flight to a fast receiver, never above the cap", async () => {
    // A receiver answering in 2 ms whatever the load.
    const run = drive({ clients: 500, perKey: 128, latency: () => 2 });
    await run.sim.runUntil(1);
    expect(run.stats.maxInFlight).toBe(16);
    await run.sim.runUntil(2_000);
    expect(run.limit()).toBe(128);
    expect(run.stats.maxInFlight).toBe(128);
    run.stop();
    await run.sim.runUntil(3_000);
  });

  it("puts fewer in flight when the receiver slows down, and never fewer than 1", async () => {
    // Fast for a second, then ten times slower under the same load: a receiver falling behind.
    const run = drive({ clients: 300, perKey: 256, latency: (_, now) => (now < 1_000 ? 2 : 40) });
    await run.sim.runUntil(1_000);
    const fast = run.limit();
    expect(fast).toBeGreaterThan(100);
    await run.sim.runUntil(1_600);
    const slow = run.limit();
    expect(slow).toBeLessThan(fast / 4);
    expect(slow).toBeGreaterThanOrEqual(1);
    // Once the requests sent at the old limit are answered, the receiver sees the new one.
    run.resetMax();
    await run.sim.runUntil(1_800);
    expect(run.stats.maxInFlight).toBeLessThan(fast / 4);
    run.stop();
    await run.sim.runUntil(5_000);
  });

  it("backs off a receiver answering 503 (overloaded) to one request at a time", async () => {
    const run = drive({
      clients: 100,
      perKey: 64,
      latency: () => 3,
      answer: (now) => (now < 500 ? "answered" : "overloaded"),
    });
    await run.sim.runUntil(500);
    expect(run.limit()).toBe(64);
    await run.sim.runUntil(700);
    expect(run.limit()).toBe(1);
    run.resetMax();
    await run.sim.runUntil(800);
    expect(run.stats.maxInFlight).toBe(1);
    run.stop();
    await run.sim.runUntil(1_000);
  });

  it("keeps a fixed limit when not adaptive", async () => {
    const run = drive({ clients: 50, perKey: 8, adaptive: false, latency: () => 2 });
    await run.sim.runUntil(1_000);
    expect(run.limit()).toBe(8);
    expect(run.stats.maxInFlight).toBe(8);
    expect(run.stats.done).toBe(4_000);
    run.stop();
    await run.sim.runUntil(2_000);
  });

  it("learns each tenant's limit from its own attempts only", async () => {
    const limiter = createKeyedLimiter({ limit: 100, perKey: 8, adaptive: true, now: () => 0 });
    const failing = await Promise.all([1, 2, 3, 4].map(() => limiter.acquire("k", undefined, "a")));
    for (const release of failing) release?.("overloaded");
    expect(limiter.limitOf("k", "a")).toBe(5);
    expect(limiter.limitOf("k", "b")).toBe(8);
    const other = await limiter.acquire("k", undefined, "b");
    other?.("answered");
    expect(limiter.limitOf("k", "b")).toBe(8);
  });

  it("reports each change of a key's limit", async () => {
    const seen: (number | null)[] = [];
    const limiter = createKeyedLimiter({
      limit: 100,
      perKey: 4,
      adaptive: true,
      now: () => 0,
      onLimit: (_, limit) => seen.push(limit),
    });
    const releases = await Promise.all([1, 2, 3, 4].map(() => limiter.acquire("k")));
    for (const release of releases) release?.("overloaded");
    expect(seen[0]).toBe(4);
    expect(seen.at(-1)).toBe(2);
    expect(limiter.limitOf("k")).toBe(2);
  });

  it("never reports a limit its global or tenant slots could not use: the gauge says what can run", async () => {
    const limiter = createKeyedLimiter({
      limit: 8,
      perKey: 256,
      perGroup: 4,
      adaptive: true,
      now: () => 0,
    });
    // Every answer a good one, at full use: the limit grows, but only to what can run at once.
    for (let round = 0; round < 50; round++) {
      const all = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => limiter.acquire("k")));
      for (const release of all) release?.("answered");
      const tenant = await Promise.all(
        [1, 2, 3, 4].map(() => limiter.acquire("k", undefined, "t")),
      );
      for (const release of tenant) release?.("answered");
    }
    expect(limiter.limitOf("k")).toBe(8);
    expect(limiter.limitOf("k", "t")).toBe(4);
    const fixed = createKeyedLimiter({ limit: 8, perKey: 256, adaptive: false });
    expect(fixed.limitOf("k")).toBe(8);
  });

  it("reports a fixed limit too (OBSERVERS_ADAPTIVE_CONCURRENCY=off): the gauge is never missing", async () => {
    const seen: [string, number | null][] = [];
    const limiter = createKeyedLimiter({
      limit: 100,
      perKey: 8,
      adaptive: false,
      now: () => 0,
      onLimit: (key, limit) => seen.push([key, limit]),
    });
    const release = await limiter.acquire("k", undefined, "tenant");
    release?.("overloaded");
    expect(seen).toEqual([["k", 8]]);
  });
});
