import { lookup } from "node:dns/promises";
import type { HostResolver } from "../../../src/ports/resolver.ts";

/**
 * The resolver of a Bun or Deno server: `node:dns` `lookup` with every address of every family,
 * i.e. getaddrinfo, the system resolver that `fetch` itself uses on both runtimes (hosts file and
 * search domains included). Deno.resolveDns would ask DNS servers directly and miss what the hosts
 * file says, so a name mapped to 127.0.0.1 there would pass the check and still reach loopback.
 */
export const resolveHost: HostResolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true });
  return answers.map((answer) => answer.address);
};
