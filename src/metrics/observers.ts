/**
 * The process's metrics (one registry per process, or per isolate on Workers), with FraiseQL's
 * names (its crates/fraiseql-observers/src/metrics/registry.rs) and ours. Counters and histograms
 * live here; gauges read from the database or a host at scrape are in scrape.ts.
 *
 * Where they are updated, once for every path:
 * - `recordAttempt`: from the executor's `finish` (src/executor/executor.ts), which every attempt
 *   of every action passes through, whoever claimed it (the runtime's dispatcher, a Worker tick,
 *   a transport's worker).
 * - `eventsProcessed`: from `ingestBatch` (src/runtime/ingest.ts) when a batch's cursor move commits,
 *   and from the NATS worker (src/runtime/transport-worker.ts) when its matching commits.
 * - `runtimeErrors`: from the runtime's error counting (src/runtime/runtime.ts).
 * - `scheduleTicks`: from the runtime's schedule round (src/runtime/runtime.ts), with the ticks
 *   `fireDueSchedules` claimed. Job metrics: src/jobs/metrics.ts.
 */
import type { FailureKind } from "../actions/types.ts";
import type { ExecutionOutcome } from "../executor/outcome.ts";
import { DEFAULT_BUCKETS, MetricsRegistry } from "./registry.ts";

/** The process's registry: add a metric with one line (docs/metrics.md). */
export const metrics = new MetricsRegistry();

/** FraiseQL's `error_type` values of `fraiseql_observer_action_errors_total`. */
export type ActionErrorType =
  | "execution_failed"
  | "permanently_failed"
  | "invalid_config"
  | "template_rendering_failed"
  | "database_error"
  | "circuit_breaker_open"
  | "other_error";

let startedAtSeconds: number | null = null;

/** Notes the start time once, when the process's first runtime starts (`nowMs`: its clock). */
export function markStarted(nowMs: number): void {
  startedAtSeconds ??= Math.floor(nowMs / 1000);
}

/** When this process's (isolate's) first runtime started, in Unix seconds; null before. */
export function startedAt(): number | null {
  return startedAtSeconds;
}

const destinationLimit = metrics.gauge(
  "fraiseql_observer_destination_concurrency_limit",
  "Attempts one destination may have in flight now: its adaptive limit (learnt from its round trips and overload signals, capped by OBSERVERS_PER_DESTINATION and by the attempts that may run at once, OBSERVERS_CONCURRENCY or a tenant's share; per tenant, the last one changed), or that fixed cap with OBSERVERS_ADAPTIVE_CONCURRENCY=off. Destinations are origins (scheme://host:port), never paths or credentials.",
  ["destination"],
);

/**
 * A destination key as a label: `type:scheme://host[:port]` (an origin holds no credentials or
 * path) or a bare `type[:name]`; anything else (an unparsable URL given as-is) only by its type.
 */
export function destinationLabel(destination: string): string {
  if (/^[a-z][a-z0-9_-]*:https?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(destination)) return destination;
  if (/^[a-z][a-z0-9_-]*(:[a-z0-9_.-]+)?$/.test(destination)) return destination;
  const type = /^[a-z][a-z0-9_-]*/.exec(destination)?.[0] ?? "unknown";
  return `${type}:other`;
}

/** Sets (null: removes) a destination's adaptive limit gauge; from the executor's limiter. */
export function setDestinationLimit(destination: string, limit: number | null): void {
  const label = destinationLabel(destination);
  if (limit === null) destinationLimit.remove(label);
  else destinationLimit.labels(label).set(limit);
}

export const eventsProcessed = metrics.counter(
  "fraiseql_observer_events_processed_total",
  "Changes read from the change log and matched against the observers by this process.",
);

const actionExecuted = metrics.counter(
  "fraiseql_observer_action_executed_total",
  "Action attempts that succeeded.",
  ["action_type"],
);

const actionDuration = metrics.histogram(
  "fraiseql_observer_action_duration_seconds",
  "How long successful action attempts ran, in seconds.",
  ["action_type"],
  DEFAULT_BUCKETS,
);

const actionErrors = metrics.counter(
  "fraiseql_observer_action_errors_total",
  "Deliveries whose last attempt failed for good (dead-lettered), by FraiseQL's error type.",
  ["action_type", "error_type"],
);

const actionAttempts = metrics.counter(
  "fraiseql_observer_action_attempts_total",
  "Action attempts by how they ended: success, failed, timeout or cancelled (shutdown).",
  ["action_type", "status"],
);

const actionRetries = metrics.counter(
  "fraiseql_observer_action_retries_scheduled_total",
  "Failed attempts after which the delivery is tried again (transient failure, attempts left).",
  ["action_type"],
);

export const runtimeErrors = metrics.counter(
  "fraiseql_observer_runtime_errors_total",
  "Failures the runtime counted (health's errors): unreadable changes or conditions, database errors, quarantined outcomes.",
  ["stage"],
);

export const scheduleTicks = metrics.counter(
  "fraiseql_observer_schedule_ticks_total",
  "Ticks of scheduled (SCHEDULE) observers this process claimed and fired.",
);

/** Codes of failures that mean the observer's configuration, not the destination, is wrong. */
const CONFIG_CODES = new Set([
  "INVALID_ACTION_CONFIG",
  "INVALID_RETRY_CONFIG",
  "UNKNOWN_ACTION_TYPE",
  "INVALID_CONFIG",
  "SECRET_NOT_ALLOWED",
  "BASE_URL_NOT_ALLOWED",
  "FUNCTION_NOT_ALLOWED",
  "SENDER_NOT_ALLOWED",
  "MISSING_SECRET",
  "INVALID_SECRET",
]);

/** FraiseQL's error type of a delivery that failed for good. */
export function errorTypeOf(code: string | null, kind: FailureKind | "cancelled"): ActionErrorType {
  if (code !== null) {
    if (CONFIG_CODES.has(code)) return "invalid_config";
    if (code.includes("TEMPLATE")) return "template_rendering_failed";
    if (code === "CIRCUIT_OPEN") return "circuit_breaker_open";
  }
  if (kind === "permanent") return "permanently_failed";
  if (kind === "transient") return "execution_failed";
  return "other_error";
}

/** An action type's children, resolved once: an attempt then costs one map lookup. */
interface ActionChildren {
  executed: ReturnType<typeof actionExecuted.labels>;
  duration: ReturnType<typeof actionDuration.labels>;
  retries: ReturnType<typeof actionRetries.labels>;
  attempts: Record<ExecutionOutcome["status"], ReturnType<typeof actionAttempts.labels>>;
  errors: Map<ActionErrorType, ReturnType<typeof actionErrors.labels>>;
}

const byType = new Map<string, ActionChildren>();

function childrenOf(actionType: string): ActionChildren {
  let children = byType.get(actionType);
  if (!children) {
    children = {
      executed: actionExecuted.labels(actionType),
      duration: actionDuration.labels(actionType),
      retries: actionRetries.labels(actionType),
      attempts: {
        success: actionAttempts.labels(actionType, "success"),
        failed: actionAttempts.labels(actionType, "failed"),
        timeout: actionAttempts.labels(actionType, "timeout"),
        cancelled: actionAttempts.labels(actionType, "cancelled"),
      },
      errors: new Map(),
    };
    byType.set(actionType, children);
  }
  return children;
}

/**
 * Counts one attempt's outcome. `actionType` must be a registered type (or `unknown`), so the
 * label's values stay few; `kind` is the failure's (null on success).
 */
export function recordAttempt(
  actionType: string,
  outcome: ExecutionOutcome,
  kind: FailureKind | "cancelled" | null,
): void {
  const children = childrenOf(actionType);
  children.attempts[outcome.status].inc();
  if (outcome.status === "success") {
    children.executed.inc();
    children.duration.observe(outcome.durationMs / 1000);
    return;
  }
  if (outcome.disposition === "retry" && outcome.status !== "cancelled") children.retries.inc();
  if (outcome.disposition !== "dead_letter") return;
  const type = errorTypeOf(outcome.errorCode, kind ?? "transient");
  let child = children.errors.get(type);
  if (!child) {
    child = actionErrors.labels(actionType, type);
    children.errors.set(type, child);
  }
  child.inc();
}
