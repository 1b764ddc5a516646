import { actionPolicyIssues, type PolicyIssue } from "../actions/policy.ts";
import { withoutTiming } from "../actions/timing.ts";
import {
  type ActionDefinition,
  type ActionEnvironment,
  ActionFailure,
  type ActionRegistry,
  type ActionResult,
} from "../actions/types.ts";
import { recordAttempt, setDestinationLimit } from "../metrics/observers.ts";
import { tracedFetch, traceparentFor } from "../metrics/trace.ts";
import { RESPONSE_EXCERPT_BYTES } from "../net/body.ts";
import { type ConfigResult, safeParseConfig } from "../validation.ts";
import { runAbortable } from "./abortable.ts";
import { type BatchOutcome, createBatchExecution } from "./batch.ts";
import {
  type AttemptFailure,
  classifyFailure,
  MAX_ERROR_MESSAGE_CHARS,
  truncate,
} from "./classify.ts";
import { type AttemptSignal, createKeyedLimiter } from "./limiter.ts";
import {
  type AttemptContext,
  type Delivery,
  deferredOutcome,
  type ExecutionOutcome,
  failureOutcome,
  successOutcome,
} from "./outcome.ts";
import { DEFAULT_RETRY_CONFIG, type RetryConfig, retryConfigSchema } from "./retry-policy.ts";
import { recordingEnv, scrubberFor } from "./scrub.ts";

/** Options for `createExecutor`. */
export interface ExecutorOptions {
  /** Where each delivery's action type is looked up (only `get` is used). */
  registry: Pick<ActionRegistry, "get">;
  environment: ActionEnvironment;
  /** Attempts running at once, across all destinations (default 64). */
  concurrency?: number;
  /**
   * Attempts running at once against one destination, per tenant: the cap of its adaptive limit
   * (default 256), or the fixed limit when `adaptive` is false.
   */
  perDestination?: number;
  /**
   * Learn each destination's limit from its round trips and overload signals, between 1 and
   * `perDestination` (default true; docs/delivery.md). False: `perDestination` is fixed.
   */
  adaptive?: boolean;
  /**
   * Attempts one tenant's deliveries (`Delivery.tenant`) may run at once (default: half of
   * `concurrency`, rounded up); deliveries without a tenant are not capped.
   */
  perTenant?: number;
  /** Per-action timeout when the observer sets none (default 30 000 ms). */
  defaultTimeoutMs?: number;
  /** Jitter source (default `Math.random`); fixed in tests. */
  random?: () => number;
  /** Shutdown: aborts running attempts (cancelled, not counted) and stops new ones starting. */
  signal?: AbortSignal;
  /**
   * Asked once the attempt holds its slot, just before it runs: null runs it; a wait returns an
   * outcome with `deferred` instead (no attempt spent). Circuits and rate limits
   * (src/runtime/destination-health.ts).
   */
  admit?(
    delivery: Delivery,
    destination: string | null,
  ):
    | { at: number; destination: string | null }
    | null
    | Promise<{ at: number; destination: string | null } | null>;
}

/** Runs single attempts of actions and says what should happen next; never sleeps to retry. */
export interface Executor {
  /** Runs one attempt. Never rejects: every failure becomes an outcome. */
  execute(delivery: Delivery): Promise<ExecutionOutcome>;
  /** Runs attempts concurrently (within the limits); outcomes in input order. */
  executeAll(deliveries: readonly Delivery[]): Promise<ExecutionOutcome[]>;
  /**
   * Runs one attempt for a batch (docs/delivery.md, "Batches"): deliveries of one observer's
   * action (the same action object), in the order to send them. One request, one concurrency
   * slot, the observer's timeout; its result becomes each member's outcome, with the member's own
   * attempt number and backoff. Never rejects.
   */
  executeBatch(deliveries: readonly Delivery[]): Promise<BatchOutcome>;
  /** Attempts holding a slot. */
  readonly active: number;
  /** Attempts waiting for a slot. */
  readonly queued: number;
}

export type { BatchOutcome } from "./batch.ts";
/** The default cap of attempts at once against one destination (`OBSERVERS_PER_DESTINATION`). */
export const DEFAULT_PER_DESTINATION = 256;

/**
 * What an attempt's outcome tells its destination's adaptive limit: a timeout or a transient
 * failure of the destination (408/429/5xx, a connection error) is overload; any other answer, success or permanent
 * failure, is a round trip; a cancelled attempt (shutdown) says nothing.
 */
function signalOf(outcome: ExecutionOutcome): AttemptSignal | undefined {
  if (outcome.status === "cancelled") return undefined;
  if (outcome.status === "success") return "answered";
  const overloaded =
    outcome.status === "timeout" ||
    outcome.errorCode === "NETWORK_ERROR" ||
    isOverloadStatus(outcome.httpStatus);
  return overloaded ? "overloaded" : "answered";
}

const isOverloadStatus = (status: number | null) =>
  status === 408 || status === 429 || (status !== null && status >= 500 && status <= 599);

const DEFAULT_POLICY: ConfigResult<RetryConfig> = { success: true, output: DEFAULT_RETRY_CONFIG };

const permanent = (code: string, message: string) =>
  classifyFailure(new ActionFailure("permanent", code, message));

const issueText = (result: ConfigResult<unknown>) =>
  result.success ? "" : result.issues.map((i) => `${i.path}: ${i.message}`).join("; ");

const NO_READS: ReadonlySet<string> = new Set();

/** An attempt's trace: the `traceparent` it sends (null: its change has no usable trace id). */
interface AttemptTrace {
  traceparent: string | null;
}
const NO_TRACE: AttemptTrace = { traceparent: null };

/**
 * The outcome with every secret the attempt could have echoed removed from its texts: the values
 * it read from the environment and the secrets written in its config. Everything that stores,
 * logs or broadcasts an outcome gets it from here, so no resolved secret leaves by that way.
 */
function scrubOutcome(
  outcome: ExecutionOutcome,
  action: unknown,
  reads: ReadonlySet<string>,
): ExecutionOutcome {
  if (outcome.errorMessage === null && outcome.message === null && outcome.responseExcerpt === null)
    return outcome;
  const scrubber = scrubberFor(action, reads);
  if (scrubber.empty) return outcome;
  const scrub = (text: string | null, max: number) =>
    text === null ? null : truncate(scrubber.scrub(text), max);
  return {
    ...outcome,
    errorMessage: scrub(outcome.errorMessage, MAX_ERROR_MESSAGE_CHARS),
    message: scrub(outcome.message, MAX_ERROR_MESSAGE_CHARS),
    responseExcerpt: scrub(outcome.responseExcerpt, RESPONSE_EXCERPT_BYTES),
  };
}

/** A delivery's log fields of its trace: the change's trace id, and the traceparent sent. */
function traceFields(delivery: Delivery, trace: AttemptTrace): Record<string, string> {
  const fields: Record<string, string> = {};
  if (delivery.traceId) fields.trace_id = delivery.traceId;
  if (trace.traceparent !== null) fields.traceparent = trace.traceparent;
  return fields;
}

/** Creates an executor over `registry`'s actions, sharing one set of concurrency limits. */
export function createExecutor(options: ExecutorOptions): Executor {
  const { registry, environment } = options;
  const { clock, logger } = environment;
  const random = options.random ?? Math.random;
  const shutdown = options.signal;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
  const concurrency = options.concurrency ?? 64;
  const limiter = createKeyedLimiter({
    limit: concurrency,
    perKey: options.perDestination ?? DEFAULT_PER_DESTINATION,
    perGroup: Math.min(concurrency, options.perTenant ?? Math.ceil(concurrency / 2)),
    adaptive: options.adaptive ?? true,
    now: () => clock.now(),
    onLimit: setDestinationLimit,
  });
  // Deliveries of one observer share its action and retry objects: validate each once. (Callers
  // replace these objects when an observer changes; they are never mutated in place.)
  const configs = new WeakMap<object, ConfigResult<unknown>>();
  const policies = new WeakMap<object, ConfigResult<RetryConfig>>();
  // The action policy judges names, never values: its verdict on one validated config (an
  // observer's action, shared by its deliveries) for one tenant holds until the config changes.
  const verdicts = new WeakMap<object, { tenant: string | null; issues: PolicyIssue[] }>();

  function policyIssuesOf(
    definition: ActionDefinition,
    config: unknown,
    tenant: string | null,
  ): PolicyIssue[] {
    if (typeof config !== "object" || config === null) {
      return actionPolicyIssues(definition, config, tenant, environment.policy);
    }
    const kept = verdicts.get(config);
    if (kept !== undefined && kept.tenant === tenant) return kept.issues;
    const issues = actionPolicyIssues(definition, config, tenant, environment.policy);
    verdicts.set(config, { tenant, issues });
    return issues;
  }

  function resolvePolicy(raw: unknown): ConfigResult<RetryConfig> {
    if (raw == null) return DEFAULT_POLICY;
    if (typeof raw !== "object") return safeParseConfig(retryConfigSchema, raw, "retry_config");
    let result = policies.get(raw);
    if (!result) {
      result = safeParseConfig(retryConfigSchema, raw, "retry_config");
      policies.set(raw, result);
    }
    return result;
  }

  function validateConfig(definition: ActionDefinition, action: object): ConfigResult<unknown> {
    let result = configs.get(action);
    if (!result) {
      // The timing fields every action has are ingest's business, not the action's schema's.
      result = safeParseConfig(definition.schema, withoutTiming(action), "action");
      configs.set(action, result);
    }
    return result;
  }

  function timeoutFor(delivery: Delivery): number {
    const asked = delivery.observer.timeout_ms;
    const ms = typeof asked === "number" && asked > 0 ? asked : defaultTimeoutMs;
    return Math.ceil(ms);
  }

  /** The metrics' `action_type`: a registered type, else `unknown` (its values stay few). */
  function actionLabel(action: unknown): string {
    const type =
      typeof action === "object" && action !== null ? (action as { type?: unknown }).type : null;
    return typeof type === "string" && registry.get(type) !== undefined ? type : "unknown";
  }

  /**
   * Every attempt ends here, whatever ended it: its outcome is scrubbed, counted in the metrics
   * (src/metrics/observers.ts) and, when it failed, logged.
   */
  function finish(
    delivery: Delivery,
    context: AttemptContext,
    settled: { result: ActionResult } | { failure: AttemptFailure },
    reads: ReadonlySet<string> = NO_READS,
    trace: AttemptTrace = NO_TRACE,
  ): ExecutionOutcome {
    const now = clock.now();
    if ("result" in settled) {
      const outcome = scrubOutcome(
        successOutcome(context, settled.result, now),
        delivery.action,
        reads,
      );
      recordAttempt(actionLabel(delivery.action), outcome, null);
      return outcome;
    }
    const outcome = scrubOutcome(
      failureOutcome(context, settled.failure, now, random),
      delivery.action,
      reads,
    );
    recordAttempt(actionLabel(delivery.action), outcome, settled.failure.kind);
    const level =
      outcome.status === "cancelled" ? "debug" : outcome.disposition === "retry" ? "warn" : "error";
    // Names and codes only: config values (URLs, tokens) and messages stay out of the log.
    // A failing log sink must not change the outcome.
    try {
      logger.log(level, `action attempt ${outcome.status}`, {
        observer: delivery.observer.name,
        observer_id: delivery.observer.id,
        delivery_id: delivery.id,
        event_id: delivery.event.id,
        attempt: outcome.attempt,
        max_attempts: outcome.maxAttempts,
        code: outcome.errorCode,
        http_status: outcome.httpStatus,
        disposition: outcome.disposition,
        ...traceFields(delivery, trace),
      });
    } catch {}
    return outcome;
  }

  async function run(
    delivery: Delivery,
    definition: ActionDefinition,
    config: unknown,
    context: AttemptContext,
  ): Promise<ExecutionOutcome> {
    const cancelled = { failure: classifyFailure(null, { by: "shutdown" }) };
    if (shutdown?.aborted) return finish(delivery, context, cancelled);
    // Every environment value the attempt reads is scrubbed from what it reports.
    const reads = new Set<string>();
    // A change with a trace id: every request of the attempt carries its traceparent (a new span).
    const traceparent = traceparentFor(delivery.traceId);
    const trace: AttemptTrace = traceparent === null ? NO_TRACE : { traceparent };
    const attemptEnvironment = {
      ...environment,
      env: recordingEnv(environment.env, reads),
      ...(traceparent === null ? {} : { fetch: tracedFetch(environment.fetch, traceparent) }),
    };
    let destination: string | null;
    try {
      destination = definition.destination(config, attemptEnvironment);
    } catch (error) {
      // A bug, but its message may quote what it read: scrub it like any other.
      return finish(delivery, context, { failure: classifyFailure(error) }, reads, trace);
    }
    const release = await limiter.acquire(destination, shutdown, delivery.tenant ?? null);
    if (!release || shutdown?.aborted) {
      release?.();
      return finish(delivery, { ...context, startedAt: clock.now() }, cancelled, reads, trace);
    }

    if (options.admit) {
      // Mostly answered at once (a healthy destination, no rate limit): no await then.
      let wait = options.admit(delivery, destination);
      if (wait instanceof Promise) wait = await wait.catch(() => null);
      if (wait !== null) {
        release();
        return deferredOutcome(context, wait, clock.now());
      }
    }
    const started = { ...context, startedAt: clock.now() };
    let signal: AttemptSignal | undefined;
    try {
      const settled = await runAbortable(
        (signal) =>
          definition.run({
            config,
            event: delivery.event,
            observer: { id: delivery.observer.id, name: delivery.observer.name },
            tenant: delivery.observer.tenant,
            deliveryId: delivery.id,
            attempt: context.attempt,
            maxAttempts: context.maxAttempts,
            ...(typeof delivery.scheduledAt === "number"
              ? { scheduledAt: delivery.scheduledAt }
              : {}),
            signal,
            environment: attemptEnvironment,
            ...(traceparent === null ? {} : { traceparent }),
          }),
        { clock, timeoutMs: timeoutFor(delivery), shutdown },
      );
      const outcome = settled.ok
        ? finish(delivery, started, { result: settled.value }, reads, trace)
        : finish(
            delivery,
            started,
            { failure: classifyFailure(settled.error, settled.abortedBy) },
            reads,
            trace,
          );
      signal = signalOf(outcome);
      return outcome;
    } finally {
      release(signal);
    }
  }

  async function execute(delivery: Delivery): Promise<ExecutionOutcome> {
    const attempt =
      Number.isSafeInteger(delivery.attempt) && delivery.attempt > 0 ? delivery.attempt : 1;
    let context: AttemptContext = {
      deliveryId: delivery.id,
      attempt,
      // Nothing more will be tried if the retry policy itself is broken.
      maxAttempts: attempt,
      policy: DEFAULT_RETRY_CONFIG,
      startedAt: clock.now(),
    };
    try {
      const policy = resolvePolicy(delivery.observer.retry_config);
      if (policy.success) {
        context = { ...context, maxAttempts: policy.output.max_attempts, policy: policy.output };
      }
      const action = delivery.action;
      const type =
        typeof action === "object" && action !== null ? (action as { type?: unknown }).type : null;
      if (typeof action !== "object" || action === null || typeof type !== "string") {
        const failure = permanent(
          "INVALID_ACTION_CONFIG",
          'action: must be an object with a string "type"',
        );
        return finish(delivery, context, { failure });
      }
      const definition = registry.get(type);
      if (!definition) {
        // Typically a host's own action type whose definition the host no longer registers (or
        // did not give this runtime): retrying cannot help, and the dead letter says why.
        const name = JSON.stringify(truncate(type, 64));
        return finish(delivery, context, {
          failure: permanent(
            "UNKNOWN_ACTION_TYPE",
            `action.type: no action type ${name} is registered with this runtime (a host's own type needs its definition in the registry given to the runtime: actionRegistry([...]))`,
          ),
        });
      }
      const config = validateConfig(definition, action);
      if (!config.success) {
        return finish(delivery, context, {
          failure: permanent("INVALID_ACTION_CONFIG", issueText(config)),
        });
      }
      if (!policy.success) {
        return finish(delivery, context, {
          failure: permanent("INVALID_RETRY_CONFIG", issueText(policy)),
        });
      }
      // Before destination() or run() touch anything: an observer stored before a rule existed,
      // or written straight into the table, is refused here without reading a variable.
      const refused = policyIssuesOf(definition, config.output, delivery.observer.tenant);
      const first = refused[0];
      if (first) {
        const text = refused.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
        return finish(delivery, context, { failure: permanent(first.code, text) });
      }
      return await run(delivery, definition, config.output, context);
    } catch (error) {
      // A throwing schema or destination() is a bug, but must still yield an outcome.
      return finish(delivery, context, { failure: classifyFailure(error) });
    }
  }

  // One attempt for a batch of deliveries (batch.ts), within the same limits and checks.
  const executeBatch = createBatchExecution({
    registry,
    environment,
    random,
    limiter,
    execute,
    validateConfig,
    resolvePolicy,
    policyIssuesOf,
    timeoutFor,
    actionLabel,
    scrub: scrubOutcome,
    ...(shutdown ? { shutdown } : {}),
    ...(options.admit ? { admit: options.admit } : {}),
  });

  return {
    execute,
    executeBatch,
    executeAll: (deliveries) => Promise.all(deliveries.map(execute)),
    get active() {
      return limiter.active;
    },
    get queued() {
      return limiter.queued;
    },
  };
}
