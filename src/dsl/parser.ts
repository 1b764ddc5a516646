import { type ConditionIssue, ConditionSyntaxError } from "../errors.ts";
import {
  type CallNode,
  type CompareOp,
  type Expr,
  FUNCTION_ARITY,
  type FunctionName,
  type LiteralNode,
  MAX_CONDITION_DEPTH,
  MAX_CONDITION_LENGTH,
  type Operand,
  type PathImage,
  type PathNode,
} from "./ast.ts";
import { issueAt, SyntaxIssue, type Token, tokenize } from "./lexer.ts";
import { regexSyntaxProblem } from "./regex.ts";

/** The AST, or the issues that stop the condition from parsing. */
export type ParseResult =
  | { success: true; ast: Expr }
  | { success: false; issues: ConditionIssue[] };

const FUNCTION_NAMES = Object.keys(FUNCTION_ARITY).join(", ");
const COMPARISON_HINT = "==, !=, >, <, >=, <=, in, contains or matches";

/** Parses a condition; never throws. Issues carry the position and text of what is wrong. */
export function parseCondition(source: string): ParseResult {
  try {
    return { success: true, ast: new Parser(source).parse() };
  } catch (error: unknown) {
    if (error instanceof SyntaxIssue) return { success: false, issues: [error.issue] };
    throw error;
  }
}

/** Parses a condition, throwing `ConditionSyntaxError` (carrying the issues) when it is invalid. */
export function parseConditionOrThrow(source: string): Expr {
  const result = parseCondition(source);
  if (!result.success) throw new ConditionSyntaxError(result.issues);
  return result.ast;
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;
  private depth = 0;
  private readonly source: string;

  constructor(source: string) {
    this.source = source;
    if (typeof source !== "string") {
      throw issueAt("", 0, 0, "the condition must be a string");
    }
    const bytes = new TextEncoder().encode(source).length;
    if (bytes > MAX_CONDITION_LENGTH) {
      throw issueAt(
        source,
        0,
        source.length,
        `the condition is ${bytes} bytes long; the limit is ${MAX_CONDITION_LENGTH}`,
      );
    }
    this.tokens = tokenize(source);
  }

  parse(): Expr {
    if (this.peek().kind === "eof") {
      throw issueAt(
        this.source,
        0,
        0,
        "the condition is empty: write an expression such as total > 100",
      );
    }
    const expr = this.parseOr();
    const rest = this.peek();
    if (rest.kind !== "eof") {
      const hint =
        rest.kind === ")" ? "there is no '(' to match this ')'" : "expected && or || before it";
      throw this.error(
        rest,
        `unexpected ${this.describe(rest)} after a complete condition: ${hint}`,
      );
    }
    return expr;
  }

  private peek(): Token {
    return this.tokens[this.index] as Token;
  }

  private next(): Token {
    const token = this.tokens[this.index] as Token;
    if (token.kind !== "eof") this.index++;
    return token;
  }

  private text(token: Token): string {
    return this.source.slice(token.start, token.end);
  }

  private describe(token: Token): string {
    return token.kind === "eof" ? "end of condition" : `'${this.text(token)}'`;
  }

  private error(token: Token, message: string): SyntaxIssue {
    return issueAt(this.source, token.start, token.end, message);
  }

  private enter(token: Token): void {
    this.depth++;
    if (this.depth > MAX_CONDITION_DEPTH) {
      throw this.error(token, `the condition nests deeper than ${MAX_CONDITION_DEPTH} levels`);
    }
  }

  private parseOr(): Expr {
    return this.parseChain("or", () => this.parseAnd());
  }

  private parseAnd(): Expr {
    return this.parseChain("and", () => this.parseUnary());
  }

  /** `operand (op operand)*`, left-associative. */
  private parseChain(kind: "and" | "or", operand: () => Expr): Expr {
    let left = operand();
    while (this.peek().kind === kind) {
      this.next();
      const right = operand();
      left = { kind, left, right, span: { start: left.span.start, end: right.span.end } };
    }
    return left;
  }

  private parseUnary(): Expr {
    const token = this.peek();
    if (token.kind !== "not") return this.parsePrimary();
    this.next();
    this.enter(token);
    const operand = this.parseUnary();
    this.depth--;
    return { kind: "not", operand, span: { start: token.start, end: operand.span.end } };
  }

  private parsePrimary(): Expr {
    const token = this.peek();
    if (token.kind === "(") {
      this.next();
      this.enter(token);
      const inner = this.parseOr();
      const close = this.next();
      if (close.kind !== ")") {
        throw this.error(
          close,
          `expected ')' to close the '(' at position ${token.start}, found ${this.describe(close)}`,
        );
      }
      this.depth--;
      // The parenthesised node spans its parentheses, so its text reads as a whole.
      return { ...inner, span: { start: token.start, end: close.end } };
    }
    if (token.kind === "path" && this.tokens[this.index + 1]?.kind === "(") {
      return this.parseCall();
    }
    if (isOperandStart(token)) return this.parseComparison();
    throw this.error(
      token,
      `expected a comparison, a function or '(', found ${this.describe(token)}`,
    );
  }

  private parseComparison(): Expr {
    const left = this.parseOperand();
    const opToken = this.next();
    switch (opToken.kind) {
      case "op": {
        const op = opToken.value as CompareOp;
        const right = this.parseOperand();
        if (op !== "==" && op !== "!=") {
          for (const side of [left, right]) this.requireNumeric(side, op);
        }
        return {
          kind: "compare",
          op,
          left,
          right,
          span: { start: left.span.start, end: right.span.end },
        };
      }
      case "in": {
        const subject = this.requirePath(left, "in");
        const open = this.next();
        if (open.kind !== "[") {
          throw this.error(
            open,
            `'in' takes a list in brackets, such as ['a', 'b'], found ${this.describe(open)}`,
          );
        }
        const values: LiteralNode[] = [];
        while (this.peek().kind !== "]") {
          values.push(this.parseLiteral("a list item"));
          if (this.peek().kind === ",") this.next();
          else if (this.peek().kind !== "]") {
            throw this.error(
              this.peek(),
              `expected ',' or ']' in the list, found ${this.describe(this.peek())}`,
            );
          }
        }
        const close = this.next();
        if (values.length === 0) throw this.error(close, "the list after 'in' is empty");
        return { kind: "in", subject, values, span: { start: left.span.start, end: close.end } };
      }
      case "contains": {
        const subject = this.requirePath(left, "contains");
        const value = this.parseLiteral("the value after 'contains'");
        return {
          kind: "contains",
          subject,
          value,
          span: { start: left.span.start, end: value.span.end },
        };
      }
      case "matches": {
        const subject = this.requirePath(left, "matches");
        const pattern = this.parseLiteral("the pattern after 'matches'");
        if (typeof pattern.value !== "string") {
          throw issueAt(
            this.source,
            pattern.span.start,
            pattern.span.end,
            "'matches' takes a regular expression in quotes",
          );
        }
        const problem = regexSyntaxProblem(pattern.value);
        if (problem) {
          throw issueAt(
            this.source,
            pattern.span.start,
            pattern.span.end,
            `invalid regular expression: ${problem}`,
          );
        }
        return {
          kind: "matches",
          subject,
          pattern: pattern as LiteralNode & { value: string },
          span: { start: left.span.start, end: pattern.span.end },
        };
      }
      default: {
        const written = this.source.slice(left.span.start, left.span.end);
        let hint = "";
        if (opToken.kind === "not") {
          hint = ` (to negate, put NOT in front: NOT ${written} ${this.text(this.tokens[this.index] as Token)} ...)`;
        } else if (left.kind === "path") {
          hint = ` (to test a boolean field, write ${written} == true)`;
        }
        throw this.error(
          opToken,
          `expected ${COMPARISON_HINT} after '${written}', found ${this.describe(opToken)}${hint}`,
        );
      }
    }
  }

  private requireNumeric(side: Operand, op: CompareOp): void {
    if (
      side.kind === "literal" &&
      typeof side.value !== "number" &&
      typeof side.value !== "bigint"
    ) {
      throw issueAt(
        this.source,
        side.span.start,
        side.span.end,
        `'${op}' compares numbers, but ${this.source.slice(side.span.start, side.span.end)} is not a number`,
      );
    }
  }

  private requirePath(operand: Operand, keyword: string): PathNode {
    if (operand.kind === "path") return operand;
    throw issueAt(
      this.source,
      operand.span.start,
      operand.span.end,
      `the left side of '${keyword}' must be a field, not a literal`,
    );
  }

  private parseOperand(): Operand {
    const token = this.peek();
    if (token.kind === "path") {
      this.next();
      return toPath(token.value as string[], token.start, token.end);
    }
    return this.parseLiteral("a field or a value");
  }

  private parseLiteral(what: string): LiteralNode {
    const token = this.next();
    const span = { start: token.start, end: token.end };
    switch (token.kind) {
      case "string":
      case "number":
        return { kind: "literal", value: token.value as string | number | bigint, span };
      case "true":
      case "false":
        return { kind: "literal", value: token.kind === "true", span };
      case "null":
        return { kind: "literal", value: null, span };
      default: {
        const hint = token.kind === "path" ? " (strings need quotes)" : "";
        throw this.error(token, `expected ${what}, found ${this.describe(token)}${hint}`);
      }
    }
  }

  private parseCall(): CallNode {
    const nameToken = this.next();
    const name = (nameToken.value as string[]).join(".");
    if (!Object.hasOwn(FUNCTION_ARITY, name)) {
      throw this.error(
        nameToken,
        `unknown function '${name}': the functions are ${FUNCTION_NAMES}`,
      );
    }
    const fn = name as FunctionName;
    const arity = FUNCTION_ARITY[fn];
    this.next(); // "("
    const args: LiteralNode[] = [];
    while (this.peek().kind !== ")") {
      const token = this.peek();
      if (args.length === 0 && token.kind !== "string") {
        const hint = token.kind === "path" ? `: write ${name}('${this.text(token)}')` : "";
        throw this.error(token, `${name} takes the field name in quotes${hint}`);
      }
      if (args.length >= arity) {
        throw this.error(token, `${name} takes ${arity} argument${arity === 1 ? "" : "s"}`);
      }
      args.push(this.parseLiteral(`an argument of ${name}`));
      if (this.peek().kind === ",") this.next();
      else if (this.peek().kind !== ")") {
        throw this.error(
          this.peek(),
          `expected ',' or ')' in the arguments of ${name}, found ${this.describe(this.peek())}`,
        );
      }
    }
    const close = this.next();
    if (args.length !== arity) {
      throw issueAt(
        this.source,
        nameToken.start,
        close.end,
        `${name} takes ${arity} argument${arity === 1 ? "" : "s"}, got ${args.length}`,
      );
    }
    const fieldArg = args[0] as LiteralNode;
    const field = this.fieldFromString(fieldArg, fn);
    const span = { start: nameToken.start, end: close.end };
    const call: CallNode = { kind: "call", name: fn, field, span };
    if (args[1]) call.value = args[1];
    return call;
  }

  /** A function's field argument is a quoted path; its position points inside the quotes. */
  private fieldFromString(arg: LiteralNode, fn: FunctionName): PathNode {
    const text = arg.value as string;
    const fail = (message: string) => issueAt(this.source, arg.span.start, arg.span.end, message);
    let tokens: Token[];
    try {
      tokens = tokenize(text);
    } catch {
      throw fail(`'${text}' is not a field name`);
    }
    const [only, eof] = tokens;
    if (
      only?.kind !== "path" ||
      eof?.kind !== "eof" ||
      only.start !== 0 ||
      only.end !== text.length
    ) {
      throw fail(`'${text}' is not a field name`);
    }
    const path = toPath(only.value as string[], arg.span.start + 1, arg.span.end - 1);
    if (fn !== "has_field" && path.image !== "data") {
      throw fail(
        `${fn} compares the old and new values itself: name the field without '${path.image}.'`,
      );
    }
    return path;
  }
}

function isOperandStart(token: Token): boolean {
  return ["path", "string", "number", "true", "false", "null"].includes(token.kind);
}

function toPath(segments: string[], start: number, end: number): PathNode {
  const [head, ...rest] = segments;
  const image: PathImage = rest.length > 0 && (head === "old" || head === "new") ? head : "data";
  return {
    kind: "path",
    image,
    segments: image === "data" ? segments : rest,
    span: { start, end },
  };
}
