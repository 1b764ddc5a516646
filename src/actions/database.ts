import * as v from "valibot";
import { type JsonValue, stringifyJson } from "../json.ts";
import type { PolicyIssue, TenantPolicyScope } from "./policy.ts";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  requireService,
} from "./types.ts";

const IDENTIFIER = "[A-Za-z_][A-Za-z0-9_]*";
const FUNCTION_NAME = new RegExp(`^${IDENTIFIER}(?:\\.${IDENTIFIER})?$`);

/** JSON as a config carries it (valibot checks it is plain JSON, nothing else). */
const jsonValue: v.GenericSchema<JsonValue> = v.lazy(() =>
  v.union([
    v.string(),
    v.pipe(v.number(), v.finite()),
    v.boolean(),
    v.null(),
    v.array(jsonValue),
    v.record(v.string(), jsonValue),
  ]),
);

/** The `database` action's config. */
export const databaseConfigSchema = v.strictObject({
  type: v.literal("database"),
  function_name: v.pipe(
    v.string(),
    v.regex(
      FUNCTION_NAME,
      "must be a function name (letters, digits, underscore), optionally schema.name",
    ),
  ),
  params: v.optional(jsonValue),
});
export type DatabaseConfig = v.InferOutput<typeof databaseConfigSchema>;

/**
 * The function's name as SQL. FraiseQL interpolated the name unquoted, so PostgreSQL folded it to
 * lower case; we fold the same way (observers keep calling the same function) and then quote,
 * so a name that is also a keyword (`order`, `user`) still works.
 */
export function quoteFunctionName(name: string): string {
  if (!FUNCTION_NAME.test(name)) throw new Error(`invalid function name ${JSON.stringify(name)}`);
  return name
    .toLowerCase()
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
}

/**
 * SQLSTATE classes whose errors repeat on retry until someone changes the function, the schema or
 * the data: syntax/undefined objects (42), data exceptions (22), integrity violations (23),
 * feature not supported (0A), routine exceptions (2F) and a missing schema (3F). Everything else,
 * connection loss (08), serialization failures and deadlocks (40), resources (53), operator
 * intervention (57) and errors without a code, may pass, so it is retried.
 */
const PERMANENT_SQLSTATE_CLASSES = new Set(["42", "22", "23", "0A", "2F", "3F"]);

function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = error.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Turns an SQL error into an action failure classified by its SQLSTATE. */
export function classifySqlError(error: unknown, functionName: string): ActionFailure {
  const state = sqlState(error);
  const reason = error instanceof Error ? error.message : String(error);
  const permanent = state !== undefined && PERMANENT_SQLSTATE_CLASSES.has(state.slice(0, 2));
  return new ActionFailure(
    permanent ? "permanent" : "transient",
    "SQL_ERROR",
    `${functionName}: ${reason}${state ? ` (SQLSTATE ${state})` : ""}`,
    { cause: error },
  );
}

/** Rejects with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/**
 * A function runs with the server's database role: a tenant's observer may call only those the
 * operator lists (`OBSERVERS_TENANT_FUNCTIONS`), compared as PostgreSQL folds the name.
 */
function databasePolicyIssues(config: DatabaseConfig, scope: TenantPolicyScope): PolicyIssue[] {
  if (scope.policy.tenantFunctions.has(config.function_name.toLowerCase())) return [];
  return [
    {
      path: "function_name",
      code: "FUNCTION_NOT_ALLOWED",
      rule: "tenant_function",
      message: `observers of tenant ${scope.tenant} may call only the functions listed in OBSERVERS_TENANT_FUNCTIONS, not ${config.function_name}`,
    },
  ];
}

async function run(request: ActionRequest<DatabaseConfig>) {
  const { config, environment, signal } = request;
  const sql = requireService(
    environment.sql,
    "database action: this runtime has no SQL connection",
  );
  const envelope = stringifyJson({
    event: request.event as unknown as JsonValue,
    params: config.params ?? null,
    observer: { id: request.observer.id, name: request.observer.name },
    delivery_id: request.deliveryId,
  });
  // `$1::text::jsonb`: declared as text, the JSON text reaches the cast as written, whatever
  // type a driver would otherwise infer for a jsonb placeholder (postgres.js would re-encode it).
  const text = `SELECT ${quoteFunctionName(config.function_name)}($1::text::jsonb)`;
  signal.throwIfAborted();
  // The SQL port takes no signal, so an abort stops the wait, not the statement: the call may
  // still commit after a timeout, and the retry then runs it again (at-least-once, keyed by
  // delivery_id in the envelope for functions that must be idempotent).
  const abort = aborted(signal);
  try {
    await Promise.race([sql.query(text, [envelope]), abort.promise]);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw classifySqlError(error, config.function_name);
  } finally {
    abort.dispose();
  }
  return { message: `called ${config.function_name}` };
}

/**
 * Calls a PostgreSQL function with the event: `SELECT fn($1::jsonb)` with
 * `{event, params, observer, delivery_id}`. The function's return value is ignored.
 */
export const databaseAction: ActionDefinition<DatabaseConfig> = {
  type: "database",
  schema: databaseConfigSchema,
  destination: () => "database",
  policyIssues: databasePolicyIssues,
  run,
};
