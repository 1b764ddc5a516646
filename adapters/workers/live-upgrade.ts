/**
 * `WS /api/observers/ws` on a Worker: the API authenticates the upgrade and checks the
 * subscription (as on every host); this hands the socket to the hub of the caller's tenant, or
 * to the global hub for an unscoped caller. A tenant-bound key therefore only ever shares a hub
 * with its own tenant's sockets.
 */
import type { LiveUpgrade } from "../../src/api/routes/live.ts";
import { HUB_ORIGIN, hubStub, SUBSCRIPTION_HEADER } from "./live-hub.ts";
import type { DurableObjectNamespace } from "./types.ts";

/** The API's `live` option on Workers: upgrades reach the tenant's hub Durable Object. */
export function hubUpgrade(hubs: DurableObjectNamespace): LiveUpgrade {
  return (c, subscription, principal) => {
    const headers = new Headers(c.req.raw.headers);
    headers.delete("authorization");
    headers.set(SUBSCRIPTION_HEADER, JSON.stringify(subscription));
    return hubStub(hubs, principal.tenant).fetch(
      new Request(`${HUB_ORIGIN}/connect`, { method: "GET", headers }),
    );
  };
}
