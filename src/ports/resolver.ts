/**
 * Resolves a host name the way the runtime's `fetch` will when it connects (the system resolver,
 * hosts file included): every address, IPv4 and IPv6, as text (`93.184.216.34`, `2606:2800::1`,
 * possibly `::ffff:10.0.0.1` or a scoped `fe80::1%eth0`). Rejects when the name does not resolve.
 * Runtimes without a resolver (Workers) have none; the SSRF guard then judges the URL alone.
 */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;
