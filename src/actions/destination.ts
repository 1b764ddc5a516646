import { mayAnyObserverReference } from "./policy.ts";
import type { ActionEnvironment } from "./types.ts";

/**
 * The concurrency key of an HTTP action: `<type>:<origin>`. A URL given by environment variable is
 * read now; when it is unset or unparsable the variable's name stands in, so the key stays stable.
 * A variable no observer may reference is not read at all (the attempt fails before it runs).
 */
export function urlDestination(
  type: string,
  url: string | undefined,
  urlEnv: string | undefined,
  environment: ActionEnvironment,
): string {
  const text =
    url ??
    (urlEnv === undefined || !mayAnyObserverReference(environment.policy, urlEnv)
      ? undefined
      : environment.env[urlEnv]);
  if (text !== undefined && URL.canParse(text)) return `${type}:${new URL(text).origin}`;
  return `${type}:${urlEnv ?? url ?? ""}`;
}
