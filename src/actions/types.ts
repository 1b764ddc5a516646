import type * as v from "valibot";
import { ObserversError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { CacheStore } from "../ports/cache.ts";
import type { Clock } from "../ports/clock.ts";
import type { EmailTransport } from "../ports/email.ts";
import type { JobQueues } from "../ports/jobs.ts";
import type { Logger } from "../ports/logger.ts";
import type { HostResolver } from "../ports/resolver.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import type { ActionPolicy, PolicyIssue, TenantPolicyScope } from "./policy.ts";

/** Every action type an observer can declare. */
export const ACTION_TYPES = [
  "webhook",
  "slack",
  "email",
  "sms",
  "push",
  "search",
  "cache",
  "database",
  "log",
  "job",
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/**
 * What the runtime offers actions: Web-standard `fetch`, its environment variables (for
 * `*_env` secrets), time, a log, and the optional services a runtime may have. An action whose
 * service is missing fails permanently with code `UNSUPPORTED_ON_RUNTIME`, naming what is missing.
 */
export interface ActionEnvironment {
  fetch: typeof fetch;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Which of `env` an observer may reference, and what a tenant's observers may configure
   * (src/actions/policy.ts). `resolveSecret` consults it before reading any variable.
   */
  policy: ActionPolicy;
  clock: Clock;
  logger: Logger;
  /** `OBSERVERS_ALLOW_PRIVATE_TARGETS`: permit loopback and private-network destinations. */
  allowPrivateTargets: boolean;
  /**
   * Where the runtime can resolve names (Bun, Deno): every address a target's name resolves to is
   * checked too, so a public-looking name pointing at a private address is refused.
   */
  resolveHost?: HostResolver;
  /** SMTP, where the runtime has TCP sockets. */
  email?: EmailTransport;
  /** Redis (TCP) or an Upstash-compatible REST store, for `cache`. */
  cache?: CacheStore;
  /** The store's SQL port, for `database`. */
  sql?: SqlExecutor;
  /** The runtime's job queues by kind, for `job` (docs/jobs.md); a kind it lacks is refused. */
  jobs?: JobQueues;
}

/** The observer an action belongs to, as actions and their payloads name it. */
export interface ObserverRef {
  id: string;
  name: string;
}

/** One attempt at one action for one event. */
export interface ActionRequest<Config> {
  /** The action's configuration, already validated by the action's schema. */
  config: Config;
  event: ChangeEvent;
  observer: ObserverRef;
  /**
   * The observer's tenant (`fk_customer_org`, as text), or null for a global observer: decides
   * which environment variables it may reference and what its actions may touch.
   */
  tenant: string | null;
  /** The delivery's id: identical on every retry (`webhook-id`, idempotency keys). */
  deliveryId: string;
  /** 1-based attempt number. */
  attempt: number;
  maxAttempts: number;
  /**
   * When this attempt was due (epoch ms): the time a delayed, scheduled or retried delivery was
   * meant to run (docs/time.md). Absent for one run as soon as it was created.
   */
  scheduledAt?: number;
  /** Aborted at the action's timeout or at shutdown: pass it to every I/O call. */
  signal: AbortSignal;
  environment: ActionEnvironment;
  /**
   * The W3C `traceparent` of this attempt, when its change has a trace id (docs/metrics.md):
   * `environment.fetch` already sends it on every request; an action talking another protocol
   * may pass it on.
   */
  traceparent?: string;
}

/** One delivery in a batch (src/actions/batch.ts): what differs between the members. */
export interface BatchMemberRequest {
  event: ChangeEvent;
  /** The delivery's own id (each event's `id` in the batch body). */
  deliveryId: string;
  attempt: number;
  maxAttempts: number;
}

/**
 * One attempt at one action for several deliveries of one observer's action at once (in commit
 * order): what they share is the single request's, what differs is each member's.
 */
export interface BatchActionRequest<Config>
  extends Omit<
    ActionRequest<Config>,
    "event" | "deliveryId" | "attempt" | "maxAttempts" | "scheduledAt" | "traceparent"
  > {
  /** The batch's id (`batchIdOf` its members): the request's idempotency key. */
  batchId: string;
  members: readonly BatchMemberRequest[];
}

/** A successful attempt. */
export interface ActionResult {
  /** Short summary for the log, e.g. `HTTP 204` or `invalidated 3 key(s)`. */
  message: string;
  httpStatus?: number;
  /** The start of the response body, bounded (see `RESPONSE_EXCERPT_BYTES`). */
  responseExcerpt?: string;
}

/** How a failure affects the delivery: retry later, or give up (dead letter). */
export type FailureKind = "transient" | "permanent";

/**
 * An attempt that failed in a known way. Actions throw it; the executor turns it into an outcome.
 * Anything else an action throws counts as transient (retried, then dead-lettered): an unknown
 * failure must never drop a delivery.
 */
export class ActionFailure extends ObserversError {
  readonly code: string;
  readonly kind: FailureKind;
  readonly httpStatus: number | undefined;
  /** The receiver asked for this much delay (`Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  readonly responseExcerpt: string | undefined;
  constructor(
    kind: FailureKind,
    code: string,
    message: string,
    details: {
      httpStatus?: number;
      retryAfterMs?: number;
      responseExcerpt?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ActionFailure";
    this.kind = kind;
    this.code = code;
    this.httpStatus = details.httpStatus;
    this.retryAfterMs = details.retryAfterMs;
    this.responseExcerpt = details.responseExcerpt;
  }
}

/** One action type: how its config is validated, where it sends, and how it runs. */
export interface ActionDefinition<Config = unknown> {
  /** A built-in `ActionType`, or a host's own type (lower case, e.g. `discord`). */
  type: string;
  /** Validates and normalises a config object (`{type: "...", ...}`) for this action. */
  schema: v.GenericSchema<unknown, Config>;
  /**
   * Concurrency key: actions with the same destination share a per-destination limit, so one slow
   * host cannot starve the others. Typically `type:origin`. Null: no per-destination limit, only
   * the global and per-tenant ones (work that goes to the observers' own database in batches,
   * such as builtin jobs).
   */
  destination(config: Config, environment: ActionEnvironment): string | null;
  /**
   * For actions with a `base_url`: the provider's own API, where values taken from the environment
   * may always go (any other origin must be in `OBSERVERS_ALLOWED_BASE_URLS`).
   */
  defaultBaseUrl?(config: Config): string | undefined;
  /** What a tenant's observer may not configure in this action (src/actions/policy.ts). */
  policyIssues?(config: Config, scope: TenantPolicyScope): PolicyIssue[];
  /** Runs one attempt. Resolves on success; throws `ActionFailure` (or anything) on failure. */
  run(request: ActionRequest<Config>): Promise<ActionResult>;
  /**
   * Runs one attempt for a batch of deliveries (a config with `batch`, src/actions/batch.ts): one
   * request for all of them, which succeeds or fails as a whole. Only actions that can batch.
   */
  runBatch?(request: BatchActionRequest<Config>): Promise<ActionResult>;
}

/**
 * Action definitions by type: the built-ins (`defaultActionRegistry`), or those plus a host's own
 * (`actionRegistry(custom)`, src/actions/registry.ts). Everything that looks a type up (observer
 * validation, the store, the OpenAPI document, the executor) takes one.
 */
export interface ActionRegistry {
  get(type: string): ActionDefinition | undefined;
  /** Every definition, built-ins first, in registration order. */
  list(): readonly ActionDefinition[];
}

/**
 * The optional service an action needs, or a permanent `UNSUPPORTED_ON_RUNTIME` failure saying
 * what is missing (`why`), so the delivery waits in the dead-letter queue instead of crashing.
 */
export function requireService<T>(service: T | undefined, why: string): T {
  if (service === undefined) throw new ActionFailure("permanent", "UNSUPPORTED_ON_RUNTIME", why);
  return service;
}
