import { ConditionEvaluationError, type ConditionIssue, ConditionSyntaxError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import type { JsonValue } from "../json.ts";
import type { Expr, Operand } from "./ast.ts";
import {
  applyCall,
  applyCompare,
  applyContains,
  applyIn,
  applyMatches,
  readOperand,
} from "./operations.ts";
import { parseCondition } from "./parser.ts";
import { imageOf } from "./paths.ts";
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
    case "compare": {
      const left = compileOperand(expr.left, false);
      const right = compileOperand(expr.right, true);
      return (event) => applyCompare(expr, left(event), right(event));
    }
    case "in": {
      const subject = compileOperand(expr.subject, false);
      return (event) => applyIn(expr, subject(event));
    }
    case "contains": {
      const subject = compileOperand(expr.subject, false);
      return (event) => applyContains(expr, subject(event));
    }
    case "matches": {
      const regex = compileRegex(expr.pattern.value);
      const subject = compileOperand(expr.subject, false);
      return (event) => applyMatches(expr, regex, subject(event));
    }
    case "call":
      return (event) => applyCall(expr, event);
  }
}

/**
 * An operand as a closure. The common case, a top-level field of the row, is read directly; any
 * miss (or a deeper path) goes through `readOperand`, which is what explain uses and which raises
 * the error, so the two never disagree.
 */
function compileOperand(
  operand: Operand,
  rightOfComparison: boolean,
): (event: ChangeEvent) => JsonValue {
  if (operand.kind === "literal") {
    const value = operand.value;
    return () => value;
  }
  const [key, ...deeper] = operand.segments;
  if (key === undefined || deeper.length > 0)
    return (event) => readOperand(event, operand, rightOfComparison);
  const image = operand.image;
  return (event) => {
    const root = imageOf(event, image);
    if (root !== null && Object.hasOwn(root, key)) return root[key] as JsonValue;
    return readOperand(event, operand, rightOfComparison);
  };
}
