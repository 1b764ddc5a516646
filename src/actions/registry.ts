import * as v from "valibot";
import { cacheAction } from "./cache.ts";
import { databaseAction } from "./database.ts";
import { emailAction } from "./email.ts";
import { jobAction } from "./job.ts";
import { logAction } from "./log.ts";
import { pushAction } from "./push.ts";
import { searchAction } from "./search.ts";
import { isSecretFieldName } from "./secret-fields.ts";
import { slackAction } from "./slack.ts";
import { smsAction } from "./sms.ts";
import { TIMING_FIELDS } from "./timing.ts";
import {
  ACTION_TYPES,
  type ActionDefinition,
  type ActionEnvironment,
  type ActionRegistry,
  type ActionType,
} from "./types.ts";
import { webhookAction } from "./webhook.ts";

/**
 * A host's own action type as it registers it: an `ActionDefinition` whose `destination` may be
 * left out (then every action of the type shares one concurrency limit, `custom:<type>`).
 */
export type CustomActionDefinition<Config = unknown> = Omit<
  ActionDefinition<Config>,
  "destination"
> & {
  destination?(config: Config, environment: ActionEnvironment): string | null;
};

/** The concurrency key of a custom type that names none: one limit for the whole type. */
function sharedDestination(type: string): () => string {
  const key = `custom:${type}`;
  return () => key;
}

/**
 * A host's action type, typed from its schema: `defineAction({ type: "discord", schema, run })`
 * types `run`'s `config` from the schema's output and fills `destination` when left out
 * (`custom:<type>`). The result is an `ActionDefinition`, as `actionRegistry` and the hosts'
 * `createObservers({ actions })` take them; `actionRegistry` checks it.
 */
export function defineAction<Config>(definition: CustomActionDefinition<Config>): ActionDefinition {
  return {
    ...definition,
    destination: definition.destination ?? sharedDestination(definition.type),
  } as ActionDefinition;
}

/**
 * What a custom action type may be called (stored in observers, named in logs and in the OpenAPI
 * document as `Action<CamelCase>`): lower-case words of letters and digits joined by single
 * underscores, each word starting with a letter (so no two types share a component name), at most
 * `MAX_ACTION_TYPE_LENGTH` characters.
 */
export const ACTION_TYPE_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*$/;
export const MAX_ACTION_TYPE_LENGTH = 64;

/** A registry over these definitions, one per type. */
export function createActionRegistry(definitions: readonly ActionDefinition[]): ActionRegistry {
  const byType = new Map<string, ActionDefinition>();
  for (const definition of definitions) {
    if (byType.has(definition.type)) throw new Error(`duplicate action type ${definition.type}`);
    byType.set(definition.type, definition);
  }
  const list = Object.freeze([...byType.values()]);
  return { get: (type) => byType.get(type), list: () => list };
}

/** Every built-in action. */
export const BUILT_IN_ACTIONS: Readonly<Record<ActionType, ActionDefinition>> = {
  webhook: webhookAction as ActionDefinition,
  slack: slackAction as ActionDefinition,
  email: emailAction as ActionDefinition,
  sms: smsAction as ActionDefinition,
  push: pushAction as ActionDefinition,
  search: searchAction as ActionDefinition,
  cache: cacheAction as ActionDefinition,
  database: databaseAction as ActionDefinition,
  log: logAction as ActionDefinition,
  job: jobAction as ActionDefinition,
};

/** The registry the executor and the observer schema use by default. */
export const defaultActionRegistry: ActionRegistry = createActionRegistry(
  Object.values(BUILT_IN_ACTIONS),
);

/** The object schema at the head of `schema` (itself, or the first schema of its pipe). */
function objectSchemaOf(schema: unknown): { entries: Record<string, unknown> } | undefined {
  if (typeof schema !== "object" || schema === null) return undefined;
  const candidate = schema as { entries?: unknown; pipe?: unknown[] };
  if (typeof candidate.entries === "object" && candidate.entries !== null) {
    return candidate as { entries: Record<string, unknown> };
  }
  return Array.isArray(candidate.pipe) ? objectSchemaOf(candidate.pipe[0]) : undefined;
}

/**
 * Words that, in a field's name, say its value is a credential: whole words of the snake_case
 * (or camelCase) name, so `author` or `cache_key` are not taken for one.
 */
const CREDENTIAL_WORDS =
  /(?:^|_)(?:secrets?|tokens?|password|passwd|credentials?|bearer|auth|authorization|(?:api|private)_?key)(?:_|$)/;
const SECRET_FIELD_HINT = "signing_secret, api_key, auth_token, password or headers";

/**
 * A custom field whose name says "credential" but that the redaction would show: responses,
 * logs and dead letters recognise secrets by field name (secret-fields.ts), so such a field would
 * leak. `*_env` fields name a variable (not a secret); `*_template` fields are rendered text.
 */
function looksLikeUnredactedSecret(key: string): boolean {
  if (isSecretFieldName(key) || key.endsWith("_env") || key.endsWith("_template")) return false;
  return CREDENTIAL_WORDS.test(key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase());
}

/**
 * Checks a host's definition before it joins a registry, so a mistake fails at startup with what
 * to fix rather than at the first event: a name that fits in an observer and a URL, not a
 * built-in's, a valibot object schema whose `type` is `v.literal(<type>)` (so a config keeps its
 * type when stored, and the schema cannot accept another type's config), and a `run` function.
 */
function checkedCustom(definition: CustomActionDefinition): ActionDefinition {
  const where = `custom action type ${JSON.stringify(String(definition?.type))}`;
  if (typeof definition !== "object" || definition === null) {
    throw new TypeError("a custom action must be an object { type, schema, run }");
  }
  const { type } = definition;
  if (
    typeof type !== "string" ||
    type.length > MAX_ACTION_TYPE_LENGTH ||
    !ACTION_TYPE_PATTERN.test(type)
  ) {
    throw new TypeError(
      `${where}: a type is lower-case words of letters and digits joined by single underscores, each starting with a letter (such as discord or crm_sync), at most ${MAX_ACTION_TYPE_LENGTH} characters`,
    );
  }
  if ((ACTION_TYPES as readonly string[]).includes(type)) {
    throw new TypeError(`${where}: ${type} is a built-in action type; choose another name`);
  }
  const object = objectSchemaOf(definition.schema);
  const typeEntry = object?.entries.type as { type?: unknown; literal?: unknown } | undefined;
  if (!object || typeEntry?.type !== "literal" || typeEntry.literal !== type) {
    throw new TypeError(
      `${where}: schema must be a valibot object schema (v.strictObject is best) with type: v.literal(${JSON.stringify(type)})`,
    );
  }
  if (!v.safeParse(definition.schema, { type: `${type}_not` }).issues?.length) {
    throw new TypeError(`${where}: schema must refuse a config of another type`);
  }
  const reserved = TIMING_FIELDS.filter((field) => field in object.entries);
  if (reserved.length > 0) {
    throw new TypeError(
      `${where}: field ${reserved.join(", ")} is one every action has (docs/time.md); leave it out of the schema`,
    );
  }
  const unredacted = Object.keys(object.entries).filter(looksLikeUnredactedSecret);
  if (unredacted.length > 0) {
    throw new TypeError(
      `${where}: field ${unredacted.join(", ")} looks like a credential, but responses and logs redact secrets by field name: name it one of ${SECRET_FIELD_HINT} (shown as [REDACTED]), or take it from a variable with a field ending in _env`,
    );
  }
  if (typeof definition.run !== "function") throw new TypeError(`${where}: run must be a function`);
  if (definition.destination !== undefined && typeof definition.destination !== "function") {
    throw new TypeError(`${where}: destination must be a function when given`);
  }
  for (const hook of ["defaultBaseUrl", "policyIssues"] as const) {
    if (definition[hook] !== undefined && typeof definition[hook] !== "function") {
      throw new TypeError(`${where}: ${hook} must be a function when given`);
    }
  }
  return {
    ...definition,
    destination: definition.destination ?? sharedDestination(type),
  } as ActionDefinition;
}

/**
 * The built-in actions plus a host's own (`createObservers({ actions })`), each checked (see
 * `checkedCustom`): the one registry a host hands its API (`registry`), its runtime (`registry`)
 * and its Workers tick, so the same types are validated, documented, stored and executed.
 * Throws a `TypeError` naming the definition and what to fix.
 */
export function actionRegistry(custom: readonly CustomActionDefinition[] = []): ActionRegistry {
  if (custom.length === 0) return defaultActionRegistry;
  const definitions = custom.map(checkedCustom);
  const seen = new Set<string>();
  for (const { type } of definitions) {
    if (seen.has(type)) throw new TypeError(`custom action type "${type}" is registered twice`);
    seen.add(type);
  }
  return createActionRegistry([...Object.values(BUILT_IN_ACTIONS), ...definitions]);
}
