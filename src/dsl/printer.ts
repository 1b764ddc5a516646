import type { JsonPrimitive } from "../json.ts";
import { type Expr, type Operand, pathText } from "./ast.ts";

const PRECEDENCE: Record<Expr["kind"], number> = {
  or: 1,
  and: 2,
  not: 3,
  compare: 4,
  in: 4,
  contains: 4,
  matches: 4,
  call: 4,
};

/** Renders an AST as condition source that parses back to the same AST. */
export function printCondition(expr: Expr): string {
  switch (expr.kind) {
    case "or":
    case "and": {
      const op = expr.kind === "or" ? "||" : "&&";
      const own = PRECEDENCE[expr.kind];
      // Left-associative: a right operand of the same precedence needs parentheses.
      const left = wrap(expr.left, PRECEDENCE[expr.left.kind] < own);
      const right = wrap(expr.right, PRECEDENCE[expr.right.kind] <= own);
      return `${left} ${op} ${right}`;
    }
    case "not":
      return `!${wrap(expr.operand, expr.operand.kind !== "not" && expr.operand.kind !== "call")}`;
    case "compare":
      return `${printOperand(expr.left)} ${expr.op} ${printOperand(expr.right)}`;
    case "in":
      return `${pathText(expr.subject)} in [${expr.values.map((v) => printLiteral(v.value)).join(", ")}]`;
    case "contains":
      return `${pathText(expr.subject)} contains ${printLiteral(expr.value.value)}`;
    case "matches":
      return `${pathText(expr.subject)} matches ${printLiteral(expr.pattern.value)}`;
    case "call": {
      const args = [printLiteral(pathText(expr.field))];
      if (expr.value) args.push(printLiteral(expr.value.value));
      return `${expr.name}(${args.join(", ")})`;
    }
  }
}

function wrap(expr: Expr, parenthesise: boolean): string {
  const text = printCondition(expr);
  return parenthesise ? `(${text})` : text;
}

function printOperand(operand: Operand): string {
  return operand.kind === "path" ? pathText(operand) : printLiteral(operand.value);
}

/** A literal as condition source: strings single-quoted with `\'` and `\\` escaped. */
export function printLiteral(value: JsonPrimitive): string {
  if (typeof value === "string") return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  if (value === null) return "null";
  return String(value);
}
