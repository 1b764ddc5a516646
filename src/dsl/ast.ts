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

/** A field reference: `status`, `customer.tier`, `old.total`. */
export interface PathNode {
  kind: "path";
  image: PathImage;
  /** Keys (and array indexes, as digit strings) from the top of the image down. */
  segments: string[];
  span: Span;
}

/** A quoted string, a number, `true`, `false` or `null`. */
export interface LiteralNode {
  kind: "literal";
  value: JsonPrimitive;
  span: Span;
}

/** Either side of a comparison. */
export type Operand = PathNode | LiteralNode;

/** The comparison operators. */
export type CompareOp = "==" | "!=" | ">" | "<" | ">=" | "<=";

/** `left OP right`. */
export interface CompareNode {
  kind: "compare";
  op: CompareOp;
  left: Operand;
  right: Operand;
  span: Span;
}

/** `subject in [values]`. */
export interface InNode {
  kind: "in";
  subject: PathNode;
  values: LiteralNode[];
  span: Span;
}

/** `subject contains value`: a substring, or an array element. */
export interface ContainsNode {
  kind: "contains";
  subject: PathNode;
  value: LiteralNode;
  span: Span;
}

/** `subject matches 'pattern'`. */
export interface MatchesNode {
  kind: "matches";
  subject: PathNode;
  /** RE2 syntax; `.` matches newlines too, as in PostgreSQL. */
  pattern: LiteralNode & { value: string };
  span: Span;
}

/** The functions a condition may call. */
export type FunctionName =
  | "has_field"
  | "field_changed"
  | "field_changed_to"
  | "field_changed_from";

/** `has_field(...)`, `field_changed(...)`, `field_changed_to(...)`, `field_changed_from(...)`. */
export interface CallNode {
  kind: "call";
  name: FunctionName;
  /** The field named by the first argument. */
  field: PathNode;
  /** The value argument of `field_changed_to` / `field_changed_from`. */
  value?: LiteralNode;
  span: Span;
}

/** `!operand` or `NOT operand`. */
export interface NotNode {
  kind: "not";
  operand: Expr;
  span: Span;
}

/** `left && right` or `left || right`, evaluated left to right with short-circuit. */
export interface LogicalNode {
  kind: "and" | "or";
  left: Expr;
  right: Expr;
  span: Span;
}

/** A parsed condition. */
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

/** How many arguments each function takes. */
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
