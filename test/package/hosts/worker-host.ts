// A host's own Cloudflare Worker using the installed package: the observers' `fetch` and
// `scheduled`, with its own route first, and the Durable Object classes re-exported for
// wrangler.toml (next to this file). test/package/tarball.test.ts builds it with
// `wrangler deploy --dry-run`. Needs the Workers factory (issue 16).
import { createObservers, LiveHubObject, TickerObject } from "fraiseql-observers/workers";

export { LiveHubObject, TickerObject };

type Env = Parameters<typeof createObservers>[0];
type Observers = ReturnType<typeof createObservers>;
let observers: Observers | undefined;

export default {
  fetch(request: Request, env: Env, ctx: Parameters<Observers["fetch"]>[2]) {
    if (new URL(request.url).pathname === "/hello") return new Response("host route");
    observers ??= createObservers(env);
    return observers.fetch(request, env, ctx);
  },
  scheduled(
    controller: Parameters<Observers["scheduled"]>[0],
    env: Env,
    ctx: Parameters<Observers["scheduled"]>[2],
  ) {
    observers ??= createObservers(env);
    return observers.scheduled(controller, env, ctx);
  },
};
