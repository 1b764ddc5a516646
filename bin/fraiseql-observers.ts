#!/usr/bin/env node
// The command-line tool. Today: reason about conditions without a database.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type ConditionIssue,
  conditionToSql,
  type ExplainStep,
  explainCondition,
  normalizeChangeEvent,
  parseCondition,
  printCondition,
  toObserversError,
} from "../src/index.ts";
import { packageVersion } from "./package-version.ts";

const COMMANDS = ["check", "explain", "sql"] as const;

const USAGE = `Usage: fraiseql-observers <command> [options]

Commands:
  check <condition>             parse a condition; print its canonical form or what is wrong
  explain <condition> <row>     evaluate a condition against a change-log row (JSON text, a file
                                name, or - for standard input) and show every sub-expression
  sql <condition> [--alias e]   compile a condition to a SQL predicate over core.tb_entity_change_log

Options:
  -h, --help                    print this help
  -v, --version                 print the version
`;

function isCommand(name: string): name is (typeof COMMANDS)[number] {
  return (COMMANDS as readonly string[]).includes(name);
}

function printIssues(source: string, issues: readonly ConditionIssue[]): void {
  for (const issue of issues) {
    console.error(`error at position ${issue.position}: ${issue.message}`);
    console.error(`  ${source}`);
    console.error(`  ${" ".repeat(issue.position)}${"^".repeat(Math.max(1, issue.length))}`);
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

function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

function printStep(step: ExplainStep, indent: string): void {
  const values = step.values
    ?.map((v) => `${v.text} = ${v.missing ? "(missing)" : show(v.value)}`)
    .join(", ");
  console.log(`${indent}${step.outcome.padEnd(7)} ${step.text}${values ? `    [${values}]` : ""}`);
  if (step.error) console.log(`${indent}        error: ${step.error}`);
  if (step.hint) console.log(`${indent}        hint: ${step.hint}`);
  for (const child of step.children ?? []) printStep(child, `${indent}  `);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      alias: { type: "string", default: "e" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

function main(argv: string[]): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error: unknown) {
    // node:util's own message names the option ("Unknown option '--frob'").
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.version) {
    console.log(packageVersion());
    return 0;
  }
  const [command, condition, row] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  if (!isCommand(command)) {
    console.error(
      `unknown command '${command}': the commands are ${COMMANDS.join(", ")} (fraiseql-observers --help)`,
    );
    return 2;
  }
  if (condition === undefined) {
    console.error(`${command} needs a condition\n\n${USAGE}`);
    return 2;
  }
  switch (command) {
    case "check": {
      const result = parseCondition(condition);
      if (!result.success) {
        printIssues(condition, result.issues);
        return 1;
      }
      console.log(printCondition(result.ast));
      return 0;
    }
    case "explain": {
      if (row === undefined) {
        console.error(`explain needs a change-log row\n\n${USAGE}`);
        return 2;
      }
      const result = explainCondition(condition, normalizeChangeEvent(readRow(row)));
      if (!result.success) {
        printIssues(condition, result.issues);
        return 1;
      }
      console.log(
        `result: ${result.result === null ? "error (the observer is skipped)" : result.result}`,
      );
      printStep(result.root, "");
      return 0;
    }
    case "sql": {
      const result = conditionToSql(condition, { alias: values.alias });
      if (!result.success) {
        printIssues(condition, result.issues);
        return 1;
      }
      console.log(result.sql);
      console.log(`-- params: ${show(result.params)}`);
      return 0;
    }
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error: unknown) {
  const failure = toObserversError(error);
  console.error(`${failure.code}: ${failure.message}`);
  process.exitCode = 1;
}
