import { describe, expect, it } from "vitest";
import { cachingResolver } from "../../src/net/resolver-cache.ts";
import { fakeClock } from "../support/clock.ts";

/** A resolver that counts its lookups and answers from a table it can change. */
function countingResolver(table: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const answer = table[hostname];
    if (answer === undefined) throw new Error(`ENOTFOUND ${hostname}`);
    return answer;
  };
  return { calls, resolve };
}

describe("cachingResolver", () => {
  it("answers repeated and concurrent lookups of one name from one call until the TTL passes", async () => {
    const table = { "hooks.example.com": ["93.184.216.34"] };
    const inner = countingResolver(table);
    const clock = fakeClock();
    const resolve = cachingResolver(inner.resolve, clock, 5_000);
    const answers = await Promise.all([1, 2, 3].map(() => resolve("hooks.example.com")));
    expect(answers).toEqual([["93.184.216.34"], ["93.184.216.34"], ["93.184.216.34"]]);
    clock.advance(4_999);
    await resolve("hooks.example.com");
    expect(inner.calls).toHaveLength(1);
    // Past the TTL the name is asked again, and a changed answer is what the guard sees.
    table["hooks.example.com"] = ["10.0.0.5"];
    clock.advance(1);
    expect(await resolve("hooks.example.com")).toEqual(["10.0.0.5"]);
    expect(inner.calls).toHaveLength(2);
  });

  it("keeps no failure: a name that did not resolve is asked again at once", async () => {
    const table: Record<string, string[]> = {};
    const inner = countingResolver(table);
    const resolve = cachingResolver(inner.resolve, fakeClock(), 5_000);
    await expect(resolve("new.example.com")).rejects.toThrow(/ENOTFOUND/);
    table["new.example.com"] = ["93.184.216.34"];
    expect(await resolve("new.example.com")).toEqual(["93.184.216.34"]);
    expect(inner.calls).toEqual(["new.example.com", "new.example.com"]);
  });

  it("keeps names apart and stays bounded", async () => {
    const inner = countingResolver({ a: ["1.1.1.1"], b: ["8.8.8.8"], c: ["9.9.9.9"] });
    const resolve = cachingResolver(inner.resolve, fakeClock(), 5_000, 2);
    expect(await resolve("a")).toEqual(["1.1.1.1"]);
    expect(await resolve("b")).toEqual(["8.8.8.8"]);
    expect(await resolve("c")).toEqual(["9.9.9.9"]);
    await resolve("a");
    expect(inner.calls).toEqual(["a", "b", "c", "a"]);
  });
});
