/**
 * Who a request comes from, for counting failed authentications: the peer's address, or, when the
 * peer is a proxy the operator trusts (`OBSERVERS_TRUSTED_PROXIES`), the address that proxy
 * recorded in `X-Forwarded-For` (or `Forwarded`). The header is read right to left, skipping
 * trusted hops: every entry left of the first untrusted one was written by a party the server
 * cannot vouch for (a client can send any `X-Forwarded-For` it likes; a trusted proxy appends to
 * it). Without trusted proxies, headers are never read, so no client can pick its own address.
 *
 * IPv6 clients are counted per /64: one host usually holds a whole /64, and could otherwise take
 * a fresh address for every guess.
 */
import { formatIPv4, parseIPv4, parseIPv6 } from "./ip.ts";

/** An IP address: IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit words. */
type Ip = { v: 4; value: number } | { v: 6; words: number[] };

/** A range of addresses (`10.0.0.0/8`, `2001:db8::/32`, or one address). */
export interface IpRange {
  ip: Ip;
  bits: number;
}

/** Which header a trusted proxy writes the client's address into. */
export type ForwardedHeader = "x-forwarded-for" | "forwarded";

/** The operator's proxies: only requests from these have their forwarding header read. */
export interface TrustedProxies {
  ranges: readonly IpRange[];
  header: ForwardedHeader;
}

/** Parses an address; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is its IPv4 address. */
function parseIp(text: string): Ip | null {
  // A zone (`fe80::1%eth0`) names an interface, not another host.
  const bare = text.replace(/%[^%\]]*$/, "");
  const v4 = parseIPv4(bare);
  if (v4 !== null) return { v: 4, value: v4 };
  const words = parseIPv6(bare);
  if (words === null) return null;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return { v: 4, value: (words[6] ?? 0) * 0x10000 + (words[7] ?? 0) };
  }
  return { v: 6, words };
}

/** The first `bits` bits of `ip` and `range.ip` agree. */
function inRange(ip: Ip, range: IpRange): boolean {
  if (ip.v !== range.ip.v) return false;
  if (ip.v === 4 && range.ip.v === 4) {
    if (range.bits === 0) return true;
    const shift = 32 - range.bits;
    return Math.floor(ip.value / 2 ** shift) === Math.floor(range.ip.value / 2 ** shift);
  }
  const a = (ip as { words: number[] }).words;
  const b = (range.ip as { words: number[] }).words;
  for (let bit = 0; bit < range.bits; bit += 16) {
    const take = Math.min(16, range.bits - bit);
    const word = bit / 16;
    const shift = 16 - take;
    if ((a[word] ?? 0) >> shift !== (b[word] ?? 0) >> shift) return false;
  }
  return true;
}

/**
 * Parses `OBSERVERS_TRUSTED_PROXIES`: addresses or CIDR ranges, separated by commas or spaces.
 * Returns the ranges, or the entries it could not read.
 */
export function parseTrustedProxies(
  text: string,
): { ok: true; ranges: IpRange[] } | { ok: false; invalid: string[] } {
  const ranges: IpRange[] = [];
  const invalid: string[] = [];
  for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
    const [address = "", bitsText, extra] = entry.split("/");
    const ip = extra === undefined ? parseIp(address) : null;
    const max = ip?.v === 4 && !address.includes(":") ? 32 : 128;
    const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
    if (!ip || bits < 0 || bits > max) {
      invalid.push(entry);
      continue;
    }
    // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
    ranges.push({ ip, bits: ip.v === 4 && max === 128 ? Math.max(0, bits - 96) : bits });
  }
  return invalid.length > 0 ? { ok: false, invalid } : { ok: true, ranges };
}

/** Drops a port and brackets: `1.2.3.4:80` -> `1.2.3.4`, `[2001:db8::1]:443` -> `2001:db8::1`. */
function hostOf(hop: string): string {
  const text = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) return bracketed[1] ?? text;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(text);
  return v4WithPort ? (v4WithPort[1] ?? text) : text;
}

/** The hops of `X-Forwarded-For`, oldest first. */
function forwardedForHops(value: string): string[] {
  return value.split(",").map(hostOf);
}

/** The `for=` of each element of `Forwarded` (RFC 7239), oldest first; "" where absent. */
function forwardedHops(value: string): string[] {
  const hops: string[] = [];
  // Elements are separated by commas outside quoted strings.
  for (const element of value.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    let found = "";
    for (const pair of element.match(/(?:[^;"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
      const at = pair.indexOf("=");
      if (at < 0 || pair.slice(0, at).trim().toLowerCase() !== "for") continue;
      let node = pair.slice(at + 1).trim();
      if (node.startsWith('"') && node.endsWith('"'))
        node = node.slice(1, -1).replace(/\\(.)/g, "$1");
      found = hostOf(node);
    }
    hops.push(found);
  }
  return hops;
}

/**
 * The client's address: `peer` itself unless it is a trusted proxy; then the rightmost entry of
 * the forwarding header that is not a trusted proxy (as written there when it is not an address,
 * such as `unknown`), or the leftmost when every entry is trusted. Undefined without a peer.
 */
export function clientAddressOf(
  peer: string | undefined,
  header: (name: string) => string | undefined,
  trusted: TrustedProxies | undefined,
): string | undefined {
  if (peer === undefined || !trusted || trusted.ranges.length === 0) return peer;
  const isTrusted = (text: string) => {
    const ip = parseIp(text);
    return ip !== null && trusted.ranges.some((range) => inRange(ip, range));
  };
  if (!isTrusted(hostOf(peer))) return peer;
  const value = header(trusted.header);
  if (!value) return peer;
  const hops = trusted.header === "forwarded" ? forwardedHops(value) : forwardedForHops(value);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] ?? "";
    if (!isTrusted(hop)) return hop === "" ? "unknown" : hop;
  }
  return hops[0] || peer;
}

/**
 * The key failures are counted under: an IPv4 address as is, an IPv6 address as its /64
 * (`2001:db8:1:2::/64`), anything else as given.
 */
export function throttleKey(address: string): string {
  const ip = parseIp(hostOf(address));
  if (!ip) return address;
  if (ip.v === 4) return formatIPv4(ip.value);
  return `${ip.words
    .slice(0, 4)
    .map((w) => w.toString(16))
    .join(":")}::/64`;
}
