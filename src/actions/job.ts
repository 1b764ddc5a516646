import * as v from "valibot";
import { parseJson } from "../events/parse-json.ts";
import type { JsonValue } from "../json.ts";
import { renderTemplate } from "../templates/index.ts";
import { nonEmptyString, template } from "./fields.ts";
import { tenantNamespace } from "./policy.ts";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  requireService,
} from "./types.ts";

/** The `job` action's config. */
export const jobConfigSchema = v.strictObject({
  type: v.literal("job"),
  queue: v.optional(nonEmptyString, "default"),
  task: nonEmptyString,
  payload_template: v.optional(template("json")),
  max_attempts: v.optional(
    v.pipe(v.number(), v.safeInteger("must be an integer"), v.minValue(1, "must be at least 1")),
  ),
});
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

async function run(request: ActionRequest<JobConfig>) {
  const { config, environment, signal } = request;
  const jobs = requireService(environment.jobs, "job action: this runtime has no job queue");
  const payload = payloadOf(request);
  // A tenant's jobs go to queues under its namespace, never to another's or the operator's.
  const queue =
    request.tenant === null
      ? config.queue
      : `${tenantNamespace(environment.policy, request.tenant)}${config.queue}`;
  let id: string;
  try {
    // Keyed by the delivery: a retry after a lost reply finds the job already there.
    ({ id } = await jobs.enqueue(
      {
        queue,
        task: config.task,
        payload,
        key: request.deliveryId,
        maxAttempts: config.max_attempts ?? null,
      },
      signal,
    ));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof ActionFailure) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ActionFailure("transient", "JOB_ENQUEUE_FAILED", `enqueue failed: ${reason}`, {
      cause: error,
    });
  }
  return { message: `enqueued job ${id} on ${queue}` };
}

/** Hands the event to the runtime's job queue as a task, for work too long for an action. */
export const jobAction: ActionDefinition<JobConfig> = {
  type: "job",
  schema: jobConfigSchema,
  destination: (config) => `job:${config.queue}`,
  run,
};
