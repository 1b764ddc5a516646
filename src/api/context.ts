import { OpenAPIHono } from "@hono/zod-openapi";
import type { ActionPolicy } from "../actions/policy.ts";
import type { ActionEnvironment, ActionRegistry } from "../actions/types.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ObserverRuntime } from "../runtime/types.ts";
import type { ApiEnv } from "./auth.ts";
import type { ApiLimits } from "./limits.ts";
import { validationProblem } from "./problem.ts";

/** What every route needs. */
export interface ApiDependencies {
  sql: SqlClient;
  runtime: ObserverRuntime;
  logger: Logger;
  /**
   * What actions get when `POST /{id}/test` is asked to send (without it, sending is refused), and
   * what saving an observer warns against (private targets, unset `*_env` variables).
   */
  environment?: ActionEnvironment | undefined;
  registry?: ActionRegistry | undefined;
  /** What observers written through the API may reference and configure. */
  policy: ActionPolicy;
  limits: ApiLimits;
}

/**
 * A router of the API: an OpenAPIHono whose failed request schemas answer a 400 problem document
 * listing every issue.
 */
export function router(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) return validationProblem(result.target, result.error.issues);
    },
  });
}
