/**
 * The resolver the Bun and Deno servers give actions (adapters/hosts/server/resolve-host.ts), run on
 * each runtime for real: `localhost` resolves through the hosts file to loopback, and the SSRF
 * guard's resolving check refuses it by that address with `TARGET_FORBIDDEN` (the static check
 * refuses the name `localhost` anyway; this shows the resolved path on a real resolver).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveHost } from "../../adapters/hosts/server/resolve-host.ts";
import { createServerServices } from "../../adapters/hosts/server/services.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";

const script = join(import.meta.dirname, "../runtimes/resolve-smoke.ts");
const bin = (name: string) => join(import.meta.dirname, "../../node_modules/.bin", name);

function run(command: string, args: string[]): Record<string, unknown> {
  const result = spawnSync(command, [...args, script], { encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(
      `${command} exited ${result.status}: ${result.stderr || result.error?.message}`,
    );
  }
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

function expectLoopbackRefused(output: Record<string, unknown>): void {
  const addresses = output.addresses as string[];
  expect(addresses.length).toBeGreaterThan(0);
  for (const address of addresses) expect(["127.0.0.1", "::1"]).toContain(address);
  expect(output.localhost).toEqual({
    code: "TARGET_FORBIDDEN",
    message: expect.stringMatching(
      new RegExp(
        "^refusing to contact localhost:8080 \\(target URL\\): " +
          "it resolves to (127\\.0\\.0\\.1|::1), loopback address",
      ),
    ),
  });
  expect(output.unresolvable).toMatchObject({ code: "NETWORK_ERROR" });
  expect(output.allowed).toBe(true);
}

describe("the servers' resolver", () => {
  it("on Bun: localhost resolves to loopback and is refused", () => {
    expectLoopbackRefused(run(bin("bun"), ["run"]));
  });

  it("on Deno: localhost resolves to loopback and is refused", () => {
    const args = ["run", "--no-prompt", "--no-config", "--node-modules-dir=manual", "--allow-net"];
    expectLoopbackRefused(run(bin("deno"), args));
  });

  it("is what a server's actions get, unless OBSERVERS_RESOLVE_TARGETS=false", async () => {
    // Only the environment is looked at: no query is ever made through this client.
    const sql = {} as SqlClient;
    const on = createServerServices(parseServerConfig({}), {}, sql, silentLogger);
    // The system resolver behind a short cache: the same answers as the resolver itself.
    const resolved = await on.environment.resolveHost?.("localhost");
    expect(resolved).toBeDefined();
    expect([...(resolved ?? [])].sort()).toEqual([...(await resolveHost("localhost"))].sort());
    const config = parseServerConfig({ OBSERVERS_RESOLVE_TARGETS: "false" });
    const off = createServerServices(config, {}, sql, silentLogger);
    expect(off.environment.resolveHost).toBeUndefined();
    await Promise.all([on.close(), off.close()]);
  });
});
