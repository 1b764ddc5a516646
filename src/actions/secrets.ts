import { secretRefusal } from "./policy.ts";
import { type ActionEnvironment, ActionFailure } from "./types.ts";

/** Whose secret is read: the runtime's environment, and the observer's tenant (null: global). */
export interface SecretScope {
  environment: ActionEnvironment;
  tenant: string | null;
}

/**
 * A credential given literally (`api_key`) or by environment variable name (`api_key_env`).
 * A variable the observer may not reference (`environment.policy`: the server's own
 * configuration, a name the operator has not opened, another tenant's) is a permanent failure
 * (`SECRET_NOT_ALLOWED`), decided before the variable is read. A missing or empty variable is a
 * permanent failure (`MISSING_SECRET`) naming the variable: the delivery waits in the dead-letter
 * queue until someone sets it and retries, and nothing is ever sent unsigned or unauthenticated.
 */
export function resolveSecret(
  literal: string | undefined,
  envName: string | undefined,
  scope: SecretScope,
  label: string,
): string | undefined {
  if (literal !== undefined) return literal;
  if (envName === undefined) return undefined;
  const { environment } = scope;
  const refusal = secretRefusal(environment.policy, envName, scope.tenant);
  if (refusal !== null) {
    throw new ActionFailure("permanent", "SECRET_NOT_ALLOWED", `${label}: ${refusal.message}`);
  }
  const value = environment.env[envName];
  if (value === undefined || value === "") {
    throw new ActionFailure(
      "permanent",
      "MISSING_SECRET",
      `${label}: environment variable ${envName} is not set`,
    );
  }
  return value;
}

/** Like `resolveSecret`, for credentials the action cannot work without. */
export function requireSecret(
  literal: string | undefined,
  envName: string | undefined,
  scope: SecretScope,
  label: string,
): string {
  const value = resolveSecret(literal, envName, scope, label);
  if (value === undefined) {
    throw new ActionFailure("permanent", "MISSING_SECRET", `${label} is required`);
  }
  return value;
}
