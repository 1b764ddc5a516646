import * as v from "valibot";
import { parseJson } from "../events/parse-json.ts";
import { jobEnqueued } from "../jobs/metrics.ts";
import type { JsonValue } from "../json.ts";
import { JOB_QUEUE_KINDS, type JobRequest } from "../ports/jobs.ts";
import { renderTemplate } from "../templates/index.ts";
import { nonEmptyString, template } from "./fields.ts";
import { tenantNamespace } from "./policy.ts";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  requireService,
} from "./types.ts";

/** A Worker binding's name, as wrangler accepts them. */
const bindingName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a binding name (letters, digits, _)"),
);

/**
 * The `job` action's config (docs/jobs.md). `queue` is where the job goes: `builtin` (jobs in
 * PostgreSQL, run by handlers registered with `observers.jobs.register`), `graphile-worker`
 * (`graphile_worker.add_job` in the same database) or `cloudflare-queues` (the Worker's queue
 * binding named by `binding`).
 */
export const jobConfigSchema = v.pipe(
  v.strictObject({
    type: v.literal("job"),
    queue: v.optional(
      v.picklist(JOB_QUEUE_KINDS, `must be one of ${JOB_QUEUE_KINDS.join(", ")}`),
      "builtin",
    ),
    task: nonEmptyString,
    payload_template: v.optional(template("json")),
    job_key_template: v.optional(template("text")),
    max_attempts: v.optional(
      v.pipe(
        v.number(),
        v.safeInteger("must be an integer"),
        v.minValue(1, "must be at least 1"),
        v.maxValue(1000, "must be at most 1000"),
      ),
    ),
    binding: v.optional(bindingName),
  }),
  v.forward(
    v.check(
      (config) => (config.queue === "cloudflare-queues") === (config.binding !== undefined),
      "binding (the Worker's queue binding) is required with queue cloudflare-queues, and only there",
    ),
    ["binding"],
  ),
);
export type JobConfig = v.InferOutput<typeof jobConfigSchema>;

function payloadOf(request: ActionRequest<JobConfig>): JsonValue {
  const source = request.config.payload_template;
  if (source === undefined) return request.event as unknown as JsonValue;
  const text = renderTemplate(source, "json", request);
  try {
    return parseJson(text);
  } catch (error) {
    throw new ActionFailure(
      "permanent",
      "INVALID_JOB_PAYLOAD",
      "payload_template did not render JSON",
      {
        cause: error,
      },
    );
  }
}

function jobKeyOf(request: ActionRequest<JobConfig>): string | null {
  const source = request.config.job_key_template;
  if (source === undefined) return null;
  const key = renderTemplate(source, "text", request);
  if (key === "") {
    throw new ActionFailure("permanent", "INVALID_JOB_KEY", "job_key_template rendered empty");
  }
  return key;
}

/**
 * The task name the queue sees. graphile-worker's and Cloudflare's tasks are shared by everyone
 * who can enqueue there, so a tenant's tasks are prefixed with its namespace
 * (`OBSERVERS_TENANT_NAMESPACE`): tenant 7's `report` is `tenant:7:report`. Builtin jobs keep the
 * task (the operator's handlers run them) and carry the tenant in their row and context.
 */
export function queueTask(
  request: Pick<ActionRequest<JobConfig>, "config" | "tenant" | "environment">,
): string {
  const { config, tenant, environment } = request;
  if (tenant === null || config.queue === "builtin") return config.task;
  return `${tenantNamespace(environment.policy, tenant)}${config.task}`;
}

async function run(request: ActionRequest<JobConfig>) {
  const { config, environment, signal } = request;
  const queue = requireService(
    environment.jobs?.[config.queue],
    `job action: queue ${config.queue} is not available on this runtime (docs/jobs.md)`,
  );
  const job: JobRequest = {
    task: queueTask(request),
    payload: payloadOf(request),
    jobKey: jobKeyOf(request),
    maxAttempts: config.max_attempts ?? null,
    deliveryId: request.deliveryId,
    eventId: request.event.id,
    observerId: request.observer.id,
    tenant: request.tenant,
    ...(config.binding === undefined ? {} : { binding: config.binding }),
  };
  let id: string;
  try {
    // Keyed by the delivery: a retry after a lost reply finds the job already there.
    ({ id } = await queue.enqueue(job, signal));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof ActionFailure) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ActionFailure("transient", "JOB_ENQUEUE_FAILED", `enqueue failed: ${reason}`, {
      cause: error,
    });
  }
  jobEnqueued(config.queue);
  return { message: `enqueued job ${id} (${config.queue}, task ${job.task})` };
}

/** Hands the event to a job queue as a task, for work too long for an action. */
export const jobAction: ActionDefinition<JobConfig> = {
  type: "job",
  schema: jobConfigSchema,
  // Builtin enqueues go to the observers' own database, batched across concurrent actions
  // (src/jobs/enqueue-batcher.ts): no per-destination cap, only the global and per-tenant ones.
  destination: (config) =>
    config.queue === "builtin"
      ? null
      : config.queue === "cloudflare-queues"
        ? `job:${config.queue}:${config.binding}`
        : `job:${config.queue}`,
  run,
};
