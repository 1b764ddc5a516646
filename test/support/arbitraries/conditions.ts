/** Whole condition ASTs, built from the paths, literals and patterns beside this file. */
import fc from "fast-check";
import type {
  CallNode,
  CompareOp,
  Expr,
  FunctionName,
  JsonPrimitive,
  Operand,
  PathNode,
} from "../../../src/index.ts";
import { anyLiteralValueArb, anyNumberArb } from "./literals.ts";
import { literalNode, NO_SPAN } from "./nodes.ts";
import { pathArb } from "./paths.ts";
import { ALL_PATTERNS } from "./patterns.ts";

export const COMPARE_OPS: readonly CompareOp[] = ["==", "!=", ">", "<", ">=", "<="];
const ORDERING_OPS: readonly CompareOp[] = [">", "<", ">=", "<="];

export interface ConditionArbOptions {
  /** Paths for operands, subjects and `has_field` (default: `pathArb()`). */
  path?: fc.Arbitrary<PathNode>;
  /** Paths for `field_changed*`, which must read the `data` image (default: data paths). */
  changePath?: fc.Arbitrary<PathNode>;
  /** Literal values (default: `anyLiteralValueArb`). */
  literal?: fc.Arbitrary<JsonPrimitive>;
  /** Number literal values for the ordering operators (default: `anyNumberArb`). */
  number?: fc.Arbitrary<number | bigint>;
  /** `matches` patterns; they must be valid RE2 (default: `ALL_PATTERNS`). */
  pattern?: fc.Arbitrary<string>;
  /** Nesting depth of `&&`, `||` and `!` (default 6). */
  maxDepth?: number;
}

/** Condition ASTs covering every node kind, as the parser could produce them. */
export function conditionArb(options: ConditionArbOptions = {}): fc.Arbitrary<Expr> {
  const path = options.path ?? pathArb();
  const changePath = options.changePath ?? pathArb({ images: ["data"] });
  const literal = (options.literal ?? anyLiteralValueArb).map(literalNode);
  const number = (options.number ?? anyNumberArb).map(literalNode);
  const pattern = options.pattern ?? fc.constantFrom(...ALL_PATTERNS);
  const maxDepth = options.maxDepth ?? 6;

  const operand: fc.Arbitrary<Operand> = fc.oneof(
    { weight: 3, arbitrary: path },
    { weight: 2, arbitrary: literal },
  );
  const numericOperand: fc.Arbitrary<Operand> = fc.oneof(
    { weight: 3, arbitrary: path },
    { weight: 2, arbitrary: number },
  );
  const equality = fc
    .tuple(fc.constantFrom<CompareOp>("==", "!="), operand, operand)
    .map(([op, left, right]): Expr => ({ kind: "compare", op, left, right, span: NO_SPAN }));
  const ordering = fc
    .tuple(fc.constantFrom(...ORDERING_OPS), numericOperand, numericOperand)
    .map(([op, left, right]): Expr => ({ kind: "compare", op, left, right, span: NO_SPAN }));
  const inList = fc
    .tuple(path, fc.array(literal, { minLength: 1, maxLength: 4 }))
    .map(([subject, values]): Expr => ({ kind: "in", subject, values, span: NO_SPAN }));
  const contains = fc
    .tuple(path, literal)
    .map(([subject, value]): Expr => ({ kind: "contains", subject, value, span: NO_SPAN }));
  const matches = fc.tuple(path, pattern).map(
    ([subject, value]): Expr => ({
      kind: "matches",
      subject,
      pattern: { kind: "literal", value, span: NO_SPAN },
      span: NO_SPAN,
    }),
  );
  const call = fc.oneof(
    path.map((field): Expr => ({ kind: "call", name: "has_field", field, span: NO_SPAN })),
    changePath.map(
      (field): Expr => ({ kind: "call", name: "field_changed", field, span: NO_SPAN }),
    ),
    fc
      .tuple(
        fc.constantFrom<FunctionName>("field_changed_to", "field_changed_from"),
        changePath,
        literal,
      )
      .map(([name, field, value]): Expr => {
        const node: CallNode = { kind: "call", name, field, value, span: NO_SPAN };
        return node;
      }),
  );
  const leaf = fc.oneof(
    { weight: 4, arbitrary: equality },
    { weight: 3, arbitrary: ordering },
    { weight: 2, arbitrary: inList },
    { weight: 2, arbitrary: contains },
    { weight: 2, arbitrary: matches },
    { weight: 3, arbitrary: call },
  );
  const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
    expr: fc.oneof(
      { maxDepth, depthSize: "small", depthIdentifier: "condition", withCrossShrink: true },
      { weight: 3, arbitrary: leaf },
      {
        weight: 1,
        arbitrary: tie("expr").map((operand): Expr => ({ kind: "not", operand, span: NO_SPAN })),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom("and" as const, "or" as const), tie("expr"), tie("expr"))
          .map(([kind, left, right]): Expr => ({ kind, left, right, span: NO_SPAN })),
      },
    ),
  }));
  return expr;
}
