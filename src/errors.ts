/**
 * The closed set of errors the core raises. Each carries a stable `code` (for logs, metrics and
 * API problem documents) and, where it wraps another failure, a `cause`.
 */

/** One problem found in a condition, with where it is in the source. */
export interface ConditionIssue {
  /** What is wrong, phrased so a person can fix it. */
  message: string;
  /** Offset (UTF-16 code units, 0-based) of the offending text in the condition source. */
  position: number;
  /** Length of the offending text (0 at end of input). */
  length: number;
  /** The offending text itself ("" at end of input). */
  text: string;
}

/** Base class of every error the core throws on purpose. */
export abstract class ObserversError extends Error {
  abstract readonly code: string;
}

/** The condition source does not parse. */
export class ConditionSyntaxError extends ObserversError {
  readonly code = "CONDITION_SYNTAX";
  readonly issues: readonly ConditionIssue[];
  constructor(issues: readonly ConditionIssue[]) {
    const first = issues[0];
    super(
      first
        ? `Invalid condition at position ${first.position}: ${first.message}`
        : "Invalid condition",
    );
    this.name = "ConditionSyntaxError";
    this.issues = issues;
  }
}

/** A condition that parsed could not be evaluated against an event (a missing field, a type error). */
export class ConditionEvaluationError extends ObserversError {
  readonly code = "CONDITION_EVALUATION";
  /** Where in the condition source the failing sub-expression starts, and its length. */
  readonly position: number;
  readonly length: number;
  constructor(message: string, position: number, length: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConditionEvaluationError";
    this.position = position;
    this.length = length;
  }
}

/** A change-log row is not a change event this system can read. */
export class ChangeEventError extends ObserversError {
  readonly code = "INVALID_CHANGE_EVENT";
  /** The column (or `column.key`) that is wrong. */
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.name = "ChangeEventError";
    this.field = field;
  }
}

/** A migration already applied to the database differs from its file. */
export class MigrationError extends ObserversError {
  readonly code = "MIGRATION_MISMATCH";
  /** The migration's file name. */
  readonly migration: string;
  constructor(migration: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrationError";
    this.migration = migration;
  }
}

/** Anything not thrown on purpose (a bug, or a failure in a dependency). */
export class InternalError extends ObserversError {
  readonly code = "INTERNAL";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InternalError";
  }
}

/** Normalises whatever a `catch (e: unknown)` caught into one of the core's errors. */
export function toObserversError(error: unknown): ObserversError {
  if (error instanceof ObserversError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError(message, { cause: error });
}

/** One problem in a configuration value (an observer, an action, a template), with where it is. */
export interface ConfigIssue {
  /** Dotted path of the offending value, e.g. `actions.0.url` ("" for the value itself). */
  path: string;
  /** What is wrong, phrased so a person can fix it. */
  message: string;
}

/** An observer, action or template configuration is invalid. */
export class ConfigError extends ObserversError {
  readonly code = "INVALID_CONFIG";
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    const first = issues[0];
    super(
      first ? `${first.path ? `${first.path}: ` : ""}${first.message}` : "Invalid configuration",
      options,
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** The thing asked for does not exist, or is not visible to the caller (another tenant's). */
export class NotFoundError extends ObserversError {
  readonly code = "NOT_FOUND";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotFoundError";
  }
}

/** A write collides with the current state (a duplicate name, a concurrent update). */
export class ConflictError extends ObserversError {
  readonly code = "CONFLICT";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConflictError";
  }
}

/** One thing the operator's action policy refuses (src/actions/policy.ts), as the API reports it. */
export interface PolicyIssueReport {
  /** Dotted path of the field, e.g. `actions.0.api_key_env`. */
  path: string;
  /** Stable code: SECRET_NOT_ALLOWED, BASE_URL_NOT_ALLOWED, FUNCTION_NOT_ALLOWED, SENDER_NOT_ALLOWED. */
  code: string;
  /** Which rule refused, as a stable word (`server_configuration`, `not_open`...). */
  rule: string;
  message: string;
  /** The environment variable named, when the rule is about one. */
  variable?: string;
}

/**
 * A valid observer whose actions the server's policy does not allow (a variable not open to
 * them, a `base_url` that would receive one, what a tenant may not configure). Its code is the
 * first issue's.
 */
export class ActionPolicyError extends ObserversError {
  readonly code: string;
  readonly issues: readonly PolicyIssueReport[];
  constructor(issues: readonly PolicyIssueReport[], options?: ErrorOptions) {
    const first = issues[0];
    super(first ? `${first.path}: ${first.message}` : "Not allowed by the action policy", options);
    this.name = "ActionPolicyError";
    this.code = first?.code ?? "ACTION_NOT_ALLOWED";
    this.issues = issues;
  }
}

/**
 * A request would go past a configured limit (observers per tenant, actions per observer, a
 * backtest's range). The code names the limit; the message names its value and variable.
 */
export class LimitError extends ObserversError {
  readonly code: string;
  /** The limit as configured. */
  readonly limit: number;
  constructor(code: string, message: string, limit: number) {
    super(message);
    this.name = "LimitError";
    this.code = code;
    this.limit = limit;
  }
}
