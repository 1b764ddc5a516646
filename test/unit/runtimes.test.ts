import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** The core promises Web-standard APIs only: run the same script on every runtime we ship for. */
const script = join(import.meta.dirname, "../runtimes/core-smoke.ts");
const bin = (name: string) => join(import.meta.dirname, "../../node_modules/.bin", name);

function run(command: string, args: string[]): unknown {
  const result = spawnSync(command, [...args, script], { encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(
      `${command} exited ${result.status}: ${result.stderr || result.error?.message}`,
    );
  }
  return JSON.parse(result.stdout);
}

const expected = {
  timestamp: "2026-11-27T10:00:00.500Z",
  changes: ["status", "email"],
  shipped: true,
  big: true,
  regex: true,
  catastrophic: false,
  issue: false,
  explained: expect.stringContaining("'missing' is not in the UPDATE event's data"),
  sql: true,
  matched: ["a"],
};

describe("the core on every runtime", () => {
  it("runs on Node", () => {
    expect(run(process.execPath, [])).toEqual(expected);
  });

  it("runs on Bun", () => {
    expect(run(bin("bun"), ["run"])).toEqual(expected);
  });

  it("runs on Deno", () => {
    expect(
      run(bin("deno"), ["run", "--no-prompt", "--no-config", "--node-modules-dir=manual"]),
    ).toEqual(expected);
  });
});
