/**
 * One attempt for a batch of deliveries (docs/delivery.md, "Batches"): deliveries of one
 * observer's action (the same action object), sent as one request by the action's `runBatch`.
 * The checks are `execute`'s (config, retry policy, action policy), done once; the request holds
 * one slot of the executor's limiter and runs under the observer's timeout; its result becomes
 * each member's outcome, with the member's own attempt number and backoff.
 */
import { batchIdOf } from "../actions/batch.ts";
import type { PolicyIssue } from "../actions/policy.ts";
import {
  type ActionDefinition,
  type ActionEnvironment,
  ActionFailure,
  type ActionRegistry,
  type ActionResult,
} from "../actions/types.ts";
import { recordBatch } from "../metrics/batches.ts";
import { recordAttempt } from "../metrics/observers.ts";
import type { ConfigResult } from "../validation.ts";
import { runAbortable } from "./abortable.ts";
import { type AttemptFailure, classifyFailure } from "./classify.ts";
import type { ExecutorOptions } from "./executor.ts";
import type { KeyedLimiter } from "./limiter.ts";
import {
  type AttemptContext,
  type Delivery,
  deferredOutcome,
  type ExecutionOutcome,
  failureOutcome,
  successOutcome,
} from "./outcome.ts";
import { DEFAULT_RETRY_CONFIG, type RetryConfig } from "./retry-policy.ts";
import { recordingEnv } from "./scrub.ts";

/** A batch's attempt: its id (the request's `webhook-id`) and one outcome per member, in order. */
export interface BatchOutcome {
  id: string;
  outcomes: ExecutionOutcome[];
}

/** What the executor shares with its batch path: its limits, its checks, its scrubbing. */
export interface BatchExecutionDeps {
  registry: Pick<ActionRegistry, "get">;
  environment: ActionEnvironment;
  random: () => number;
  shutdown?: AbortSignal;
  limiter: KeyedLimiter;
  execute(delivery: Delivery): Promise<ExecutionOutcome>;
  validateConfig(definition: ActionDefinition, action: object): ConfigResult<unknown>;
  resolvePolicy(raw: unknown): ConfigResult<RetryConfig>;
  policyIssuesOf(
    definition: ActionDefinition,
    config: unknown,
    tenant: string | null,
  ): PolicyIssue[];
  timeoutFor(delivery: Delivery): number;
  actionLabel(action: unknown): string;
  scrub(outcome: ExecutionOutcome, action: unknown, reads: ReadonlySet<string>): ExecutionOutcome;
  /**
   * The executor's `admit` (circuits, rate limits), asked once per request with its first member:
   * a batch spends one rate-limit token and is one probe; a wait defers every member.
   */
  admit?: ExecutorOptions["admit"];
}

const NO_READS: ReadonlySet<string> = new Set();

const issueText = (result: ConfigResult<unknown>) =>
  result.success ? "" : result.issues.map((i) => `${i.path}: ${i.message}`).join("; ");

/** The executor's `executeBatch`. Never rejects. */
export function createBatchExecution(
  deps: BatchExecutionDeps,
): (members: readonly Delivery[]) => Promise<BatchOutcome> {
  const { registry, environment, random, shutdown, limiter } = deps;
  const { clock, logger } = environment;

  /** Every member's outcome of one batch attempt, counted and (when it failed) logged once. */
  function finish(
    id: string,
    members: readonly Delivery[],
    contexts: readonly AttemptContext[],
    settled: { result: ActionResult } | { failure: AttemptFailure },
    reads: ReadonlySet<string> = NO_READS,
  ): BatchOutcome {
    const now = clock.now();
    const first = members[0] as Delivery;
    const label = deps.actionLabel(first.action);
    const outcomes = contexts.map((context) => {
      const outcome = deps.scrub(
        "result" in settled
          ? successOutcome(context, settled.result, now)
          : failureOutcome(context, settled.failure, now, random),
        first.action,
        reads,
      );
      recordAttempt(label, outcome, "result" in settled ? null : settled.failure.kind);
      return outcome;
    });
    const status = "result" in settled ? "success" : settled.failure.status;
    recordBatch(label, status, members.length);
    if ("failure" in settled) {
      // Names and codes only, once for the batch: each member's log row has the rest.
      try {
        logger.log(
          settled.failure.kind === "cancelled" ? "debug" : "warn",
          `action batch ${status}`,
          {
            observer: first.observer.name,
            observer_id: first.observer.id,
            batch_id: id,
            batch_size: members.length,
            code: settled.failure.code,
            http_status: settled.failure.httpStatus,
          },
        );
      } catch {}
    }
    return { id, outcomes };
  }

  return async function executeBatch(members) {
    const first = members[0];
    if (first === undefined) return { id: await batchIdOf([]), outcomes: [] };
    const id = await batchIdOf(members.map((member) => member.id));
    const policy = deps.resolvePolicy(first.observer.retry_config);
    const contexts = members.map((member): AttemptContext => {
      const attempt =
        Number.isSafeInteger(member.attempt) && member.attempt > 0 ? member.attempt : 1;
      return {
        deliveryId: member.id,
        attempt,
        // Nothing more will be tried if the retry policy itself is broken.
        maxAttempts: policy.success ? policy.output.max_attempts : attempt,
        policy: policy.success ? policy.output : DEFAULT_RETRY_CONFIG,
        startedAt: clock.now(),
      };
    });
    const fail = (code: string, message: string) =>
      finish(id, members, contexts, {
        failure: classifyFailure(new ActionFailure("permanent", code, message)),
      });
    try {
      const action = first.action;
      const type =
        typeof action === "object" && action !== null ? (action as { type?: unknown }).type : null;
      const definition = typeof type === "string" ? registry.get(type) : undefined;
      // Only a config its action can batch is sent as one; anything else runs one by one, where
      // `execute` says what is wrong with it.
      if (typeof action !== "object" || action === null || !definition?.runBatch) {
        return { id, outcomes: await Promise.all(members.map(deps.execute)) };
      }
      const config = deps.validateConfig(definition, action);
      if (!config.success) return fail("INVALID_ACTION_CONFIG", issueText(config));
      if (!policy.success) return fail("INVALID_RETRY_CONFIG", issueText(policy));
      const refused = deps.policyIssuesOf(definition, config.output, first.observer.tenant);
      const issue = refused[0];
      if (issue) return fail(issue.code, refused.map((i) => `${i.path}: ${i.message}`).join("; "));
      const cancelled = { failure: classifyFailure(null, { by: "shutdown" }) };
      if (shutdown?.aborted) return finish(id, members, contexts, cancelled);
      // Every environment value the attempt reads is scrubbed from what it reports.
      const reads = new Set<string>();
      const attemptEnvironment = { ...environment, env: recordingEnv(environment.env, reads) };
      let destination: string | null;
      try {
        destination = definition.destination(config.output, attemptEnvironment);
      } catch (error) {
        return finish(id, members, contexts, { failure: classifyFailure(error) }, reads);
      }
      // One request, one slot (counted against the first member's tenant).
      const release = await limiter.acquire(destination, shutdown, first.tenant ?? null);
      const started = clock.now();
      const running = contexts.map((context) => ({ ...context, startedAt: started }));
      if (!release || shutdown?.aborted) {
        release?.();
        return finish(id, members, running, cancelled, reads);
      }
      if (deps.admit) {
        let wait = deps.admit(first, destination);
        if (wait instanceof Promise) wait = await wait.catch(() => null);
        if (wait !== null) {
          release();
          const deferred = wait;
          return { id, outcomes: contexts.map((c) => deferredOutcome(c, deferred, clock.now())) };
        }
      }
      try {
        const runBatch = definition.runBatch.bind(definition);
        const settled = await runAbortable(
          (signal) =>
            runBatch({
              config: config.output,
              observer: { id: first.observer.id, name: first.observer.name },
              tenant: first.observer.tenant,
              batchId: id,
              members: members.map((member, i) => ({
                event: member.event,
                deliveryId: member.id,
                attempt: (contexts[i] as AttemptContext).attempt,
                maxAttempts: (contexts[i] as AttemptContext).maxAttempts,
              })),
              signal,
              environment: attemptEnvironment,
            }),
          { clock, timeoutMs: deps.timeoutFor(first), shutdown },
        );
        const outcome = settled.ok
          ? { result: settled.value }
          : { failure: classifyFailure(settled.error, settled.abortedBy) };
        return finish(id, members, running, outcome, reads);
      } finally {
        release();
      }
    } catch (error) {
      // A throwing schema or destination() is a bug, but must still yield outcomes.
      return finish(id, members, contexts, { failure: classifyFailure(error) });
    }
  };
}
