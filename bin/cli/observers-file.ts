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
import { parse as parseYaml } from "yaml";
import type { JsonValue } from "../../src/json.ts";
import { isJsonObject } from "../../src/json.ts";
import { observerDefinitionSchema } from "../../src/observers/schema.ts";
import { redactedPlaceholders } from "../../src/store/redact.ts";
import { toConfigIssues } from "../../src/validation.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/** Largest observers file read (a file of a thousand observers is far below). */
export const MAX_FILE_BYTES = 5 * 1024 * 1024;
/** YAML aliases allowed: enough to share a block, too few for a "billion laughs" expansion. */
const MAX_ALIAS_COUNT = 100;

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
  /** `on_dead_letter`, as validated (secrets included) or, with placeholders, as written. */
  onDeadLetter: JsonValue[];
  /** Paths of `[REDACTED]` placeholders in `on_dead_letter` (then it was not validated). */
  deadLetterPlaceholders: string[];
}

export interface ObserversFile {
  observers: DesiredObserver[];
  issues: FileIssue[];
}

/** Reads and parses the file (YAML or JSON by content; JSON is YAML). Usage errors for I/O. */
export function readDocument(file: string): unknown {
  let size: number;
  try {
    const stats = statSync(file);
    if (stats.isDirectory())
      throw new CliError(EXIT.usage, `cannot read ${file}: it is a directory`);
    size = stats.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
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
  // on_dead_letter's actions follow the actions' rules: with placeholders, kept as written.
  const raw = isJsonObject(item as JsonValue) ? (item as Record<string, unknown>) : undefined;
  const deadLetterPlaceholders = redactedPlaceholders(raw?.on_dead_letter, "on_dead_letter").map(
    (issue) => `${at}.${issue.path}`,
  );
  if (deadLetterPlaceholders.length === 0) {
    const observer = validateWithActions(item, at, issues);
    if (!observer) return undefined;
    const { on_dead_letter, ...fields } = observer.fields;
    return {
      ...observer,
      fields,
      onDeadLetter: (on_dead_letter ?? []) as JsonValue[],
      deadLetterPlaceholders,
    };
  }
  const written = raw?.on_dead_letter;
  if (!Array.isArray(written) || !written.every((a) => isJsonObject(a as JsonValue))) {
    issues.push({ path: `${at}.on_dead_letter`, message: "must be a list of actions" });
    return undefined;
  }
  const observer = validateWithActions({ ...raw, on_dead_letter: [] }, at, issues);
  if (!observer) return undefined;
  const { on_dead_letter: _none, ...fields } = observer.fields;
  return {
    ...observer,
    fields,
    onDeadLetter: written as JsonValue[],
    deadLetterPlaceholders,
  };
}

function validateWithActions(
  item: unknown,
  at: string,
  issues: FileIssue[],
): Omit<DesiredObserver, "onDeadLetter" | "deadLetterPlaceholders"> | undefined {
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
