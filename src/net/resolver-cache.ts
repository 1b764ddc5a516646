import type { Clock } from "../ports/clock.ts";
import type { HostResolver } from "../ports/resolver.ts";

/**
 * `resolve` with its answers kept for `ttlMs` and concurrent lookups of one name shared. The SSRF
 * guard resolves the target before every attempt; without this, a runtime delivering thousands of
 * attempts a second to one host would make as many system resolver calls (getaddrinfo keeps no
 * cache of its own on Linux). Keeping an answer a few seconds does not widen the rebinding window:
 * `fetch` resolves the name itself when it connects, whatever this check saw. Failures are not
 * kept, so a name that starts resolving is usable at once.
 */
export function cachingResolver(
  resolve: HostResolver,
  clock: Clock,
  ttlMs = 5_000,
  maxEntries = 1_024,
): HostResolver {
  const answers = new Map<string, { at: number; addresses: Promise<readonly string[]> }>();
  return (hostname) => {
    const now = clock.now();
    const kept = answers.get(hostname);
    if (kept !== undefined && now - kept.at < ttlMs) return kept.addresses;
    if (answers.size >= maxEntries) answers.clear();
    const addresses = resolve(hostname);
    answers.set(hostname, { at: now, addresses });
    addresses.catch(() => {
      if (answers.get(hostname)?.addresses === addresses) answers.delete(hostname);
    });
    return addresses;
  };
}
