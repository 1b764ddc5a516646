import { type ActionEnvironment, ActionFailure } from "../actions/types.ts";
import { classifyIp, parseIPv4 } from "./ip.ts";
import { redactUrls } from "./redact.ts";
import { privateTargetHint } from "./target.ts";

/**
 * The resolving half of the SSRF guard, for runtimes that can resolve names (`resolveHost`: Bun
 * and Deno). The static check (ssrf.ts) judges the URL; this one resolves its name and refuses it
 * if ANY address is loopback, private, link-local, unique-local, CGNAT, multicast, unspecified,
 * reserved or a metadata endpoint (ip.ts decides, IPv4-mapped and NAT64 forms by the IPv4 address
 * inside). Every address, because a client may try each of them in turn (happy eyeballs), and an
 * answer mixing a public and a private address is exactly how a rebinding attack starts.
 *
 * The window it leaves: `fetch` resolves the name again when it connects, and neither Bun's fetch
 * nor `Deno.createHttpClient` accepts a resolver or an address to connect to (and connecting to
 * the IP literal would break TLS name checks), so a name whose DNS answers a public address to
 * this lookup and a private one to fetch's own, moments later, still gets through. docs/security.md
 * says how to close it (an egress proxy or firewall that enforces the rule at connect time).
 */

/** A scoped IPv6 address (`fe80::1%eth0`) is classified by its address. */
function withoutZone(address: string): string {
  const at = address.indexOf("%");
  return at === -1 ? address : address.slice(0, at);
}

function isIpLiteral(hostname: string): boolean {
  return hostname.startsWith("[") || parseIPv4(hostname) !== null;
}

/** `promise`, or the signal's reason as soon as it aborts (a lookup cannot be cancelled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Resolves `url`'s host name and throws a permanent `TARGET_FORBIDDEN` if any address it resolves
 * to may not be contacted; a transient `NETWORK_ERROR` if it does not resolve. Does nothing for IP
 * literals (the static check has judged them), with `allowPrivateTargets`, or without a resolver.
 */
export async function checkResolvedTarget(
  url: URL,
  environment: ActionEnvironment,
  signal: AbortSignal,
  label = "target URL",
): Promise<void> {
  const resolve = environment.resolveHost;
  if (environment.allowPrivateTargets || resolve === undefined || isIpLiteral(url.hostname)) {
    return;
  }
  // `example.com.` is the fully qualified spelling of `example.com`.
  const name = url.hostname.replace(/\.+$/, "");
  let addresses: readonly string[];
  try {
    addresses = await abortable(resolve(name), signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ActionFailure(
      "transient",
      "NETWORK_ERROR",
      `request to ${url.host} failed: ${redactUrls(reason).slice(0, 300)}`,
      { cause: error },
    );
  }
  if (addresses.length === 0) {
    throw new ActionFailure(
      "transient",
      "NETWORK_ERROR",
      `request to ${url.host} failed: the name resolves to no address`,
    );
  }
  for (const address of addresses) {
    const reason = classifyIp(withoutZone(address));
    if (reason !== null) {
      throw new ActionFailure(
        "permanent",
        "TARGET_FORBIDDEN",
        `refusing to contact ${url.host} (${label}): it resolves to ${address.slice(0, 64)}, ` +
          `${reason}; ${privateTargetHint}`,
      );
    }
  }
}
