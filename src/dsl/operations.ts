import { ConditionEvaluationError } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";
import {
  compareNumbers,
  isNumeric,
  type JsonValue,
  jsonEquals,
  jsonTypeOf,
  previewJson,
} from "../json.ts";
import {
  type CallNode,
  type CompareNode,
  type ContainsNode,
  type InNode,
  type LiteralNode,
  type MatchesNode,
  type Operand,
  pathText,
  type Span,
} from "./ast.ts";
import { describeMissing, lookupPath, lookupSegments, MISSING } from "./paths.ts";
import type { CompiledRegex } from "./regex.ts";

/**
 * The semantics of each construct, shared by the evaluator and by `explainCondition` so the two
 * can never disagree. Every failure is a `ConditionEvaluationError` pointing at the sub-expression.
 */

function fail(span: Span, message: string): never {
  throw new ConditionEvaluationError(message, span.start, span.end - span.start);
}

/** The value of an operand; a path that leads nowhere is an error (FraiseQL: "Field not found"). */
export function readOperand(
  event: ChangeEvent,
  operand: Operand,
  rightOfComparison = false,
): JsonValue {
  if (operand.kind === "literal") return operand.value;
  const value = lookupPath(event, operand);
  if (value === MISSING) {
    let message = describeMissing(event, operand, pathText(operand));
    // FraiseQL read an unquoted word on the right of a comparison as text; here it is a field.
    if (rightOfComparison && operand.image === "data" && operand.segments.length === 1) {
      message += `; to compare with the text '${operand.segments[0]}', quote it`;
    }
    fail(operand.span, message);
  }
  return value;
}

/** `==` and `!=` on any JSON values; ordering only between numbers. */
export function applyCompare(node: CompareNode, left: JsonValue, right: JsonValue): boolean {
  switch (node.op) {
    case "==":
      return jsonEquals(left, right);
    case "!=":
      return !jsonEquals(left, right);
  }
  if (!isNumeric(left) || !isNumeric(right)) {
    const [side, value] = isNumeric(left) ? (["right", right] as const) : (["left", left] as const);
    fail(
      node.span,
      `'${node.op}' compares numbers, but the ${side} side is a ${jsonTypeOf(value)} (${previewJson(value)})`,
    );
  }
  const order = compareNumbers(left, right);
  if (Number.isNaN(order)) fail(node.span, `'${node.op}' cannot order NaN`);
  switch (node.op) {
    case ">":
      return order > 0;
    case "<":
      return order < 0;
    case ">=":
      return order >= 0;
    case "<=":
      return order <= 0;
  }
}

/** Whether the subject equals one of the listed values. */
export function applyIn(node: InNode, subject: JsonValue): boolean {
  for (const literal of node.values) if (jsonEquals(subject, literal.value)) return true;
  return false;
}

/** Substring of a string, or element of an array; anything else is an error. */
export function applyContains(node: ContainsNode, subject: JsonValue): boolean {
  const needle = node.value.value;
  if (Array.isArray(subject)) return subject.some((item) => jsonEquals(item, needle));
  if (typeof subject === "string") {
    if (typeof needle === "string") return subject.includes(needle);
    fail(
      node.span,
      `'${pathText(node.subject)}' is a string, so 'contains' needs a string, not ${previewJson(needle)}`,
    );
  }
  fail(
    node.span,
    `'contains' needs a string or an array, but '${pathText(node.subject)}' is a ${jsonTypeOf(subject)}`,
  );
}

/** Whether the regex is found in the subject, which must be a string. */
export function applyMatches(node: MatchesNode, regex: CompiledRegex, subject: JsonValue): boolean {
  if (typeof subject !== "string") {
    fail(
      node.span,
      `'matches' needs a string, but '${pathText(node.subject)}' is a ${jsonTypeOf(subject)}`,
    );
  }
  return regex.test(subject);
}

/** What an UPDATE did to one field: its values before and after, and whether they differ. */
export interface FieldChangeFacts {
  before: JsonValue | typeof MISSING;
  after: JsonValue | typeof MISSING;
  changed: boolean;
}

/**
 * `field_changed*` facts, or undefined for events other than UPDATE (which have no diff, so the
 * functions are false). An UPDATE without a pre-image cannot answer: that is an error, not false.
 */
export function fieldChangeFacts(node: CallNode, event: ChangeEvent): FieldChangeFacts | undefined {
  if (event.event_type !== "UPDATE") return undefined;
  if (event.before === null) {
    fail(
      node.span,
      `${node.name} needs the row's previous values, but this UPDATE was captured without a pre-image (enable the pre_image option of core.fn_track_table, or object_data_before for FraiseQL producers)`,
    );
  }
  const before = lookupSegments(event.before, node.field.segments);
  const after = lookupSegments(event.after, node.field.segments);
  const changed =
    before === MISSING || after === MISSING ? before !== after : !jsonEquals(before, after);
  return { before, after, changed };
}

/** `has_field` and the `field_changed*` functions. */
export function applyCall(node: CallNode, event: ChangeEvent): boolean {
  if (node.name === "has_field") return lookupPath(event, node.field) !== MISSING;
  const facts = fieldChangeFacts(node, event);
  if (!facts?.changed) return false;
  if (node.name === "field_changed") return true;
  const value = node.name === "field_changed_to" ? facts.after : facts.before;
  return value !== MISSING && jsonEquals(value, (node.value as LiteralNode).value);
}
