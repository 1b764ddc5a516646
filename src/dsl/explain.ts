import type { ConditionIssue } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import { isNumeric, type JsonValue } from "../json.ts";
import { type Expr, type LiteralNode, type Operand, pathText } from "./ast.ts";
import { asEvaluationError } from "./evaluator.ts";
import {
  applyCall,
  applyCompare,
  applyContains,
  applyIn,
  applyMatches,
  fieldChangeFacts,
  readOperand,
} from "./operations.ts";
import { parseCondition } from "./parser.ts";
import { lookupPath, MISSING } from "./paths.ts";
import { compileRegex } from "./regex.ts";

/** A value a step read: a field (or `missing`) or a literal. */
export interface ExplainedValue {
  text: string;
  value?: JsonValue;
  missing?: true;
}

/** One sub-expression and what it came to. */
export interface ExplainStep {
  kind: Expr["kind"];
  /** The sub-expression as written in the condition. */
  text: string;
  position: number;
  length: number;
  /** `skipped`: not evaluated, because `&&` / `||` had already decided. */
  outcome: "true" | "false" | "error" | "skipped";
  error?: string;
  values?: ExplainedValue[];
  /** A likely mistake, such as comparing a number with a quoted string. */
  hint?: string;
  children?: ExplainStep[];
}

/** What `explainCondition` found: the parse issues, or the outcome and every step. */
export type ExplainResult =
  | { success: false; issues: ConditionIssue[] }
  | {
      success: true;
      /** Whether the observer fires; null when the condition could not be evaluated. */
      result: boolean | null;
      error?: { message: string; position: number; length: number };
      root: ExplainStep;
    };

/**
 * Evaluates a condition against an event and reports the value of every sub-expression, so "why
 * did (or didn't) this observer fire?" has an answer.
 */
export function explainCondition(source: string, event: ChangeEvent): ExplainResult {
  const parsed = parseCondition(source);
  if (!parsed.success) return parsed;
  const root = explain(parsed.ast, event, source);
  if (root.outcome === "error") {
    const failing = firstError(root) ?? root;
    return {
      success: true,
      result: null,
      error: { message: failing.error ?? "", position: failing.position, length: failing.length },
      root,
    };
  }
  return { success: true, result: root.outcome === "true", root };
}

function firstError(step: ExplainStep): ExplainStep | undefined {
  for (const child of step.children ?? []) {
    const found = firstError(child);
    if (found) return found;
  }
  return step.outcome === "error" ? step : undefined;
}

function base(expr: Expr, source: string, outcome: ExplainStep["outcome"]): ExplainStep {
  return {
    kind: expr.kind,
    text: source.slice(expr.span.start, expr.span.end),
    position: expr.span.start,
    length: expr.span.end - expr.span.start,
    outcome,
  };
}

function skipped(expr: Expr, source: string): ExplainStep {
  const step = base(expr, source, "skipped");
  if (expr.kind === "and" || expr.kind === "or") {
    step.children = [skipped(expr.left, source), skipped(expr.right, source)];
  } else if (expr.kind === "not") {
    step.children = [skipped(expr.operand, source)];
  }
  return step;
}

function explain(expr: Expr, event: ChangeEvent, source: string): ExplainStep {
  if (expr.kind === "and" || expr.kind === "or") {
    const left = explain(expr.left, event, source);
    const decided =
      left.outcome === "error" || left.outcome === (expr.kind === "and" ? "false" : "true");
    const right = decided ? skipped(expr.right, source) : explain(expr.right, event, source);
    const step = base(expr, source, decided ? left.outcome : right.outcome);
    step.children = [left, right];
    return step;
  }
  if (expr.kind === "not") {
    const inner = explain(expr.operand, event, source);
    const outcome =
      inner.outcome === "error" ? "error" : inner.outcome === "true" ? "false" : "true";
    const step = base(expr, source, outcome);
    step.children = [inner];
    return step;
  }
  const values: ExplainedValue[] = [];
  const step = base(expr, source, "false");
  step.values = values;
  try {
    const result = evaluateLeaf(expr as LeafExpr, event, source, values, step);
    step.outcome = result ? "true" : "false";
  } catch (error: unknown) {
    step.outcome = "error";
    step.error = asEvaluationError(error, source).message;
  }
  return step;
}

/** A value read, as explain reports it: the value, or that nothing was there. */
function seen(text: string, found: JsonValue | typeof MISSING): ExplainedValue {
  return found === MISSING ? { text, missing: true } : { text, value: found };
}

function record(
  values: ExplainedValue[],
  event: ChangeEvent,
  operand: Operand,
  source: string,
): void {
  values.push(
    operand.kind === "literal"
      ? { text: source.slice(operand.span.start, operand.span.end), value: operand.value }
      : seen(pathText(operand), lookupPath(event, operand)),
  );
}

type LeafExpr = Exclude<Expr, { kind: "and" | "or" | "not" }>;

function evaluateLeaf(
  expr: LeafExpr,
  event: ChangeEvent,
  source: string,
  values: ExplainedValue[],
  step: ExplainStep,
): boolean {
  switch (expr.kind) {
    case "compare": {
      record(values, event, expr.left, source);
      record(values, event, expr.right, source);
      const left = readOperand(event, expr.left);
      const right = readOperand(event, expr.right, true);
      const result = applyCompare(expr, left, right);
      const hint = quotedNumberHint(left, right) ?? quotedNumberHint(right, left);
      if (!result && expr.op === "==" && hint) step.hint = hint;
      return result;
    }
    case "in":
      record(values, event, expr.subject, source);
      return applyIn(expr, readOperand(event, expr.subject));
    case "contains":
      record(values, event, expr.subject, source);
      return applyContains(expr, readOperand(event, expr.subject));
    case "matches":
      record(values, event, expr.subject, source);
      return applyMatches(expr, compileRegex(expr.pattern.value), readOperand(event, expr.subject));
    case "call": {
      if (expr.name === "has_field") {
        record(values, event, expr.field, source);
        return applyCall(expr, event);
      }
      const facts = fieldChangeFacts(expr, event);
      const name = pathText(expr.field);
      if (facts === undefined) {
        step.hint = `${expr.name} is false for ${event.event_type} events: only updates have changes`;
      } else {
        values.push(seen(`old.${name}`, facts.before), seen(`new.${name}`, facts.after));
        const literal = expr.value as LiteralNode | undefined;
        const compared = expr.name === "field_changed_to" ? facts.after : facts.before;
        if (literal && compared !== MISSING) {
          const hint =
            quotedNumberHint(compared, literal.value) ?? quotedNumberHint(literal.value, compared);
          if (hint) step.hint = hint;
        }
      }
      return applyCall(expr, event);
    }
  }
}

/** FraiseQL users often quote numbers; here quotes always make a string, which never equals a number. */
function quotedNumberHint(value: JsonValue, maybeQuoted: JsonValue): string | undefined {
  if (isNumeric(value) && typeof maybeQuoted === "string" && /^-?\d+(\.\d+)?$/.test(maybeQuoted)) {
    return `'${maybeQuoted}' is a string and the field holds the number ${value}: a number never equals a string, so write ${maybeQuoted} without quotes`;
  }
  return undefined;
}
