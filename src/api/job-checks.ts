/**
 * What a `job` action asks of this server, checked when an observer is written (docs/jobs.md): a
 * queue kind the runtime lacks (`cloudflare-queues` off the Worker), a task no live process has
 * registered while the server knows its tasks, a queue binding the Worker lacks. Each is a 400
 * naming the field (`actions.0.task`). Where the server cannot tell, the write is accepted: the
 * job then waits visibly (`GET /api/jobs`, `waiting_reason`) or fails with a clear reason.
 */
import type { ActionEnvironment } from "../actions/types.ts";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { isJsonObject } from "../json.ts";
import { JOB_QUEUE_KINDS, type JobQueueKind } from "../ports/jobs.ts";

/** Throws `ConfigError` listing what the job actions of `actions` cannot get on this server. */
export async function checkJobActions(
  actions: unknown,
  environment: ActionEnvironment | undefined,
  field = "actions",
): Promise<void> {
  // Without an environment (an API over a bare database) nothing is known to refuse.
  if (environment === undefined || !Array.isArray(actions)) return;
  const issues: ConfigIssue[] = [];
  for (const [index, action] of actions.entries()) {
    if (!isJsonObject(action) || action.type !== "job") continue;
    const kind = (action.queue ?? "builtin") as JobQueueKind;
    // An invalid action was already refused by validation, with its own issues.
    if (!JOB_QUEUE_KINDS.includes(kind) || typeof action.task !== "string") continue;
    const queue = environment.jobs?.[kind];
    if (queue === undefined) {
      issues.push({
        path: `${field}.${index}.queue`,
        message: `queue ${kind} is not available on this runtime${kind === "cloudflare-queues" ? " (Cloudflare Queues exist only on the Worker)" : ""}`,
      });
      continue;
    }
    const binding = typeof action.binding === "string" ? action.binding : undefined;
    const issue = await queue.check?.({ task: action.task, binding });
    if (issue) issues.push({ path: `${field}.${index}.${issue.field}`, message: issue.message });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}
