/**
 * IP literal parsing and classification for the SSRF guard. Addresses are plain numbers (IPv4 as
 * an unsigned 32-bit integer, IPv6 as eight 16-bit words) so range checks are simple arithmetic.
 */

/** An IPv4 range and why a destination inside it is refused. */
interface Ipv4Range {
  base: number;
  bits: number;
  reason: string;
}

/** An IPv6 range and why a destination inside it is refused. */
interface Ipv6Range {
  words: readonly number[];
  bits: number;
  reason: string;
}

const DECIMAL_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEX_WORD = /^[0-9a-f]{1,4}$/i;

/**
 * Parses canonical dotted-decimal IPv4 (`a.b.c.d`, no leading zeros), the only form WHATWG URL
 * serializes; returns the address as an unsigned 32-bit integer, or null. Octal, hex and short
 * forms are deliberately not accepted here: `new URL()` has already normalised them.
 */
export function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

function parseWords(part: string, allowIpv4Tail: boolean): number[] | null {
  if (part === "") return [];
  const pieces = part.split(":");
  const words: number[] = [];
  for (const [index, piece] of pieces.entries()) {
    if (allowIpv4Tail && index === pieces.length - 1 && piece.includes(".")) {
      const v4 = parseIPv4(piece);
      if (v4 === null) return null;
      words.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
    } else if (HEX_WORD.test(piece)) {
      words.push(Number.parseInt(piece, 16));
    } else {
      return null;
    }
  }
  return words;
}

/** Parses an IPv6 literal (brackets optional, `::` and a dotted IPv4 tail allowed) into 8 words. */
export function parseIPv6(text: string): number[] | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!bare.includes(":")) return null;
  const halves = bare.split("::");
  if (halves.length > 2) return null;
  const [headText = "", tailText] = halves;
  const head = parseWords(headText, tailText === undefined);
  if (head === null) return null;
  if (tailText === undefined) return head.length === 8 ? head : null;
  const tail = parseWords(tailText, true);
  if (tail === null || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** Formats an unsigned 32-bit IPv4 address as `a.b.c.d`. */
export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

function v4Range(cidr: string, reason: string): Ipv4Range {
  const [address = "", bits = ""] = cidr.split("/");
  return { base: parseIPv4(address) ?? 0, bits: Number(bits), reason: `${reason} (${cidr})` };
}

function v6Range(cidr: string, reason: string): Ipv6Range {
  const [address = "", bits = ""] = cidr.split("/");
  return { words: parseIPv6(address) ?? [], bits: Number(bits), reason: `${reason} (${cidr})` };
}

// Most specific first: the first match names the reason.
const IPV4_FORBIDDEN: readonly Ipv4Range[] = [
  v4Range("169.254.169.254/32", "cloud metadata endpoint"),
  v4Range("255.255.255.255/32", "broadcast address"),
  v4Range("0.0.0.0/8", "unspecified address"),
  v4Range("10.0.0.0/8", "private network"),
  v4Range("100.64.0.0/10", "carrier-grade NAT"),
  v4Range("127.0.0.0/8", "loopback address"),
  v4Range("169.254.0.0/16", "link-local address"),
  v4Range("172.16.0.0/12", "private network"),
  // Holds Oracle Cloud's metadata endpoint (192.0.0.192) and DS-Lite/NAT64 plumbing.
  v4Range("192.0.0.0/24", "IETF protocol assignment"),
  v4Range("192.0.2.0/24", "documentation range"),
  v4Range("192.88.99.0/24", "6to4 relay anycast"),
  v4Range("192.168.0.0/16", "private network"),
  v4Range("198.18.0.0/15", "benchmarking range"),
  v4Range("198.51.100.0/24", "documentation range"),
  v4Range("203.0.113.0/24", "documentation range"),
  v4Range("224.0.0.0/4", "multicast address"),
  v4Range("240.0.0.0/4", "reserved range"),
];

/** Why an IPv4 destination is refused, or null when it is a public unicast address. */
export function classifyIPv4(address: number): string | null {
  for (const range of IPV4_FORBIDDEN) {
    const size = 2 ** (32 - range.bits);
    if (Math.floor(address / size) === Math.floor(range.base / size)) return range.reason;
  }
  return null;
}

// Ranges that embed an IPv4 address in their low 32 bits (RFC 4291, 6052) or in bits 16..47
// (6to4, RFC 3056): the embedded address decides, since the packet may end up there.
const IPV6_EMBEDDING: readonly { range: Ipv6Range; label: string; at: number }[] = [
  { range: v6Range("::ffff:0:0/96", ""), label: "IPv4-mapped", at: 6 },
  { range: v6Range("64:ff9b::/96", ""), label: "NAT64", at: 6 },
  { range: v6Range("2002::/16", ""), label: "6to4", at: 1 },
];

const IPV6_FORBIDDEN: readonly Ipv6Range[] = [
  v6Range("::/128", "unspecified address"),
  v6Range("::1/128", "loopback address"),
  v6Range("::/96", "IPv4-compatible address (deprecated)"),
  v6Range("64:ff9b:1::/48", "local-use NAT64"),
  v6Range("100::/64", "discard-only range"),
  // Teredo hides (obfuscates) the IPv4 address it tunnels to; nothing legitimate needs it here.
  v6Range("2001::/32", "Teredo tunnel"),
  v6Range("2001:2::/48", "benchmarking range"),
  v6Range("2001:db8::/32", "documentation range"),
  v6Range("3fff::/20", "documentation range"),
  v6Range("fd00:ec2::254/128", "cloud metadata endpoint"),
  v6Range("fc00::/7", "unique local address"),
  v6Range("fe80::/10", "link-local address"),
  v6Range("fec0::/10", "site-local address (deprecated)"),
  v6Range("ff00::/8", "multicast address"),
];

function inRange(words: readonly number[], range: Ipv6Range): boolean {
  for (let index = 0, left = range.bits; left > 0; index++, left -= 16) {
    const size = 2 ** (16 - Math.min(16, left));
    const word = words[index] ?? 0;
    const base = range.words[index] ?? 0;
    if (Math.floor(word / size) !== Math.floor(base / size)) return false;
  }
  return true;
}

/** Why an IPv6 destination (8 words) is refused, or null when it is a public unicast address. */
export function classifyIPv6(words: readonly number[]): string | null {
  for (const { range, label, at } of IPV6_EMBEDDING) {
    if (!inRange(words, range)) continue;
    const v4 = (words[at] ?? 0) * 0x10000 + (words[at + 1] ?? 0);
    const reason = classifyIPv4(v4);
    return reason === null ? null : `${label} ${formatIPv4(v4)}: ${reason}`;
  }
  for (const range of IPV6_FORBIDDEN) if (inRange(words, range)) return range.reason;
  // Only 2000::/3 is allocated for global unicast; everything else is reserved by the IETF.
  if (((words[0] ?? 0) & 0xe000) !== 0x2000) return "reserved range (outside 2000::/3)";
  return null;
}

/** Why an IP literal (v4 dotted-decimal or v6, brackets optional) is refused; null if public. */
export function classifyIp(text: string): string | null {
  const v4 = parseIPv4(text);
  if (v4 !== null) return classifyIPv4(v4);
  const v6 = parseIPv6(text);
  if (v6 !== null) return classifyIPv6(v6);
  return `not an IP address: ${text}`;
}
