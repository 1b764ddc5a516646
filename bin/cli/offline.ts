/** The offline condition commands: check, explain, sql (no server needed). */
import { readFileSync } from "node:fs";
import {
  type ConditionIssue,
  conditionToSql,
  type ExplainStep,
  explainCondition,
  normalizeChangeEvent,
  parseCondition,
  printCondition,
} from "../../src/index.ts";
import { type Command, type CommandContext, stringOption, UsageError } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { json, line, warn } from "./output.ts";

/** Prints each issue with a caret under it (stderr). */
export function printIssues(source: string, issues: readonly ConditionIssue[], indent = ""): void {
  for (const issue of issues) {
    warn(`${indent}error at position ${issue.position}: ${issue.message}`);
    warn(`${indent}  ${source}`);
    warn(`${indent}  ${" ".repeat(issue.position)}${"^".repeat(Math.max(1, issue.length))}`);
  }
}

function readRow(argument: string): unknown {
  const text =
    argument === "-"
      ? readFileSync(0, "utf8")
      : argument.trimStart().startsWith("{")
        ? argument
        : readFileSync(argument, "utf8");
  return JSON.parse(text);
}

export function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

/** A condition's explain tree, one line per step. */
export function printStep(step: ExplainStep, indent: string): void {
  const values = step.values
    ?.map((v) => `${v.text} = ${v.missing ? "(missing)" : show(v.value)}`)
    .join(", ");
  line(`${indent}${step.outcome.padEnd(7)} ${step.text}${values ? `    [${values}]` : ""}`);
  if (step.error) line(`${indent}        error: ${step.error}`);
  if (step.hint) line(`${indent}        hint: ${step.hint}`);
  for (const child of step.children ?? []) printStep(child, `${indent}  `);
}

function conditionArg(context: CommandContext, name: string): string {
  const condition = context.args[0];
  if (condition === undefined) throw new UsageError(`${name} needs a condition`);
  return condition;
}

export const check: Command = {
  name: "check",
  summary: "parse a condition; print its canonical form or what is wrong",
  help: "check <condition>",
  run(context) {
    const condition = conditionArg(context, "check");
    const result = parseCondition(condition);
    if (!result.success) {
      if (context.format === "json") json({ valid: false, issues: result.issues });
      printIssues(condition, result.issues);
      return EXIT.failed;
    }
    if (context.format === "json") json({ valid: true, canonical: printCondition(result.ast) });
    else line(printCondition(result.ast));
    return EXIT.ok;
  },
};

export const explain: Command = {
  name: "explain",
  summary: "evaluate a condition against a change-log row (JSON, a file or -) step by step",
  help: "explain <condition> <row>",
  run(context) {
    const condition = conditionArg(context, "explain");
    const row = context.args[1];
    if (row === undefined) throw new UsageError("explain needs a change-log row");
    const result = explainCondition(condition, normalizeChangeEvent(readRow(row)));
    if (!result.success) {
      printIssues(condition, result.issues);
      return EXIT.failed;
    }
    if (context.format === "json") {
      line(show(result));
      return EXIT.ok;
    }
    line(`result: ${result.result === null ? "error (the observer is skipped)" : result.result}`);
    printStep(result.root, "");
    return EXIT.ok;
  },
};

export const sql: Command = {
  name: "sql",
  summary: "compile a condition to a SQL predicate over core.tb_entity_change_log",
  help: "sql <condition> [--alias e]",
  options: { alias: { type: "string", default: "e" } },
  run(context) {
    const condition = conditionArg(context, "sql");
    const result = conditionToSql(condition, {
      alias: stringOption(context.values, "alias") ?? "e",
    });
    if (!result.success) {
      printIssues(condition, result.issues);
      return EXIT.failed;
    }
    if (context.format === "json") {
      line(show({ sql: result.sql, params: result.params }));
      return EXIT.ok;
    }
    line(result.sql);
    line(`-- params: ${show(result.params)}`);
    return EXIT.ok;
  },
};
