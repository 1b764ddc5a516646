import * as v from "valibot";
import { ConfigError, type ConfigIssue } from "./errors.ts";

/** Result of validating configuration: the normalised value, or every issue found. */
export type ConfigResult<T> =
  | { success: true; output: T }
  | { success: false; issues: ConfigIssue[] };

/** valibot's issues as the core reports them: a dotted path and a message. */
export function toConfigIssues(
  issues: readonly v.BaseIssue<unknown>[],
  prefix = "",
): ConfigIssue[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue) ?? "";
    return {
      path: prefix && path ? `${prefix}.${path}` : prefix || path,
      message: issueMessage(issue),
    };
  });
}

/** Types valibot names in its own type errors, as JSON (and the API's messages) call them. */
const JSON_TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "string",
  number: "number",
  boolean: "boolean",
  Object: "object",
  Array: "array",
  null: "null",
};

function jsonTypeOf(value: unknown): string {
  if (value === null) return "null";
  return Array.isArray(value) ? "array" : typeof value;
}

/**
 * An issue's message for people. Messages the schemas set (`must be ...`) are kept; valibot's
 * own wording of the generic ones is replaced, so every refusal reads the same wherever it comes
 * from (the API's door, the store, the executor): an unknown field of a strict object
 * (`Invalid key: Expected never but received "colour"`) is `unknown field "colour"`, a missing
 * one is `is required`, and a value of the wrong type is
 * `Invalid input: expected string, received number`.
 */
export function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.kind !== "schema") return issue.message;
  if (issue.message.startsWith("Invalid key: ")) {
    const key = issue.path?.at(-1)?.key;
    if (issue.expected === "never" && typeof key === "string") {
      return `unknown field ${JSON.stringify(key)}`;
    }
    if (issue.received === "undefined") return "is required";
    return issue.message;
  }
  const expected = JSON_TYPE_NAMES[issue.expected ?? ""];
  if (issue.message.startsWith("Invalid type: ") && expected !== undefined) {
    return `Invalid input: expected ${expected}, received ${jsonTypeOf(issue.input)}`;
  }
  return issue.message;
}

/** Validates `value` against `schema` without throwing. */
export function safeParseConfig<T>(
  schema: v.GenericSchema<unknown, T>,
  value: unknown,
  prefix = "",
): ConfigResult<T> {
  const result = v.safeParse(schema, value);
  return result.success
    ? { success: true, output: result.output }
    : { success: false, issues: toConfigIssues(result.issues, prefix) };
}

/** Validates `value` against `schema`; throws `ConfigError` carrying every issue. */
export function parseConfig<T>(
  schema: v.GenericSchema<unknown, T>,
  value: unknown,
  prefix = "",
): T {
  const result = safeParseConfig(schema, value, prefix);
  if (!result.success) throw new ConfigError(result.issues);
  return result.output;
}

/**
 * Refuses arrays where an object is expected: valibot's object and record schemas check only
 * `typeof value === "object"`, so `[]` would pass as `{}` and `["v"]` as `{"0": "v"}`. Put it
 * first in a pipe: `v.pipe(v.unknown(), notArray(), v.strictObject({...}))`.
 */
export function notArray(message = "must be an object, not an array") {
  return v.check((value: unknown) => !Array.isArray(value), message);
}
