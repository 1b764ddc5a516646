/**
 * What a saved observer will run into, said at save time instead of as a dead letter later: a
 * target the SSRF guard refuses, a secret variable that is not set, an entity type nothing
 * captures, a graphile-worker job while graphile-worker's schema is missing. Warnings never refuse the write (the operator may fix the server afterwards: set the
 * variable, track the table), and say only what the caller's own log rows would say after the
 * first change, with one exception documented in docs/api.md: whether a table is tracked under an
 * entity type the caller names.
 */
import { envReferences, secretRefusal } from "../actions/policy.ts";
import { isHttpUrlText } from "../actions/secret-fields.ts";
import type { ActionEnvironment } from "../actions/types.ts";
import { isJsonObject, type JsonObject } from "../json.ts";
import { checkTarget } from "../net/ssrf.ts";
import { privateTargetHint } from "../net/target.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { isEntityTypeCaptured, RECENT_CHANGES_CHECKED } from "../store/entity-types.ts";
import type { StoredObserverRow } from "../store/observer-json.ts";
import type { ApiDependencies } from "./context.ts";

/** One thing that will go wrong with a saved observer. */
export interface ObserverWarning {
  /** The runtime failure it predicts. */
  code:
    | "TARGET_FORBIDDEN"
    | "INVALID_URL"
    | "MISSING_SECRET"
    | "ENTITY_TYPE_UNTRACKED"
    | "GRAPHILE_WORKER_MISSING";
  /** The field, as validation issues name it (`actions.0.url`, `entity_type`). */
  path: string;
  message: string;
}

/** Action fields holding a destination URL, at the top of the action. */
function isUrlField(key: string): boolean {
  return key === "url" || key === "endpoint" || key === "token_uri" || key.endsWith("_url");
}

/** Every literal destination of an action, with its path below the action. */
function literalTargets(action: JsonObject): { field: string; url: string }[] {
  const targets: { field: string; url: string }[] = [];
  for (const [key, value] of Object.entries(action)) {
    if (typeof value === "string" && isUrlField(key) && isHttpUrlText(value)) {
      targets.push({ field: key, url: value });
    }
  }
  // A literal Web Push subscription's endpoint (push-subscription.ts).
  const subscription = action.subscription;
  if (isJsonObject(subscription) && typeof subscription.endpoint === "string") {
    if (isHttpUrlText(subscription.endpoint)) {
      targets.push({ field: "subscription.endpoint", url: subscription.endpoint });
    }
  }
  return targets;
}

/** Why a URL read from a variable cannot be sent to (what the runtime's INVALID_URL says), or null. */
function invalidUrlReason(value: string): string | null {
  if (!isHttpUrlText(value)) return "is not an absolute http(s) URL";
  const url = new URL(value);
  if (url.username !== "" || url.password !== "") {
    return "embeds credentials (user:password@), which are never sent: put them in a header";
  }
  return null;
}

/** The observer's action lists, by field: on_dead_letter's actions fail the same ways. */
type ActionList = "actions" | "on_dead_letter";

function actionWarnings(
  action: JsonObject,
  at: (field: string) => string,
  tenant: string | null,
  environment: ActionEnvironment,
  deps: Pick<ApiDependencies, "policy">,
): ObserverWarning[] {
  const warnings: ObserverWarning[] = [];
  if (!environment.allowPrivateTargets) {
    for (const { field, url } of literalTargets(action)) {
      const parsed = new URL(url);
      const reason = checkTarget(parsed);
      if (reason !== null) {
        warnings.push({
          code: "TARGET_FORBIDDEN",
          path: at(field),
          message: `${parsed.host} is a ${reason}: this server refuses to contact it, so every delivery will fail with TARGET_FORBIDDEN; ${privateTargetHint}`,
        });
      }
    }
  }
  for (const { field, name } of envReferences(action)) {
    // A name the policy refuses was already answered with a 422; the rest are the caller's to name.
    if (secretRefusal(deps.policy, name, tenant) !== null) continue;
    const value = environment.env[name];
    if (value === undefined || value === "") {
      warnings.push({
        code: "MISSING_SECRET",
        path: at(field),
        message: `environment variable ${name} is not set on this server: deliveries will fail with MISSING_SECRET (and wait in the dead-letter queue) until it is`,
      });
      continue;
    }
    // A URL given by variable: judged like a literal one (which validation judged already), its
    // value never repeated.
    const invalid = field.endsWith("url_env") ? invalidUrlReason(value) : null;
    if (invalid !== null) {
      warnings.push({
        code: "INVALID_URL",
        path: at(field),
        message: `the value of ${name} ${invalid}, so every delivery will fail with INVALID_URL`,
      });
      continue;
    }
    if (field.endsWith("url_env") && !environment.allowPrivateTargets && isHttpUrlText(value)) {
      const reason = checkTarget(new URL(value));
      if (reason !== null) {
        warnings.push({
          code: "TARGET_FORBIDDEN",
          path: at(field),
          message: `the URL in ${name} names a ${reason}: this server refuses to contact it, so every delivery will fail with TARGET_FORBIDDEN; ${privateTargetHint}`,
        });
      }
    }
  }
  return warnings;
}

/**
 * The warnings of an observer as stored (secrets included: they are read, never repeated).
 * Without the server's action environment the API cannot know what the runtime allows, so only
 * the entity type is checked.
 */
export async function observerWarnings(
  sql: SqlExecutor,
  stored: StoredObserverRow,
  deps: Pick<ApiDependencies, "environment" | "policy">,
): Promise<ObserverWarning[]> {
  const tenant = stored.fk_customer_org;
  const warnings: ObserverWarning[] = [];
  const { environment } = deps;
  const lists: [ActionList, unknown][] = [
    ["actions", JSON.parse(stored.actions)],
    ["on_dead_letter", stored.on_dead_letter === null ? [] : JSON.parse(stored.on_dead_letter)],
  ];
  for (const [list, actions] of lists) {
    if (!Array.isArray(actions)) continue;
    if (environment !== undefined) {
      actions.forEach((action, index) => {
        if (isJsonObject(action)) {
          const at = (field: string) => `${list}.${index}.${field}`;
          warnings.push(...actionWarnings(action, at, tenant, environment, deps));
        }
      });
    }
    warnings.push(...(await graphileWorkerWarnings(sql, list, actions)));
  }
  if (
    stored.entity_type !== null &&
    !(await isEntityTypeCaptured(sql, stored.entity_type, tenant))
  ) {
    const whose = tenant === null ? "" : ` of tenant ${tenant}`;
    warnings.push({
      code: "ENTITY_TYPE_UNTRACKED",
      path: "entity_type",
      message: `no table is tracked as ${JSON.stringify(stored.entity_type)} (core.fn_track_table, or a source's tables) and none of the latest ${RECENT_CHANGES_CHECKED} changes${whose} in core.tb_entity_change_log has that object_type: the observer fires only once changes of that entity type are captured (entity types are case-sensitive)`,
    });
  }
  return warnings;
}

/** A `graphile-worker` job action's delivery fails (GRAPHILE_WORKER_MISSING) until the schema exists. */
async function graphileWorkerWarnings(
  sql: SqlExecutor,
  list: ActionList,
  actions: unknown[],
): Promise<ObserverWarning[]> {
  const indexes = actions.flatMap((action, index) =>
    isJsonObject(action) && action.type === "job" && action.queue === "graphile-worker"
      ? [index]
      : [],
  );
  if (indexes.length === 0) return [];
  const rows = await sql.query<{ present: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'graphile_worker' AND p.proname = 'add_job') AS present`,
  );
  if (rows[0]?.present === true) return [];
  return indexes.map((index) => ({
    code: "GRAPHILE_WORKER_MISSING",
    path: `${list}.${index}.queue`,
    message:
      "graphile-worker's schema (graphile_worker.add_job) is missing in the observers' database: deliveries will fail with GRAPHILE_WORKER_MISSING (and wait in the dead-letter queue) until graphile-worker's migrations have run there (start a graphile-worker runner once)",
  }));
}
