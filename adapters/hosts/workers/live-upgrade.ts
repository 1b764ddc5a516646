/**
 * `WS /api/observers/ws` on a Worker: the API authenticates the upgrade and checks the
 * subscription (as on every host); this hands the socket to the hub of the caller's tenant, or
 * to the global hub for an unscoped caller. A tenant-bound key therefore only ever shares a hub
 * with its own tenant's sockets.
 */

import type { KeyRevoked } from "../../../src/api/routes/keys.ts";
import type { LiveUpgrade } from "../../../src/api/routes/live.ts";
import { HUB_ORIGIN, hubStub, KEY_HEADER, SUBSCRIPTION_HEADER } from "./live-wire.ts";
import type { DurableObjectNamespace } from "./types.ts";

/** The API's `live` option on Workers: upgrades reach the tenant's hub Durable Object. */
export function hubUpgrade(hubs: DurableObjectNamespace): LiveUpgrade {
  return (c, subscription, principal) => {
    const headers = new Headers(c.req.raw.headers);
    headers.delete("authorization");
    headers.set(SUBSCRIPTION_HEADER, JSON.stringify(subscription));
    // A client cannot set it: every header it sent under this name is replaced or removed.
    if (principal.keyId === null) headers.delete(KEY_HEADER);
    else headers.set(KEY_HEADER, principal.keyId);
    return hubStub(hubs, principal.tenant).fetch(
      new Request(`${HUB_ORIGIN}/connect`, { method: "GET", headers }),
    );
  };
}

/**
 * The API's `onKeyRevoked` on Workers: the hub of the key's tenant (which holds every socket the
 * key opened) closes them at once. Its alarm would within its check interval anyway.
 */
export function hubRevoke(hubs: DurableObjectNamespace): KeyRevoked {
  return async (key) => {
    const response = await hubStub(hubs, key.tenant).fetch(`${HUB_ORIGIN}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key_id: key.id }),
    });
    if (!response.ok) throw new Error(`live hub /revoke answered ${response.status}`);
  };
}
