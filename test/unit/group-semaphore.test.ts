/** The executor's fair share of slots among tenants (`createGroupSemaphore`, `createKeyedLimiter`). */
import { describe, expect, it } from "vitest";
import { createGroupSemaphore, createKeyedLimiter } from "../../src/executor/limiter.ts";

describe("createGroupSemaphore", () => {
  it("lets one group hold at most its share, and serves the others meanwhile", async () => {
    const slots = createGroupSemaphore(4, 2);
    const granted: string[] = [];
    const take = (group: string | null) =>
      slots.acquire(group).then(() => granted.push(group ?? "none"));
    const a = Array.from({ length: 5 }, () => take("a"));
    await Promise.resolve();
    expect(granted).toEqual(["a", "a"]);
    const b = Array.from({ length: 3 }, () => take("b"));
    await Promise.resolve();
    await Promise.resolve();
    expect(granted).toEqual(["a", "a", "b", "b"]);
    expect(slots.active).toBe(4);
    expect(slots.queued).toBe(4);
    // A slot freed by b goes to b's next waiter: a is at its share.
    slots.release("b");
    await Promise.resolve();
    expect(granted).toEqual(["a", "a", "b", "b", "b"]);
    // Freed by a: a's next waiter.
    slots.release("a");
    await Promise.resolve();
    expect(granted.filter((g) => g === "a")).toHaveLength(3);
    for (let i = 0; i < 8; i++) slots.release(i % 2 === 0 ? "a" : "b");
    await Promise.all([...a, ...b]);
  });

  it("serves groups in turn when slots free up, and never caps the null group", async () => {
    const slots = createGroupSemaphore(2, 2);
    const order: string[] = [];
    const take = (group: string | null) =>
      slots.acquire(group).then(() => order.push(group ?? "none"));
    await Promise.all([take(null), take(null)]);
    const waiting = [take("a"), take("a"), take("b"), take("b"), take("c")];
    for (let i = 0; i < 5; i++) {
      slots.release(i < 2 ? null : (order.at(-1) as string));
      await Promise.resolve();
    }
    expect(order.slice(2)).toEqual(["a", "b", "c", "a", "b"]);
    await Promise.all(waiting);
    const uncapped = createGroupSemaphore(3, 1);
    await Promise.all([uncapped.acquire(null), uncapped.acquire(null), uncapped.acquire(null)]);
    expect(uncapped.active).toBe(3);
  });

  it("lets an aborted waiter leave without holding anything", async () => {
    const slots = createGroupSemaphore(1, 1);
    await slots.acquire("a");
    const controller = new AbortController();
    const waiting = slots.acquire("b", controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(slots.queued).toBe(0);
    slots.release("a");
    expect(slots.active).toBe(0);
  });
});

describe("createKeyedLimiter with groups", () => {
  it("keeps a group waiting for its share off another group's destination slots", async () => {
    const limiter = createKeyedLimiter({ limit: 4, perKey: 1, perGroup: 1 });
    const first = await limiter.acquire("hooks.slack.com", undefined, "a");
    // a's second delivery to the shared host waits for a's share...
    const second = limiter.acquire("hooks.slack.com", undefined, "a");
    // ...holding nothing b needs: b gets the shared host at once.
    const other = await limiter.acquire("hooks.slack.com", undefined, "b");
    expect(other).not.toBeNull();
    expect(limiter.active).toBe(2);
    first?.();
    const released = await second;
    expect(released).not.toBeNull();
    released?.();
    other?.();
    expect(limiter.active).toBe(0);
    expect(limiter.keys).toBe(0);
  });
});
