import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import type { ObserverRuntime } from "../runtime/types.ts";

/** What every route needs. */
export interface ApiDependencies {
  sql: SqlClient;
  runtime: ObserverRuntime;
  logger: Logger;
}

/** A JSON response (Web-standard `Response.json`). */
export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(value, { status, headers });
}
