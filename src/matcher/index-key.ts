import type { Expr, PathNode } from "../dsl/ast.ts";
import type { JsonValue } from "../json.ts";

/**
 * How a condition can be found without evaluating it: by the value its first conjunct requires.
 * Only the first conjunct counts, because `&&` evaluates left to right: when that conjunct is
 * false, the condition is false without an error, so skipping it changes nothing.
 */
export type IndexKey =
  | { kind: "equals"; path: PathNode; keys: string[] }
  | { kind: "changed_to" | "changed_from"; path: PathNode; keys: string[] }
  /** `path op bound`, with the path on the left. */
  | { kind: "range"; path: PathNode; op: RangeOp; bound: number | bigint };

export type RangeOp = ">" | ">=" | "<" | "<=";

/** `100 < total` is `total > 100`. */
const FLIPPED: Readonly<Record<RangeOp, RangeOp>> = { ">": "<", ">=": "<=", "<": ">", "<=": ">=" };

/** A key under which equal JSON scalars meet: `100`, `100.0` and `100n` share one. */
export function valueKey(value: JsonValue): string | undefined {
  switch (typeof value) {
    case "string":
      return `s:${value}`;
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `n:${value}`;
    case "number":
      // Integral doubles beyond 2^53 print as 1e+21; spell them out to meet their bigint twins.
      return Number.isInteger(value) && !Number.isSafeInteger(value)
        ? `n:${BigInt(value)}`
        : `n:${value}`;
    default:
      return value === null ? "null" : undefined;
  }
}

/** The index key of a condition, if its first conjunct is an equality the matcher can index. */
export function indexKeyOf(expr: Expr): IndexKey | undefined {
  let first = expr;
  while (first.kind === "and") first = first.left;
  switch (first.kind) {
    case "compare": {
      const { left, right, op } = first;
      if (op === "!=") return undefined;
      const [path, literal, flipped] =
        left.kind === "path" && right.kind === "literal"
          ? [left, right, false]
          : left.kind === "literal" && right.kind === "path"
            ? [right, left, true]
            : [];
      if (!path || !literal) return undefined;
      if (op === "==") return { kind: "equals", path, keys: [valueKey(literal.value) as string] };
      // The parser only lets numbers stand beside an ordering operator.
      const bound = literal.value as number | bigint;
      return { kind: "range", path, op: flipped ? FLIPPED[op as RangeOp] : (op as RangeOp), bound };
    }
    case "in":
      return {
        kind: "equals",
        path: first.subject,
        keys: first.values.map((v) => valueKey(v.value) as string),
      };
    case "call":
      if (first.name === "field_changed_to" || first.name === "field_changed_from") {
        const kind = first.name === "field_changed_to" ? "changed_to" : "changed_from";
        return { kind, path: first.field, keys: [valueKey(first.value?.value ?? null) as string] };
      }
      return undefined;
    default:
      return undefined;
  }
}
