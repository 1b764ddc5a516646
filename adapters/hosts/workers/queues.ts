/**
 * The `cloudflare-queues` job queue (docs/jobs.md): a `job` action with `"queue":
 * "cloudflare-queues", "binding": "JOBS"` sends a message to the Worker's queue producer binding
 * `JOBS` (`[[queues.producers]] binding = "JOBS"` in wrangler.toml). The body is an envelope:
 * `{task, payload, job_key, tenant, observer_id, event_id, delivery_id}`. Cloudflare Queues
 * deliver at least once, and a retried delivery sends again: consumers deduplicate on
 * `delivery_id`. A binding that is missing or is not a queue fails permanently
 * (`QUEUE_BINDING_MISSING`), and the API refuses it when an observer is written.
 */
import { ActionFailure } from "../../../src/actions/types.ts";
import { parseJson } from "../../../src/events/parse-json.ts";
import { stringifyJson } from "../../../src/json.ts";
import type { JobQueue } from "../../../src/ports/jobs.ts";

/** A queue producer binding, as workerd gives it. */
export interface QueueBinding {
  send(body: unknown, options?: { contentType?: "json" | "text" | "bytes" | "v8" }): Promise<void>;
}

function isQueue(value: unknown): value is QueueBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { send?: unknown }).send === "function" &&
    typeof (value as { sendBatch?: unknown }).sendBatch === "function"
  );
}

const missing = (binding: string | undefined) =>
  `${binding ?? "(no binding)"} is not a Cloudflare Queues producer binding of this Worker ([[queues.producers]] binding = "${binding}" in wrangler.toml)`;

/** The queue kind over the Worker's env (its bindings, by name). */
export function cloudflareQueues(env: Readonly<Record<string, unknown>>): JobQueue {
  return {
    async enqueue(job) {
      const target = job.binding === undefined ? undefined : env[job.binding];
      if (!isQueue(target)) {
        throw new ActionFailure("permanent", "QUEUE_BINDING_MISSING", missing(job.binding));
      }
      // JSON as the project writes it (big integers exact in the text), sent as a plain object.
      const body = parseJson(
        stringifyJson({
          task: job.task,
          payload: job.payload,
          job_key: job.jobKey,
          tenant: job.tenant,
          observer_id: job.observerId,
          event_id: job.eventId,
          delivery_id: job.deliveryId,
        }),
      );
      await target.send(body, { contentType: "json" });
      return { id: job.deliveryId };
    },
    async check({ binding }) {
      if (isQueue(binding === undefined ? undefined : env[binding])) return null;
      return { field: "binding", message: missing(binding) };
    },
  };
}
