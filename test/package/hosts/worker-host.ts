// A host's own Cloudflare Worker using the installed package, as adapters/hosts/workers/index.ts
// documents it: the host's own route, the observers on the API's paths and the cron, and the
// Durable Object classes re-exported for wrangler.toml (next to this file).
// test/package/tarball.test.ts builds it with `wrangler deploy --dry-run`. Needs the Workers
// factory (issue 16).
import {
  createObservers,
  type ExecutionContext,
  isObserversPath,
  type ScheduledController,
} from "fraiseql-observers/workers";

export { LiveHubObject, TickerObject } from "fraiseql-observers/workers";

type Env = Parameters<typeof createObservers>[0];

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    if (isObserversPath(new URL(request.url).pathname)) {
      return createObservers(env).fetch(request, ctx);
    }
    return new Response("host route");
  },
  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    await createObservers(env).scheduled(controller, ctx);
  },
};
