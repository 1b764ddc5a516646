/**
 * Building and inspecting condition ASTs (src/dsl/ast.ts) the way the property tests need.
 *
 * Generated ASTs are the ones the parser can produce: every `span` is a placeholder (`NO_SPAN`), so
 * compare them with `stripSpans`.
 */
import type {
  Expr,
  JsonPrimitive,
  LiteralNode,
  PathImage,
  PathNode,
  Span,
} from "../../../src/index.ts";

/** The span every generated node carries; the parser's real spans are dropped by `stripSpans`. */
export const NO_SPAN: Readonly<Span> = Object.freeze({ start: 0, end: 0 });

/** A deep copy of an AST (or anything) without its `span` fields, for structural comparison. */
export function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key !== "span") out[key] = stripSpans(item);
    }
    return out;
  }
  return value;
}

export function pathNode(image: PathImage, segments: string[]): PathNode {
  return { kind: "path", image, segments, span: NO_SPAN };
}

export function literalNode(value: JsonPrimitive): LiteralNode {
  return { kind: "literal", value, span: NO_SPAN };
}

/** Every node of an AST, depth first. */
export function* walkExpr(expr: Expr): Generator<Expr> {
  yield expr;
  if (expr.kind === "and" || expr.kind === "or") {
    yield* walkExpr(expr.left);
    yield* walkExpr(expr.right);
  } else if (expr.kind === "not") {
    yield* walkExpr(expr.operand);
  }
}
