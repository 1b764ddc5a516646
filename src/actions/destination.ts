import type { ActionEnvironment } from "./types.ts";

/**
 * The concurrency key of an HTTP action: `<type>:<origin>`. A URL given by environment variable is
 * read now; when it is unset or unparsable the variable's name stands in, so the key stays stable.
 */
export function urlDestination(
  type: string,
  url: string | undefined,
  urlEnv: string | undefined,
  environment: ActionEnvironment,
): string {
  const text = url ?? (urlEnv === undefined ? undefined : environment.env[urlEnv]);
  if (text !== undefined && URL.canParse(text)) return `${type}:${new URL(text).origin}`;
  return `${type}:${urlEnv ?? url ?? ""}`;
}
