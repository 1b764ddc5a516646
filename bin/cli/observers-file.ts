/**
 * Observers as code: the file `apply` reads, `export` writes and `validate-config` checks.
 *
 * A YAML or JSON document `{observers: [<observer>, ...]}` (a bare list is accepted too), each
 * observer the body of `POST /api/observers` (src/observers/schema.ts, validated here with the
 * very schemas the server uses, conditions parsed by the DSL). Names identify observers: they
 * must be unique in the file.
 *
 * Secrets: the API never shows them (src/store/redact.ts), so an exported file holds the
 * `[REDACTED]` placeholder where a secret or a URL's secret part was. Such an observer's actions
 * are not validated nor sent: `apply` keeps the stored ones when they read the same (redacted),
 * and refuses to change them otherwise (the placeholder would become the secret).
 */
import { readFileSync, statSync } from "node:fs";
import * as v from "valibot";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { DEFAULT_RETRY_CONFIG } from "../../src/executor/retry-policy.ts";
import type { JsonValue } from "../../src/json.ts";
import { isJsonObject } from "../../src/json.ts";
import {
  DEFAULT_PRIORITY,
  DEFAULT_TIMEOUT_MS,
  observerDefinitionSchema,
} from "../../src/observers/schema.ts";
import { redactActions, redactedPlaceholders } from "../../src/store/redact.ts";
import { toConfigIssues } from "../../src/validation.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/** Largest observers file read (a file of a thousand observers is far below). */
export const MAX_FILE_BYTES = 5 * 1024 * 1024;
/** YAML aliases allowed: enough to share a block, too few for a "billion laughs" expansion. */
const MAX_ALIAS_COUNT = 100;

/** The definition fields, in the order files show them. */
export const DEFINITION_FIELDS = [
  "name",
  "description",
  "entity_type",
  "event_type",
  "condition_expression",
  "enabled",
  "priority",
  "timeout_ms",
  "retry_config",
  "actions",
] as const;

export interface FileIssue {
  path: string;
  message: string;
}

/** One observer of the file, validated and normalised (defaults filled), ready to compare. */
export interface DesiredObserver {
  name: string;
  /** The definition without actions, normalised. */
  fields: Record<string, JsonValue>;
  /** The actions as validated (secrets included), or, with placeholders, as written. */
  actions: JsonValue[];
  /** Paths of `[REDACTED]` placeholders in the actions (then `actions` were not validated). */
  placeholders: string[];
}

export interface ObserversFile {
  observers: DesiredObserver[];
  issues: FileIssue[];
}

/** Reads and parses the file (YAML or JSON by content; JSON is YAML). Usage errors for I/O. */
export function readDocument(file: string): unknown {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new CliError(EXIT.usage, `cannot read ${file}: no such file`);
  }
  if (size > MAX_FILE_BYTES) {
    throw new CliError(
      EXIT.failed,
      `${file}: ${size} bytes, more than the ${MAX_FILE_BYTES} an observers file may have`,
    );
  }
  const text = readFileSync(file, "utf8");
  try {
    return parseYaml(text, {
      maxAliasCount: MAX_ALIAS_COUNT,
      uniqueKeys: true,
      prettyErrors: true,
    });
  } catch (error) {
    throw new CliError(
      EXIT.failed,
      `${file}: not valid YAML or JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** Validates a parsed document: every problem with its path (`observers.2.actions.0.url`). */
export function validateDocument(document: unknown): ObserversFile {
  const issues: FileIssue[] = [];
  let list: unknown;
  let prefix = "observers";
  if (Array.isArray(document)) {
    list = document;
    prefix = "";
  } else if (isJsonObject(document as JsonValue)) {
    const record = document as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key !== "observers")
        issues.push({
          path: key,
          message: `unknown field ${JSON.stringify(key)} (the file holds "observers")`,
        });
    }
    list = record.observers;
  } else if (document === null || document === undefined) {
    list = [];
  } else {
    return {
      observers: [],
      issues: [{ path: "", message: "must be a mapping with an observers list" }],
    };
  }
  if (list === undefined || list === null) list = [];
  if (!Array.isArray(list)) {
    return {
      observers: [],
      issues: [...issues, { path: prefix, message: "must be a list of observers" }],
    };
  }
  const observers: DesiredObserver[] = [];
  const seen = new Map<string, number>();
  list.forEach((item: unknown, index) => {
    const at = prefix === "" ? String(index) : `${prefix}.${index}`;
    // Names identify observers: a repeated one is refused even where the rest is invalid.
    const raw = isJsonObject(item as JsonValue)
      ? (item as Record<string, unknown>).name
      : undefined;
    if (typeof raw === "string" && raw.trim() !== "") {
      const first = seen.get(raw.trim());
      if (first !== undefined) {
        issues.push({
          path: `${at}.name`,
          message: `${JSON.stringify(raw.trim())} is already the name of observer ${first}: names identify observers`,
        });
        return;
      }
      seen.set(raw.trim(), index);
    }
    const observer = validateObserver(item, at, issues);
    if (observer) observers.push(observer);
  });
  return { observers, issues };
}

function validateObserver(
  item: unknown,
  at: string,
  issues: FileIssue[],
): DesiredObserver | undefined {
  const actions = isJsonObject(item as JsonValue)
    ? (item as Record<string, unknown>).actions
    : undefined;
  const placeholders = redactedPlaceholders(actions).map((issue) => issue.path);
  if (placeholders.length === 0) {
    const result = v.safeParse(observerDefinitionSchema, item);
    if (!result.success) {
      issues.push(...toConfigIssues(result.issues, at));
      return undefined;
    }
    const { actions: validated, ...fields } = result.output;
    return {
      name: fields.name,
      fields: fields as unknown as Record<string, JsonValue>,
      actions: validated as JsonValue[],
      placeholders,
    };
  }
  // Exported with secrets redacted: everything but the actions is checked, by the definition
  // schema itself with a stand-in action (so its defaults fill the other fields, whatever they
  // are); the actions only for being a list of objects.
  const found: FileIssue[] = [];
  if (!Array.isArray(actions) || !actions.every((a) => isJsonObject(a as JsonValue))) {
    found.push({ path: `${at}.actions`, message: "must be a list of actions" });
  }
  const result = v.safeParse(observerDefinitionSchema, {
    ...(item as object),
    actions: [STAND_IN],
  });
  if (!result.success) {
    found.push(
      ...toConfigIssues(result.issues, at).filter(
        (issue) => !issue.path.startsWith(`${at}.actions`),
      ),
    );
  }
  if (found.length > 0 || !result.success) {
    issues.push(...found);
    return undefined;
  }
  const { actions: _standIn, ...fields } = result.output;
  return {
    name: fields.name,
    fields: fields as unknown as Record<string, JsonValue>,
    actions: actions as JsonValue[],
    placeholders: placeholders.map((path) => `${at}.${path}`),
  };
}

/** A valid action standing in for redacted ones while the rest of an observer is validated. */
const STAND_IN = { type: "webhook", url: "https://example.com/" };

/** JSON with object keys sorted: equal text, equal value. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    isJsonObject(item as JsonValue) && !Array.isArray(item)
      ? Object.fromEntries(
          Object.entries(item as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : item,
  );
}

/** An observer as the API shows it (secrets redacted). */
export interface ServerObserver {
  id: string;
  name: string;
  description: string | null;
  entity_type: string | null;
  event_type: string | null;
  condition_expression: string | null;
  actions: JsonValue[];
  retry_config: Record<string, JsonValue>;
  enabled: boolean;
  priority: number;
  timeout_ms: number;
  fk_customer_org: string | number | null;
}

/** What `apply` does to one observer. */
export type Change =
  | { kind: "create"; name: string; body: Record<string, JsonValue> }
  | { kind: "update"; name: string; id: string; changed: string[]; body: Record<string, JsonValue> }
  | { kind: "delete"; name: string; id: string }
  | { kind: "unchanged"; name: string; id: string };

export interface Plan {
  changes: Change[];
  /** Observers that cannot be applied (placeholders where the actions changed). */
  issues: FileIssue[];
}

/**
 * The changes that make the server's observers match the file: create the new names, update
 * those whose normalised fields differ (only the changed fields are sent; actions are compared as
 * the API shows them, secrets redacted), delete the others when `prune`.
 */
export function plan(
  desired: readonly DesiredObserver[],
  current: readonly ServerObserver[],
  options: { prune: boolean; replaceSecrets: boolean },
): Plan {
  const changes: Change[] = [];
  const issues: FileIssue[] = [];
  const byName = new Map(current.map((observer) => [observer.name, observer]));
  for (const want of desired) {
    const have = byName.get(want.name);
    byName.delete(want.name);
    if (!have) {
      if (want.placeholders.length > 0) {
        issues.push(
          ...placeholderIssues(want, "there is no such observer on the server to keep them from"),
        );
        continue;
      }
      changes.push({
        kind: "create",
        name: want.name,
        body: { ...want.fields, actions: want.actions },
      });
      continue;
    }
    const changed: string[] = [];
    const body: Record<string, JsonValue> = {};
    for (const field of Object.keys(want.fields)) {
      const wanted = want.fields[field] ?? null;
      if (
        canonical(wanted) !== canonical((have as unknown as Record<string, unknown>)[field] ?? null)
      ) {
        changed.push(field);
        body[field] = wanted;
      }
    }
    const shown = want.placeholders.length > 0 ? want.actions : redactActions(want.actions);
    const hasSecrets = canonical(shown) !== canonical(want.actions);
    const actionsDiffer = canonical(shown) !== canonical(have.actions);
    if (actionsDiffer || (options.replaceSecrets && hasSecrets && want.placeholders.length === 0)) {
      if (want.placeholders.length > 0) {
        issues.push(...placeholderIssues(want, "the actions differ from the stored ones"));
        continue;
      }
      changed.push(actionsDiffer ? "actions" : "actions (secrets)");
      body.actions = want.actions;
    }
    changes.push(
      changed.length === 0
        ? { kind: "unchanged", name: want.name, id: have.id }
        : { kind: "update", name: want.name, id: have.id, changed, body },
    );
  }
  if (options.prune) {
    for (const [name, have] of byName) changes.push({ kind: "delete", name, id: have.id });
  }
  return { changes, issues };
}

function placeholderIssues(want: DesiredObserver, why: string): FileIssue[] {
  return want.placeholders.map((path) => ({
    path,
    message: `is a [REDACTED] placeholder (from export) and ${why}: write the secret, or better an *_env reference, in the file`,
  }));
}

/** Fields of the API's observers that are not part of a definition. */
const SERVER_ONLY = new Set([
  "id",
  "fk_customer_org",
  "created_at",
  "updated_at",
  "created_by",
  "updated_by",
  "deleted_at",
  "warnings",
]);

/** An observer as `export` writes it: definition fields only, defaults left out. */
export function exportedObserver(observer: ServerObserver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: observer.name };
  if (observer.description !== null) out.description = observer.description;
  if (observer.entity_type !== null) out.entity_type = observer.entity_type;
  if (observer.event_type !== null) out.event_type = observer.event_type;
  if (observer.condition_expression !== null)
    out.condition_expression = observer.condition_expression;
  if (!observer.enabled) out.enabled = false;
  if (observer.priority !== DEFAULT_PRIORITY) out.priority = observer.priority;
  if (observer.timeout_ms !== DEFAULT_TIMEOUT_MS) out.timeout_ms = observer.timeout_ms;
  const retry: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(observer.retry_config)) {
    const fallback =
      key === "max_delay_ms"
        ? Math.max(
            DEFAULT_RETRY_CONFIG.max_delay_ms,
            Number(observer.retry_config.initial_delay_ms ?? 0),
          )
        : (DEFAULT_RETRY_CONFIG as Record<string, unknown>)[key];
    if (value !== fallback) retry[key] = value;
  }
  if (Object.keys(retry).length > 0) out.retry_config = retry;
  // Definition fields this CLI does not know by name (added to the schema later) go as they are.
  for (const [key, value] of Object.entries(observer)) {
    if (
      !(key in out) &&
      !SERVER_ONLY.has(key) &&
      !(DEFINITION_FIELDS as readonly string[]).includes(key)
    ) {
      out[key] = value;
    }
  }
  // `type` first, as people write actions (the stored JSON orders keys its own way).
  out.actions = observer.actions.map((action) =>
    isJsonObject(action) ? { type: action.type ?? null, ...action } : action,
  );
  return out;
}

/** The file text of `observers` in `format`. */
export function renderFile(observers: readonly ServerObserver[], format: "yaml" | "json"): string {
  const document = { observers: observers.map(exportedObserver) };
  if (format === "json") return `${JSON.stringify(document, null, 2)}\n`;
  return stringifyYaml(document, { lineWidth: 0 });
}
