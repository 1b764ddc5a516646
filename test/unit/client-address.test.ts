/**
 * The client address failed authentications are counted under: the peer unless it is a trusted
 * proxy, then the forwarding header read right to left past trusted hops; IPv6 grouped by /64.
 */
import { describe, expect, it } from "vitest";
import {
  clientAddressOf,
  parseTrustedProxies,
  type TrustedProxies,
  throttleKey,
} from "../../src/net/client-address.ts";

function proxies(list: string, header: TrustedProxies["header"] = "x-forwarded-for") {
  const parsed = parseTrustedProxies(list);
  if (!parsed.ok) throw new Error(`bad list: ${parsed.invalid.join(", ")}`);
  return { ranges: parsed.ranges, header };
}

const headers =
  (values: Record<string, string>) =>
  (name: string): string | undefined =>
    values[name];

describe("parseTrustedProxies", () => {
  it("reads addresses and CIDR ranges of both families, separated by commas or spaces", () => {
    const parsed = parseTrustedProxies("10.0.0.0/8, 192.168.1.7  2001:db8::/32,::1");
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.ranges.map((r) => r.bits)).toEqual([8, 32, 32, 128]);
  });

  it("names every entry it cannot read", () => {
    expect(parseTrustedProxies("10.0.0.0/33, nope, 10.0.0.1, 1.2.3.4/8/9, ::1/129")).toEqual({
      ok: false,
      invalid: ["10.0.0.0/33", "nope", "1.2.3.4/8/9", "::1/129"],
    });
  });
});

describe("clientAddressOf", () => {
  const trusted = proxies("10.0.0.0/8, 2001:db8:ffff::/48");

  it("is the peer when no proxy is trusted, whatever the headers say", () => {
    const forged = headers({ "x-forwarded-for": "1.1.1.1", forwarded: "for=1.1.1.1" });
    expect(clientAddressOf("203.0.113.9", forged, undefined)).toBe("203.0.113.9");
    expect(clientAddressOf("203.0.113.9", forged, proxies(""))).toBe("203.0.113.9");
  });

  it("is the peer when the peer is not a trusted proxy", () => {
    const forged = headers({ "x-forwarded-for": "1.1.1.1" });
    expect(clientAddressOf("203.0.113.9", forged, trusted)).toBe("203.0.113.9");
  });

  it("reads X-Forwarded-For right to left from a trusted proxy, skipping trusted hops", () => {
    // The client forged 1.1.1.1; the first proxy appended what it saw (198.51.100.4); the second
    // proxy (10.0.0.2) appended the first (10.0.0.1).
    const chain = headers({ "x-forwarded-for": "1.1.1.1, 198.51.100.4, 10.0.0.1" });
    expect(clientAddressOf("10.0.0.2", chain, trusted)).toBe("198.51.100.4");
    // Ports and brackets are dropped.
    const ported = headers({ "x-forwarded-for": "[2001:db8::5]:4711, 10.0.0.1:80" });
    expect(clientAddressOf("10.0.0.2", ported, trusted)).toBe("2001:db8::5");
    // Every hop trusted: the leftmost. No header: the peer.
    const inside = headers({ "x-forwarded-for": "10.1.1.1, 10.0.0.1" });
    expect(clientAddressOf("10.0.0.2", inside, trusted)).toBe("10.1.1.1");
    expect(clientAddressOf("10.0.0.2", headers({}), trusted)).toBe("10.0.0.2");
    // An IPv4-mapped IPv6 peer is its IPv4 address.
    expect(clientAddressOf("::ffff:10.0.0.2", chain, trusted)).toBe("198.51.100.4");
    // An entry that is not an address stops the walk: it is what the trusted proxy saw.
    const odd = headers({ "x-forwarded-for": "1.1.1.1, unknown, 10.0.0.1" });
    expect(clientAddressOf("10.0.0.2", odd, trusted)).toBe("unknown");
  });

  it("reads Forwarded (RFC 7239) when configured, and only then", () => {
    const both = headers({
      forwarded:
        'for=1.1.1.1;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.1, For=10.0.0.1',
      "x-forwarded-for": "9.9.9.9",
    });
    expect(clientAddressOf("10.0.0.2", both, proxies("10.0.0.0/8", "forwarded"))).toBe(
      "2001:db8:cafe::17",
    );
    expect(clientAddressOf("10.0.0.2", both, proxies("10.0.0.0/8"))).toBe("9.9.9.9");
    const noFor = headers({ forwarded: "proto=https, for=10.0.0.1" });
    expect(clientAddressOf("10.0.0.2", noFor, proxies("10.0.0.0/8", "forwarded"))).toBe("unknown");
  });

  it("is undefined without a peer", () => {
    expect(clientAddressOf(undefined, headers({ "x-forwarded-for": "1.1.1.1" }), trusted)).toBe(
      undefined,
    );
  });
});

describe("throttleKey", () => {
  it("groups IPv6 addresses by /64 and keeps IPv4 addresses whole", () => {
    expect(throttleKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(throttleKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(throttleKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(throttleKey("[2001:db8:1:2::9]:443")).toBe("2001:db8:1:2::/64");
    expect(throttleKey("198.51.100.4")).toBe("198.51.100.4");
    expect(throttleKey("198.51.100.4:8080")).toBe("198.51.100.4");
    expect(throttleKey("::ffff:198.51.100.4")).toBe("198.51.100.4");
    expect(throttleKey("unknown")).toBe("unknown");
  });
});
