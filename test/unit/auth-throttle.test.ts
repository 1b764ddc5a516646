/**
 * `AuthThrottle` on a fake clock: free failures, then waits of `firstLockMs` doubling up to
 * `maxLockMs`, failures forgotten after the window (never on success), clients kept
 * apart, and the `maxClients` bound evicting the least recently failing client.
 */
import { describe, expect, it } from "vitest";
import { AuthThrottle } from "../../src/api/auth-throttle.ts";
import { fakeClock } from "../support/clock.ts";

function setup(options: ConstructorParameters<typeof AuthThrottle>[0] = {}) {
  const clock = fakeClock();
  const throttle = new AuthThrottle({ clock, ...options });
  /** `n` failures of `client`, at the current time. */
  const fail = (client: string, n = 1) => {
    for (let i = 0; i < n; i++) throttle.failure(client);
  };
  /** `n` failures of `client` in a row, each once the last wait is over; returns the waits. */
  const waitsOfFailures = (client: string, n: number) => {
    const waits: number[] = [];
    for (let i = 0; i < n; i++) {
      fail(client);
      const wait = throttle.waitMs(client);
      waits.push(wait);
      clock.advance(wait);
    }
    return waits;
  };
  return { clock, throttle, fail, waitsOfFailures };
}

describe("AuthThrottle", () => {
  it("lets a client fail freeFailures times without waiting, then makes it wait firstLockMs", () => {
    const { clock, throttle, fail } = setup({ freeFailures: 3 });
    expect(throttle.waitMs("a")).toBe(0);
    for (let i = 1; i <= 3; i++) {
      fail("a");
      expect(throttle.waitMs("a"), `after failure ${i}`).toBe(0);
    }
    fail("a");
    expect(throttle.waitMs("a")).toBe(1_000);
    clock.advance(400);
    expect(throttle.waitMs("a")).toBe(600);
    clock.advance(599);
    expect(throttle.waitMs("a")).toBe(1);
    clock.advance(1);
    expect(throttle.waitMs("a")).toBe(0);
  });

  it("defaults to 10 free failures and a first wait of 1 s", () => {
    const { throttle, fail } = setup();
    fail("a", 10);
    expect(throttle.waitMs("a")).toBe(0);
    fail("a");
    expect(throttle.waitMs("a")).toBe(1_000);
  });

  it("doubles the wait with each further failure, up to maxLockMs", () => {
    const { waitsOfFailures } = setup({ freeFailures: 0, maxLockMs: 10_000 });
    expect(waitsOfFailures("a", 7)).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it("defaults to doubling from 1 s up to 15 minutes", () => {
    const { waitsOfFailures } = setup({ freeFailures: 0 });
    expect(waitsOfFailures("a", 12)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 900_000,
      900_000,
    ]);
  });

  it("uses firstLockMs as the first wait", () => {
    const { throttle, fail } = setup({ freeFailures: 1, firstLockMs: 250 });
    fail("a", 2);
    expect(throttle.waitMs("a")).toBe(250);
    fail("a");
    expect(throttle.waitMs("a")).toBe(500);
  });

  it("forgets a client's failures after the window without one", () => {
    const { clock, throttle, fail } = setup({ freeFailures: 3, windowMs: 60_000 });
    fail("a", 3);
    // Exactly the window later, the failures still count: the 4th locks.
    clock.advance(60_000);
    fail("a");
    expect(throttle.waitMs("a")).toBe(1_000);

    const other = setup({ freeFailures: 3, windowMs: 60_000 });
    other.fail("a", 3);
    other.clock.advance(60_001);
    // Forgotten: this is a first failure again, and three more are free.
    other.fail("a", 3);
    expect(other.throttle.waitMs("a")).toBe(0);
    other.fail("a");
    expect(other.throttle.waitMs("a")).toBe(1_000);
  });

  it("counts the window from the end of the last wait", () => {
    const { clock, throttle, fail } = setup({ freeFailures: 0, windowMs: 60_000 });
    fail("a"); // locked for 1 s
    clock.advance(61_000); // window + the wait: not yet forgotten
    fail("a");
    expect(throttle.waitMs("a")).toBe(2_000);
    clock.advance(62_001); // window + the 2 s wait, and a little more: forgotten
    fail("a");
    expect(throttle.waitMs("a")).toBe(1_000);
  });

  it("keeps clients apart", () => {
    const { throttle, fail } = setup({ freeFailures: 2 });
    fail("a", 3);
    fail("b", 2);
    expect(throttle.waitMs("a")).toBe(1_000);
    expect(throttle.waitMs("b")).toBe(0);
  });

  it("remembers at most maxClients, forgetting the least recently failing first", () => {
    const { clock, throttle, fail } = setup({ freeFailures: 0, maxClients: 2 });
    fail("a");
    clock.advance(1);
    fail("b");
    clock.advance(1);
    // a fails again: now b is the least recently failing.
    fail("a");
    clock.advance(1);
    fail("c");
    expect(throttle.waitMs("b")).toBe(0);
    expect(throttle.waitMs("a")).toBe(2_000 - 1);
    expect(throttle.waitMs("c")).toBe(1_000);
    // And now a is the oldest: d evicts it.
    fail("d");
    expect(throttle.waitMs("a")).toBe(0);
    expect(throttle.waitMs("c")).toBe(1_000);
    expect(throttle.waitMs("d")).toBe(1_000);
    // An evicted client starts over.
    fail("b");
    expect(throttle.waitMs("b")).toBe(1_000);
  });

  it("stays within maxClients under many clients", () => {
    const { throttle, fail } = setup({ freeFailures: 0, maxClients: 100 });
    for (let i = 0; i < 1_000; i++) fail(`client-${i}`);
    let remembered = 0;
    for (let i = 0; i < 1_000; i++) if (throttle.waitMs(`client-${i}`) > 0) remembered++;
    expect(remembered).toBe(100);
    expect(throttle.waitMs("client-999")).toBe(1_000);
    expect(throttle.waitMs("client-899")).toBe(0);
    expect(throttle.waitMs("client-900")).toBe(1_000);
  });
});
