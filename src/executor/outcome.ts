import type { ActionResult, ObserverRef } from "../actions/types.ts";
import type { ChangeEvent } from "../events/types.ts";
import { RESPONSE_EXCERPT_BYTES } from "../net/http.ts";
import { MAX_RETRY_AFTER_MS, nextAttemptDelay } from "./backoff.ts";
import { type AttemptFailure, safeMessage, truncate } from "./classify.ts";
import type { RetryConfig } from "./retry-policy.ts";

/** One attempt to run: an action of an observer for an event. */
export interface Delivery {
  /** Stable across retries (the webhook id, the idempotency key). */
  id: string;
  event: ChangeEvent;
  observer: ObserverRef & {
    /** `fk_customer_org` as text, or null for a global observer (src/actions/policy.ts). */
    tenant: string | null;
    timeout_ms?: number | null | undefined;
    retry_config?: unknown;
  };
  /** The raw action config object (`{type, ...}`), validated by the executor. */
  action: unknown;
  /** 1-based number of this attempt. */
  attempt: number;
  /** When this attempt was due (epoch ms), if it waited for a time (docs/time.md). */
  scheduledAt?: number | null;
  /**
   * Whose delivery this is (the change's tenant): a tenant's attempts hold at most its share of
   * the executor's slots. Absent or null: not capped.
   */
  tenant?: string | null;
  /**
   * The change's trace id (the change log's `trace_id`): its attempts send a W3C `traceparent`
   * when it is one (src/metrics/trace.ts), and their log lines carry it.
   */
  traceId?: string | null;
}

/** `tb_observer_log` statuses an attempt can end in. */
export type AttemptStatus = "success" | "failed" | "timeout" | "cancelled";

/** What becomes of the delivery: finished, tried again later, or dead-lettered. */
export type Disposition = "done" | "retry" | "dead_letter";

/** The result of one attempt, and when (if ever) to make the next. */
export interface ExecutionOutcome {
  deliveryId: string;
  attempt: number;
  maxAttempts: number;
  status: AttemptStatus;
  disposition: Disposition;
  /** Attempt number of the next try (a cancelled attempt is not counted, so it repeats). */
  nextAttempt: number | null;
  /** When the next try is due, epoch milliseconds. */
  nextAttemptAt: number | null;
  /** When the attempt started running (after any wait for a slot), epoch milliseconds. */
  startedAt: number;
  durationMs: number;
  httpStatus: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** The action's summary on success, e.g. `HTTP 204`. */
  message: string | null;
  responseExcerpt: string | null;
  /**
   * A failed attempt's kind (`transient`: the retry policy would retry it; `permanent`; or
   * `cancelled`), absent on success: what endpoint health counts (src/runtime/destination-health.ts).
   */
  failureKind?: AttemptFailure["kind"];
  /**
   * What a transient failure's receiver asked for with `Retry-After` (ms, capped at 24 h), absent
   * otherwise: a circuit it opens probes no sooner (src/runtime/destination-health.ts).
   */
  retryAfterMs?: number;
  /**
   * Not attempted: the delivery waits until `at` for its destination's circuit or its rate limit
   * (src/runtime/destination-health.ts). Put back as it was: no attempt spent, nothing logged.
   */
  deferred?: { at: number; destination: string | null };
}

/** What every outcome of one attempt shares. */
export interface AttemptContext {
  deliveryId: string;
  attempt: number;
  maxAttempts: number;
  policy: RetryConfig;
  startedAt: number;
}

const excerpt = (text: string | null | undefined) =>
  text == null ? null : truncate(text, RESPONSE_EXCERPT_BYTES);

function common(context: AttemptContext, now: number) {
  return {
    deliveryId: context.deliveryId,
    attempt: context.attempt,
    maxAttempts: context.maxAttempts,
    startedAt: context.startedAt,
    durationMs: Math.max(0, now - context.startedAt),
  };
}

/** The outcome of an attempt that succeeded. */
export function successOutcome(
  context: AttemptContext,
  result: ActionResult,
  now: number,
): ExecutionOutcome {
  return {
    ...common(context, now),
    status: "success",
    disposition: "done",
    nextAttempt: null,
    nextAttemptAt: null,
    httpStatus: result.httpStatus ?? null,
    errorCode: null,
    errorMessage: null,
    message: typeof result.message === "string" ? safeMessage(result.message) : null,
    responseExcerpt: excerpt(result.responseExcerpt),
  };
}

/** The outcome of a delivery the executor's `admit` kept back: not an attempt. */
export function deferredOutcome(
  context: AttemptContext,
  deferred: { at: number; destination: string | null },
  now: number,
): ExecutionOutcome {
  return {
    ...common(context, now),
    status: "cancelled",
    disposition: "retry",
    nextAttempt: context.attempt,
    nextAttemptAt: deferred.at,
    httpStatus: null,
    errorCode: null,
    errorMessage: null,
    message: null,
    responseExcerpt: null,
    failureKind: "cancelled",
    deferred,
  };
}

/**
 * The outcome of an attempt that failed: permanent failures dead-letter at once; transient ones
 * retry after the backoff until the attempts (the first included) run out; cancelled attempts
 * retry now with the same number.
 */
export function failureOutcome(
  context: AttemptContext,
  failure: AttemptFailure,
  now: number,
  random: () => number,
): ExecutionOutcome {
  const { attempt, maxAttempts, policy } = context;
  let disposition: Disposition = "dead_letter";
  let nextAttempt: number | null = null;
  let nextAttemptAt: number | null = null;
  if (failure.kind === "cancelled") {
    disposition = "retry";
    nextAttempt = attempt;
    nextAttemptAt = now;
  } else if (failure.kind === "transient" && attempt < maxAttempts) {
    disposition = "retry";
    nextAttempt = attempt + 1;
    nextAttemptAt = now + nextAttemptDelay(failure, attempt, policy, random);
  }
  return {
    ...common(context, now),
    status: failure.status,
    disposition,
    nextAttempt,
    nextAttemptAt,
    httpStatus: failure.httpStatus,
    errorCode: failure.code,
    errorMessage: failure.message,
    message: null,
    responseExcerpt: excerpt(failure.responseExcerpt),
    failureKind: failure.kind,
    ...(failure.kind === "transient" && failure.retryAfterMs != null && failure.retryAfterMs > 0
      ? { retryAfterMs: Math.min(Math.ceil(failure.retryAfterMs), MAX_RETRY_AFTER_MS) }
      : {}),
  };
}
