// Entry for Bun and Deno: the servers' real resolver (adapters/hosts/server/resolve-host.ts) on names
// the hosts file maps to loopback, and the SSRF guard's verdict on them; one JSON line.
import { resolveHost } from "../../adapters/hosts/server/resolve-host.ts";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import { ActionFailure } from "../../src/actions/types.ts";
import { checkResolvedTarget } from "../../src/net/resolved.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";

const environment = {
  fetch: globalThis.fetch,
  env: {},
  clock: systemClock,
  logger: silentLogger,
  allowPrivateTargets: false,
  policy: DEFAULT_ACTION_POLICY,
  resolveHost,
};

async function verdict(url: string): Promise<{ code: string; message: string } | null> {
  try {
    await checkResolvedTarget(new URL(url), environment, new AbortController().signal);
    return null;
  } catch (error) {
    if (error instanceof ActionFailure) return { code: error.code, message: error.message };
    throw error;
  }
}

console.log(
  JSON.stringify({
    addresses: [...(await resolveHost("localhost"))].sort(),
    localhost: await verdict("http://localhost:8080/hook"),
    unresolvable: await verdict("http://does-not-exist.invalid/hook"),
    allowed: await checkResolvedTarget(
      new URL("http://localhost:8080/hook"),
      { ...environment, allowPrivateTargets: true },
      new AbortController().signal,
    ).then(() => true),
  }),
);
