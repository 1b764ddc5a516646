import { describe, expect, it } from "vitest";
import {
  checkHostname,
  checkTarget,
  classifyIp,
  formatIPv4,
  parseIPv4,
  parseIPv6,
} from "../../src/net/index.ts";

const allowed = [
  "https://example.com/hook",
  "https://example.com:8443/hook?token=abc",
  "http://hooks.slack.com/services/T000/B000/XXX",
  "https://8.8.8.8/",
  "https://1.1.1.1/",
  "https://[2606:4700::1111]/",
  "https://[2001:4860:4860::8888]/",
  // Public IPv4 embedded in mapped, NAT64 and 6to4 forms: the embedded address decides.
  "http://[::ffff:8.8.8.8]/",
  "http://[64:ff9b::8.8.8.8]/",
  "http://[2002:808:808::1]/",
  // Just outside the forbidden ranges.
  "http://9.255.255.255/",
  "http://11.0.0.0/",
  "http://100.63.255.255/",
  "http://100.128.0.0/",
  "http://126.255.255.255/",
  "http://128.0.0.0/",
  "http://169.253.255.255/",
  "http://172.15.255.255/",
  "http://172.32.0.0/",
  "http://192.167.255.255/",
  "http://192.169.0.0/",
  "http://198.17.255.255/",
  "http://198.20.0.0/",
  "http://223.255.255.255/",
  // Names that merely look local.
  "https://localhost.example.com/",
  "https://internal.example.com/",
  "https://local.example.com/",
  "https://metadata.example.com/",
  "https://xn--80ak6aa92e.com/",
];

// Each refused URL with a fragment its reason must contain.
const refused: [string, string][] = [
  ["http://127.0.0.1/", "loopback"],
  ["http://127.255.255.254:8080/", "loopback"],
  ["http://[::1]/", "loopback"],
  ["http://[0:0:0:0:0:0:0:1]/", "loopback"],
  ["http://0.0.0.0/", "unspecified"],
  ["http://0.1.2.3/", "unspecified"],
  ["http://[::]/", "unspecified"],
  ["http://10.0.0.1/", "private"],
  ["http://10.255.255.255/", "private"],
  ["http://172.16.0.1/", "private"],
  ["http://172.31.255.255/", "private"],
  ["http://192.168.1.1/", "private"],
  ["http://169.254.0.1/", "link-local"],
  ["http://169.254.169.254/latest/meta-data/", "cloud metadata"],
  ["http://169.254.170.2/v2/credentials", "link-local"],
  ["http://[fe80::1]/", "link-local"],
  ["http://[febf::1]/", "link-local"],
  ["http://[fd00:ec2::254]/", "cloud metadata"],
  ["http://100.64.0.1/", "carrier-grade NAT"],
  ["http://100.100.100.200/", "carrier-grade NAT"],
  ["http://100.127.255.255/", "carrier-grade NAT"],
  ["http://192.0.0.192/", "IETF protocol"],
  ["http://[fc00::1]/", "unique local"],
  ["http://[fdff:ffff::1]/", "unique local"],
  ["http://224.0.0.1/", "multicast"],
  ["http://239.255.255.250/", "multicast"],
  ["http://[ff02::1]/", "multicast"],
  ["http://255.255.255.255/", "broadcast"],
  ["http://240.0.0.1/", "reserved"],
  ["http://198.18.0.1/", "benchmarking"],
  ["http://198.19.255.255/", "benchmarking"],
  ["http://192.0.2.1/", "documentation"],
  ["http://198.51.100.7/", "documentation"],
  ["http://203.0.113.9/", "documentation"],
  ["http://[2001:db8::1]/", "documentation"],
  ["http://[3fff::1]/", "documentation"],
  ["http://[fec0::1]/", "site-local"],
  ["http://[100::1]/", "discard"],
  ["http://[2001::1]/", "Teredo"],
  ["http://[64:ff9b:1::1]/", "local-use NAT64"],
  ["http://[4000::1]/", "reserved"],
  // IPv4-mapped, in dotted and hex form (WHATWG serializes both as hex).
  ["http://[::ffff:127.0.0.1]/", "IPv4-mapped 127.0.0.1: loopback"],
  ["http://[::ffff:7f00:1]/", "IPv4-mapped 127.0.0.1: loopback"],
  ["http://[::ffff:169.254.169.254]/", "cloud metadata"],
  ["http://[0:0:0:0:0:ffff:10.0.0.1]/", "IPv4-mapped 10.0.0.1: private"],
  // IPv4-compatible (deprecated), NAT64 and 6to4 embedding a private address.
  ["http://[::127.0.0.1]/", "IPv4-compatible"],
  ["http://[::10.0.0.1]/", "IPv4-compatible"],
  ["http://[64:ff9b::127.0.0.1]/", "NAT64 127.0.0.1: loopback"],
  ["http://[64:ff9b::a9fe:a9fe]/", "NAT64 169.254.169.254: cloud metadata"],
  ["http://[2002:7f00:1::]/", "6to4 127.0.0.1: loopback"],
  ["http://[2002:c0a8:101::1]/", "6to4 192.168.1.1: private"],
  // Numeric tricks: WHATWG URL turns each into dotted decimal before the guard sees it.
  ["http://2130706433/", "loopback"],
  ["http://0x7f000001/", "loopback"],
  ["http://0x7f.1/", "loopback"],
  ["http://0x7f.0x0.0x0.0x1/", "loopback"],
  ["http://0177.0.0.1/", "loopback"],
  ["http://017700000001/", "loopback"],
  ["http://127.000.000.001/", "loopback"],
  ["http://127.1/", "loopback"],
  ["http://127.0.1/", "loopback"],
  ["http://0/", "unspecified"],
  ["http://127.0.0.1./", "loopback"],
  ["http://127.0.0.%31/", "loopback"],
  ["http://①②⑦.0.0.1/", "loopback"],
  ["http://167772161/", "private"],
  ["http://0xa9fea9fe/", "cloud metadata"],
  ["http://[::ffff:7f00:1]:8080/path", "loopback"],
  // Names.
  ["http://localhost/", "loopback"],
  ["http://LOCALHOST:3000/", "loopback"],
  ["http://localhost./", "loopback"],
  ["http://localhost../", "loopback"],
  ["http://ｌｏｃａｌｈｏｓｔ/", "loopback"],
  ["http://api.localhost/", "loopback"],
  ["http://a.b.localhost./", "loopback"],
  ["http://metadata/", "cloud metadata"],
  ["http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"],
  ["http://metadata.google.internal./", "cloud metadata"],
  ["http://metadata.goog/", "cloud metadata"],
  ["http://instance-data.ec2.internal/", ".internal"],
  ["http://db.internal/", ".internal"],
  ["http://printer.local/", "mDNS"],
  ["http://nas.home.arpa/", "home network"],
  ["http://localhost.localdomain/", "local domain"],
  ["http://intranet/", "single-label"],
  ["http://kubernetes/", "single-label"],
];

describe("checkTarget", () => {
  it.each(allowed)("allows %s", (url) => {
    expect(checkTarget(new URL(url))).toBeNull();
  });

  it.each(refused)("refuses %s", (url, reason) => {
    expect(checkTarget(new URL(url))).toContain(reason);
  });
});

describe("checkHostname", () => {
  it("refuses what it cannot parse and the empty name", () => {
    expect(checkHostname("[::1::2]")).toContain("unparseable");
    expect(checkHostname("")).toContain("empty");
    expect(checkHostname(".")).toContain("empty");
  });
});

describe("IP parsing", () => {
  it("parses canonical IPv4 only (URL has already normalised the rest)", () => {
    expect(parseIPv4("192.168.1.1")).toBe(0xc0a80101);
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
    for (const text of ["0177.0.0.1", "127.1", "256.0.0.1", "1.2.3.4.5", "a.b.c.d", "1..2.3", ""]) {
      expect(parseIPv4(text)).toBeNull();
    }
    expect(formatIPv4(0xa9fea9fe)).toBe("169.254.169.254");
  });

  it("parses IPv6 with ::, brackets and a dotted tail", () => {
    expect(parseIPv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6("[::]")).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6("2606:4700::1111")).toEqual([0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111]);
    expect(parseIPv6("::ffff:10.0.0.1")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
    expect(parseIPv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const text of [
      "1:2:3:4:5:6:7",
      "1::2::3",
      "12345::",
      "1.2.3.4::",
      "::g",
      "1:2:3:4:5:6:7:8:9",
    ]) {
      expect(parseIPv6(text)).toBeNull();
    }
    expect(parseIPv6("1:2:3:4:5:6:7::")).toEqual([1, 2, 3, 4, 5, 6, 7, 0]);
  });

  it("classifies any literal and fails closed on non-IPs", () => {
    expect(classifyIp("8.8.8.8")).toBeNull();
    expect(classifyIp("::1")).toContain("loopback");
    expect(classifyIp("example.com")).toContain("not an IP address");
  });
});
