import { ConditionEvaluationError, type ConditionIssue, ConditionSyntaxError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { Expr } from "./ast.ts";
import {
  applyCall,
  applyCompare,
  applyContains,
  applyIn,
  applyMatches,
  readOperand,
} from "./operations.ts";
import { parseCondition } from "./parser.ts";
import { compileRegex } from "./regex.ts";

/** A condition ready to run: parsed once, evaluated many times. */
export interface CompiledCondition {
  readonly source: string;
  readonly ast: Expr;
  /**
   * True when the observer should fire for this event. Throws `ConditionEvaluationError` when the
   * condition cannot be answered (a missing field, a type error): not the same as false.
   */
  evaluate(event: ChangeEvent): boolean;
}

type Evaluate = (event: ChangeEvent) => boolean;

/**
 * Compiles a condition into a closure tree (no `eval`: Workers forbid it). Throws
 * `ConditionSyntaxError` carrying the issues when the source does not parse.
 */
export function compileCondition(source: string): CompiledCondition {
  const result = safeCompileCondition(source);
  if (!result.success) throw new ConditionSyntaxError(result.issues);
  return result.condition;
}

/** Like `compileCondition`, but returns the issues instead of throwing. */
export function safeCompileCondition(
  source: string,
): { success: true; condition: CompiledCondition } | { success: false; issues: ConditionIssue[] } {
  const result = parseCondition(source);
  if (!result.success) return result;
  const evaluate = compileExpr(result.ast);
  return {
    success: true,
    condition: {
      source,
      ast: result.ast,
      evaluate(event) {
        try {
          return evaluate(event);
        } catch (error: unknown) {
          throw asEvaluationError(error, source);
        }
      },
    },
  };
}

/** Keeps the promise that evaluation raises only its own error, even on pathological events. */
export function asEvaluationError(error: unknown, source: string): ConditionEvaluationError {
  if (error instanceof ConditionEvaluationError) return error;
  const reason =
    error instanceof RangeError ? "the event's data is nested too deeply" : String(error);
  return new ConditionEvaluationError(
    `the condition could not be evaluated: ${reason}`,
    0,
    source.length,
    {
      cause: error,
    },
  );
}

/** Compiles an AST node into a closure; the parts a condition is made of. */
export function compileExpr(expr: Expr): Evaluate {
  switch (expr.kind) {
    case "and": {
      const left = compileExpr(expr.left);
      const right = compileExpr(expr.right);
      return (event) => left(event) && right(event);
    }
    case "or": {
      const left = compileExpr(expr.left);
      const right = compileExpr(expr.right);
      return (event) => left(event) || right(event);
    }
    case "not": {
      const operand = compileExpr(expr.operand);
      return (event) => !operand(event);
    }
    case "compare":
      return (event) =>
        applyCompare(expr, readOperand(event, expr.left), readOperand(event, expr.right, true));
    case "in":
      return (event) => applyIn(expr, readOperand(event, expr.subject));
    case "contains":
      return (event) => applyContains(expr, readOperand(event, expr.subject));
    case "matches": {
      const regex = compileRegex(expr.pattern.value);
      return (event) => applyMatches(expr, regex, readOperand(event, expr.subject));
    }
    case "call":
      return (event) => applyCall(expr, event);
  }
}
