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

/**
 * An issue's message for people. valibot words an unknown field of a strict object as
 * `Invalid key: Expected never but received "colour"`; say what it means instead.
 */
export function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.type !== "strict_object" || issue.expected !== "never") return issue.message;
  const key = issue.path?.at(-1)?.key;
  return typeof key === "string" ? `unknown field ${JSON.stringify(key)}` : issue.message;
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
