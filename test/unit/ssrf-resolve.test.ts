/**
 * The resolving half of the SSRF guard (src/net/resolved.ts): where the runtime resolves names,
 * a public-looking name is refused when ANY address it resolves to is private, loopback,
 * link-local, unique-local, CGNAT, multicast, unspecified or a metadata endpoint, on every hop.
 * The names here resolve nowhere for real (the machine is offline and they are example names), so
 * the resolver is a table; test/integration/resolve-host.test.ts runs the servers' real resolver.
 */
import { describe, expect, it } from "vitest";
import { ActionFailure } from "../../src/actions/types.ts";
import { sendHttp } from "../../src/net/index.ts";
import type { HostResolver } from "../../src/ports/resolver.ts";
import { testEnvironment } from "../support/actions.ts";

const never = new AbortController().signal;

/** A resolver answering from a table, recording the names it was asked. */
function tableResolver(table: Record<string, readonly string[]>) {
  const asked: string[] = [];
  const resolveHost: HostResolver = async (hostname) => {
    asked.push(hostname);
    const answer = table[hostname];
    if (answer === undefined) throw new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    return answer;
  };
  return { asked, resolveHost };
}

/** A fetch answering each URL from a table (the public hosts these tests name do not exist). */
function stubFetch(answers: Record<string, () => Response>) {
  const calls: string[] = [];
  const fetch = (async (input: RequestInfo | URL) => {
    const url = String(input);
    calls.push(url);
    const answer = answers[url];
    if (answer === undefined) throw new TypeError(`no stub for ${url}`);
    return answer();
  }) as typeof globalThis.fetch;
  return { calls, fetch };
}

async function failureOf(promise: Promise<unknown>): Promise<ActionFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionFailure);
  return error as ActionFailure;
}

const HOOK = "https://hooks.example.com/in";

/** Sends to HOOK with `hooks.example.com` resolving to `addresses`, private targets not allowed. */
async function sendResolvingTo(addresses: readonly string[]) {
  const resolver = tableResolver({ "hooks.example.com": addresses });
  const stub = stubFetch({ [HOOK]: () => new Response(null, { status: 204 }) });
  const environment = testEnvironment({
    fetch: stub.fetch,
    resolveHost: resolver.resolveHost,
    allowPrivateTargets: false,
  });
  const result = sendHttp({ url: HOOK }, environment, never);
  return { result, calls: stub.calls, asked: resolver.asked };
}

// One address of every class the guard refuses, as getaddrinfo may return it.
const privateAddresses: [string, string][] = [
  ["127.0.0.1", "loopback address"],
  ["127.1.2.3", "loopback address"],
  ["::1", "loopback address"],
  ["10.1.2.3", "private network"],
  ["172.16.5.4", "private network"],
  ["192.168.1.10", "private network"],
  ["100.64.0.1", "carrier-grade NAT"],
  ["169.254.10.20", "link-local address"],
  ["fe80::1", "link-local address"],
  ["fe80::1%eth0", "link-local address"],
  ["fc00::1", "unique local address"],
  ["fd12:3456::1", "unique local address"],
  ["169.254.169.254", "cloud metadata endpoint"],
  ["fd00:ec2::254", "cloud metadata endpoint"],
  ["192.0.0.192", "IETF protocol assignment"],
  ["0.0.0.0", "unspecified address"],
  ["::", "unspecified address"],
  ["224.0.0.251", "multicast address"],
  ["ff02::1", "multicast address"],
  ["255.255.255.255", "broadcast address"],
  ["240.0.0.1", "reserved range"],
  // IPv4-mapped and NAT64 forms are judged by the IPv4 address inside.
  ["::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback address"],
  ["::ffff:7f00:1", "IPv4-mapped 127.0.0.1: loopback address"],
  ["::ffff:10.0.0.1", "IPv4-mapped 10.0.0.1: private network"],
  ["::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254: cloud metadata endpoint"],
  ["64:ff9b::a9fe:a9fe", "NAT64 169.254.169.254: cloud metadata endpoint"],
];

describe("a target whose name resolves to a private address", () => {
  it.each(privateAddresses)("is refused when it resolves to %s (%s)", async (address, reason) => {
    const { result, calls, asked } = await sendResolvingTo([address]);
    const failure = await failureOf(result);
    expect(failure).toMatchObject({ kind: "permanent", code: "TARGET_FORBIDDEN" });
    expect(failure.message).toContain(`hooks.example.com (target URL): it resolves to ${address}`);
    expect(failure.message).toContain(reason);
    expect(failure.message).toContain("OBSERVERS_ALLOW_PRIVATE_TARGETS");
    expect(asked).toEqual(["hooks.example.com"]);
    expect(calls).toEqual([]);
  });

  it.each([
    [["93.184.216.34", "10.0.0.5"], "10.0.0.5"],
    [["10.0.0.5", "93.184.216.34"], "10.0.0.5"],
    [["2606:2800:220:1:248:1893:25c8:1946", "::ffff:169.254.169.254"], "::ffff:169.254.169.254"],
    [["93.184.216.34", "2606:2800:220:1::1", "fd00:ec2::254"], "fd00:ec2::254"],
  ])("is refused when any of %j is private", async (addresses, culprit) => {
    const { result, calls } = await sendResolvingTo(addresses);
    const failure = await failureOf(result);
    expect(failure).toMatchObject({ kind: "permanent", code: "TARGET_FORBIDDEN" });
    expect(failure.message).toContain(`it resolves to ${culprit}`);
    expect(calls).toEqual([]);
  });

  it("is sent when every address is public", async () => {
    const { result, calls } = await sendResolvingTo([
      "93.184.216.34",
      "2606:2800:220:1:248:1893:25c8:1946",
    ]);
    expect((await result).status).toBe(204);
    expect(calls).toEqual([HOOK]);
  });

  it("checks the name of every redirect hop", async () => {
    const resolver = tableResolver({
      "hooks.example.com": ["93.184.216.34"],
      "moved.example.com": ["192.168.0.7"],
    });
    const stub = stubFetch({
      [HOOK]: () =>
        new Response(null, { status: 307, headers: { location: "https://moved.example.com/x" } }),
    });
    const environment = testEnvironment({
      fetch: stub.fetch,
      resolveHost: resolver.resolveHost,
      allowPrivateTargets: false,
    });
    const failure = await failureOf(sendHttp({ url: HOOK }, environment, never));
    expect(failure).toMatchObject({ kind: "permanent", code: "TARGET_FORBIDDEN" });
    expect(failure.message).toContain(
      "moved.example.com (redirect from hooks.example.com): it resolves to 192.168.0.7",
    );
    expect(resolver.asked).toEqual(["hooks.example.com", "moved.example.com"]);
    expect(stub.calls).toEqual([HOOK]);
  });

  it("resolves a fully qualified name without its trailing dot", async () => {
    const resolver = tableResolver({ "hooks.example.com": ["127.0.0.1"] });
    const environment = testEnvironment({
      fetch: stubFetch({}).fetch,
      resolveHost: resolver.resolveHost,
      allowPrivateTargets: false,
    });
    const failure = await failureOf(
      sendHttp({ url: "https://hooks.example.com./in" }, environment, never),
    );
    expect(failure.code).toBe("TARGET_FORBIDDEN");
    expect(resolver.asked).toEqual(["hooks.example.com"]);
  });
});

describe("the resolving check", () => {
  it("fails transiently, without connecting, when the name does not resolve", async () => {
    const resolver = tableResolver({});
    const stub = stubFetch({});
    const environment = testEnvironment({
      fetch: stub.fetch,
      resolveHost: resolver.resolveHost,
      allowPrivateTargets: false,
    });
    const failure = await failureOf(sendHttp({ url: HOOK }, environment, never));
    expect(failure).toMatchObject({ kind: "transient", code: "NETWORK_ERROR" });
    expect(failure.message).toContain("ENOTFOUND hooks.example.com");
    expect(stub.calls).toEqual([]);
  });

  it("fails transiently when the name resolves to nothing", async () => {
    const { result, calls } = await sendResolvingTo([]);
    const failure = await failureOf(result);
    expect(failure).toMatchObject({ kind: "transient", code: "NETWORK_ERROR" });
    expect(failure.message).toContain("resolves to no address");
    expect(calls).toEqual([]);
  });

  it("is skipped with OBSERVERS_ALLOW_PRIVATE_TARGETS, and for IP literals", async () => {
    const resolver = tableResolver({ "hooks.example.com": ["127.0.0.1"] });
    const stub = stubFetch({
      [HOOK]: () => new Response(null, { status: 204 }),
      "https://93.184.216.34/in": () => new Response(null, { status: 204 }),
    });
    const allowed = testEnvironment({
      fetch: stub.fetch,
      resolveHost: resolver.resolveHost,
      allowPrivateTargets: true,
    });
    expect((await sendHttp({ url: HOOK }, allowed, never)).status).toBe(204);
    const guarded = { ...allowed, allowPrivateTargets: false };
    expect((await sendHttp({ url: "https://93.184.216.34/in" }, guarded, never)).status).toBe(204);
    expect(resolver.asked).toEqual([]);
  });

  it("gives up a lookup that outlives the attempt, with the signal's reason", async () => {
    const controller = new AbortController();
    const environment = testEnvironment({
      fetch: stubFetch({}).fetch,
      resolveHost: () => new Promise<never>(() => {}),
      allowPrivateTargets: false,
    });
    const sent = sendHttp({ url: HOOK }, environment, controller.signal);
    const reason = new Error("attempt timed out");
    controller.abort(reason);
    await expect(sent).rejects.toBe(reason);
  });
});
