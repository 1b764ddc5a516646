// The part of the Bun and Deno host apps that is the same on both: a host's own Hono app with its
// own routes, the observers API mounted at `/` and at a prefix, and a few requests through both.
// Written against the `createObservers` contract (issue 16): `{ api, fetch, start(), stop() }`.
import { Hono } from "hono";

/** What the host scripts need of `createObservers(...)`'s result. */
export interface Observers {
  /** The Hono app to mount: whatever the host's `route()` takes. */
  api: Parameters<Hono["route"]>[1];
  fetch(request: Request): Response | Promise<Response>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN = "host-admin-token-0123456789abcdef";

/** Starts the observers (migrating the empty database), asks both mounts, stops; the statuses. */
export async function exercise(observers: Observers): Promise<Record<string, number | string>> {
  const host = new Hono();
  host.get("/api/hello", (c) => c.text("host route"));
  host.route("/", observers.api);
  host.route("/plugin", observers.api);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  await observers.start();
  try {
    const hello = await host.fetch(new Request("http://host/api/hello"));
    return {
      hostRoute: `${hello.status} ${await hello.text()}`,
      health: (await observers.fetch(new Request("http://host/api/observers/runtime/health")))
        .status,
      list: (await host.fetch(new Request("http://host/api/observers", { headers: auth }))).status,
      prefixed: (
        await host.fetch(new Request("http://host/plugin/api/observers", { headers: auth }))
      ).status,
      unauthenticated: (await host.fetch(new Request("http://host/api/observers"))).status,
      // The docs page and its assets come from the package (no CDN), under any prefix.
      openapi: (await host.fetch(new Request("http://host/plugin/api/observers/openapi.json")))
        .status,
      docs: (await host.fetch(new Request("http://host/plugin/api/observers/docs"))).status,
    };
  } finally {
    await observers.stop();
  }
}
