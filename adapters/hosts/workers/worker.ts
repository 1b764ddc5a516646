/**
 * The project's own Worker (`main` of wrangler.toml): the plugin's factory (create-observers.ts)
 * with nothing added but the root docs (`/openapi.json`, `/docs`) a standalone server has.
 * - `fetch`: the management API, with `WS /api/observers/ws` handed to the live hubs;
 * - `scheduled` (cron, every minute): one tick of the observer runtime over Hyperdrive, plus the
 *   retention sweep at the top of each hour; the ticker chains sooner ticks while work is left;
 * - `LiveHubObject`, `TickerObject`: the Durable Objects (live WebSocket hubs, the ticker).
 *
 * Configuration: `[vars]` and `wrangler secret put` (config.ts); the database is the `HYPERDRIVE`
 * binding. A bad configuration answers 503 on the API's paths and skips ticks, naming the
 * variables in the log.
 */
import { createObserversWorker } from "./create-observers.ts";

const observers = createObserversWorker({ rootDocs: true });

export default { fetch: observers.fetch, scheduled: observers.scheduled };
export const { LiveHubObject, TickerObject } = observers;
