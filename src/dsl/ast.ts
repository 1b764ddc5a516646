import type { JsonPrimitive } from "../json.ts";

/** Where a node sits in the condition source (offsets in UTF-16 code units). */
export interface Span {
  start: number;
  end: number;
}

/**
 * Which image of the row a path reads: `data` is the after-image (the before-image for deletes),
 * `old` the before-image, `new` the after-image.
 */
export type PathImage = "data" | "old" | "new";

export interface PathNode {
  kind: "path";
  image: PathImage;
  /** Keys (and array indexes, as digit strings) from the top of the image down. */
  segments: string[];
  span: Span;
}

export interface LiteralNode {
  kind: "literal";
  value: JsonPrimitive;
  span: Span;
}

export type Operand = PathNode | LiteralNode;

export type CompareOp = "==" | "!=" | ">" | "<" | ">=" | "<=";

export interface CompareNode {
  kind: "compare";
  op: CompareOp;
  left: Operand;
  right: Operand;
  span: Span;
}

export interface InNode {
  kind: "in";
  subject: PathNode;
  values: LiteralNode[];
  span: Span;
}

export interface ContainsNode {
  kind: "contains";
  subject: PathNode;
  value: LiteralNode;
  span: Span;
}

export interface MatchesNode {
  kind: "matches";
  subject: PathNode;
  /** RE2 syntax; `.` matches newlines too, as in PostgreSQL. */
  pattern: LiteralNode & { value: string };
  span: Span;
}

export type FunctionName =
  | "has_field"
  | "field_changed"
  | "field_changed_to"
  | "field_changed_from";

export interface CallNode {
  kind: "call";
  name: FunctionName;
  /** The field named by the first argument. */
  field: PathNode;
  /** The value argument of `field_changed_to` / `field_changed_from`. */
  value?: LiteralNode;
  span: Span;
}

export interface NotNode {
  kind: "not";
  operand: Expr;
  span: Span;
}

export interface LogicalNode {
  kind: "and" | "or";
  left: Expr;
  right: Expr;
  span: Span;
}

export type Expr =
  | CompareNode
  | InNode
  | ContainsNode
  | MatchesNode
  | CallNode
  | NotNode
  | LogicalNode;

/** The limits FraiseQL set, kept: longer or deeper conditions are refused when parsed. */
export const MAX_CONDITION_LENGTH = 4096;
export const MAX_CONDITION_DEPTH = 64;

export const FUNCTION_ARITY: Readonly<Record<FunctionName, 1 | 2>> = {
  has_field: 1,
  field_changed: 1,
  field_changed_to: 2,
  field_changed_from: 2,
};

/** Renders a path as written in a condition (`customer.tier`, `old.status`). */
export function pathText(path: PathNode): string {
  const body = path.segments.join(".");
  return path.image === "data" ? body : `${path.image}.${body}`;
}
