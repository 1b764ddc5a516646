import { classifyIPv4, classifyIPv6, parseIPv4, parseIPv6 } from "./ip.ts";

/**
 * The static SSRF guard: it judges a destination by its URL alone, with no DNS lookup, so it runs
 * the same on every runtime (Workers have no resolver API). A public name that resolves to a
 * private address (`127.0.0.1.nip.io`) gets past it; where the runtime can resolve names (Bun,
 * Deno), resolved.ts then checks every address the name resolves to. Only a check at connect time
 * closes the rebinding window entirely (FraiseQL's resolve-then-connect check is racy, gap 13):
 * resolved.ts says what is left, docs/security.md how an operator closes it.
 *
 * Numeric host tricks (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `%31`, fullwidth digits) need
 * no handling here: WHATWG `new URL()` canonicalises every IPv4 host to dotted decimal and every
 * IPv6 host to its compressed form (`::ffff:127.0.0.1` becomes `::ffff:7f00:1`).
 */

/** Names that always point at the local machine or at a cloud metadata service. */
const FORBIDDEN_NAMES: ReadonlyMap<string, string> = new Map([
  ["localhost", "loopback name"],
  ["metadata", "cloud metadata endpoint"],
  ["metadata.google.internal", "cloud metadata endpoint"],
  ["metadata.goog", "cloud metadata endpoint"],
]);

/**
 * Special-use suffixes that never name a public host: `localhost` (RFC 6761, loopback), `local`
 * (mDNS, RFC 6762), `internal` (ICANN's private-use TLD), `home.arpa` (RFC 8375) and the de facto
 * `localdomain` of `/etc/hosts`.
 */
const FORBIDDEN_SUFFIXES: readonly [string, string][] = [
  ["localhost", "loopback name"],
  ["local", "mDNS link-local name"],
  ["internal", "private-use name (.internal)"],
  ["home.arpa", "home network name"],
  ["localdomain", "local domain name"],
];

/**
 * Why a hostname, as WHATWG URL serializes it (`url.hostname`: lowercase, IPv4 in dotted decimal,
 * IPv6 in brackets), may not be contacted; null if it may. Pass raw input through `new URL()`
 * first, or numeric forms such as `0177.0.0.1` are taken for names.
 */
export function checkHostname(hostname: string): string | null {
  if (hostname.startsWith("[")) {
    const words = parseIPv6(hostname);
    return words === null ? "unparseable IPv6 literal" : classifyIPv6(words);
  }
  // `localhost.` is the fully qualified spelling of `localhost`: the trailing dot changes nothing.
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  if (name === "") return "empty host name";
  const v4 = parseIPv4(name);
  if (v4 !== null) return classifyIPv4(v4);
  const known = FORBIDDEN_NAMES.get(name);
  if (known !== undefined) return known;
  // A dotless name (`localhost`, `metadata`, `intranet`) is completed by the resolver's search
  // domains, i.e. resolved inside the private network; no public service is reached that way.
  if (!name.includes(".")) return "single-label name (resolved via local search domains)";
  for (const [suffix, reason] of FORBIDDEN_SUFFIXES) {
    if (name.endsWith(`.${suffix}`) || name === suffix) return `${reason} (.${suffix})`;
  }
  return null;
}

/** Why a URL's host may not be contacted (loopback, private, metadata...), or null if it may. */
export function checkTarget(url: URL): string | null {
  return checkHostname(url.hostname);
}
