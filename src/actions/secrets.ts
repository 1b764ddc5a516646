import { type ActionEnvironment, ActionFailure } from "./types.ts";

/**
 * A credential given literally (`api_key`) or by environment variable name (`api_key_env`).
 * A missing or empty variable is a permanent failure (`MISSING_SECRET`) naming the variable: the
 * delivery waits in the dead-letter queue until someone sets it and retries, and nothing is ever
 * sent unsigned or unauthenticated.
 */
export function resolveSecret(
  literal: string | undefined,
  envName: string | undefined,
  environment: ActionEnvironment,
  label: string,
): string | undefined {
  if (literal !== undefined) return literal;
  if (envName === undefined) return undefined;
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
  environment: ActionEnvironment,
  label: string,
): string {
  const value = resolveSecret(literal, envName, environment, label);
  if (value === undefined) {
    throw new ActionFailure("permanent", "MISSING_SECRET", `${label} is required`);
  }
  return value;
}
