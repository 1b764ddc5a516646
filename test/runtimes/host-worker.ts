// Test-only host Worker (see test/integration/workers-host.test.ts): an application with its own
// routes (a Hono app, including an /api route of its own) that adds the observers the way the
// docs tell a host to: the workers entry's factory bound to a custom action type, its Durable
// Objects re-exported, the API routed by path, ticks from the host's own cron handler.
import { Hono } from "hono";
import * as v from "valibot";
import {
  createObserversWorker,
  type ExecutionContext,
  isObserversPath,
  type ScheduledController,
} from "../../adapters/hosts/workers/index.ts";
import { type ActionDefinition, ActionFailure } from "../../src/actions/types.ts";

/** The host's own action type: posts `{event_id, entity_id, observer}` to `url`. */
const notifySchema = v.strictObject({
  type: v.literal("notify"),
  url: v.pipe(v.string(), v.url()),
});
type NotifyConfig = v.InferOutput<typeof notifySchema>;

const notifyAction: ActionDefinition<NotifyConfig> = {
  type: "notify",
  schema: notifySchema,
  destination: (config) => `notify:${new URL(config.url).origin}`,
  async run({ config, event, observer, environment, signal }) {
    const response = await environment.fetch(config.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-host-action": "notify" },
      body: JSON.stringify({
        event_id: event.id,
        entity_id: event.entity_id,
        observer: observer.name,
      }),
      signal,
    });
    await response.body?.cancel();
    if (!response.ok)
      throw new ActionFailure("transient", "NOTIFY_FAILED", `HTTP ${response.status}`);
    return { message: `HTTP ${response.status}`, httpStatus: response.status };
  },
};

const observers = createObserversWorker({ actions: [notifyAction as ActionDefinition] });
export const { LiveHubObject, TickerObject } = observers;

/** The host's own application. */
const host = new Hono();
host.get("/", (c) => c.text("host home"));
host.get("/api/orders", (c) => c.json({ orders: [], from: "host" }));
host.post("/api/orders", async (c) => c.json({ created: await c.req.json(), from: "host" }, 201));

export default {
  fetch(request: Request, env: object, ctx: ExecutionContext): Promise<Response> | Response {
    if (isObserversPath(new URL(request.url).pathname)) return observers.fetch(request, env, ctx);
    return host.fetch(request, env, ctx);
  },
  async scheduled(controller: ScheduledController, env: object, ctx: ExecutionContext) {
    await observers.scheduled(controller, env, ctx);
  },
  /** The host's consumer of the `job` actions' queue: forwards each message to the test. */
  async queue(batch: QueueBatch, env: { JOBS_RECEIVER_URL?: string }) {
    for (const message of batch.messages) {
      if (env.JOBS_RECEIVER_URL) {
        const response = await fetch(env.JOBS_RECEIVER_URL, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(message.body),
        });
        await response.body?.cancel();
      }
      message.ack();
    }
  },
};

/** What workerd hands a queue consumer (the part used here). */
interface QueueBatch {
  messages: { body: unknown; ack(): void }[];
}
