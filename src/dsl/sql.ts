import type { ConditionIssue } from "../errors.ts";
import type { JsonPrimitive } from "../json.ts";
import type { CompareOp, Expr, LiteralNode, Operand, PathNode, Span } from "./ast.ts";
import { applyCompare } from "./operations.ts";
import { parseCondition } from "./parser.ts";
import { sqlRegexProblem } from "./regex.ts";

/** SQL expressions for what a condition reads from a change-log row. */
export interface ChangeLogSqlImages {
  /** The row a plain field reads: the after-image, or the before-image for deletes (jsonb). */
  data: string;
  before: string;
  after: string;
  /** The event type in upper case (text). */
  eventType: string;
}

/** Where the predicate will sit in the surrounding query. */
export interface ConditionSqlOptions {
  /** Alias of `core.tb_entity_change_log` in the surrounding query (default `e`). */
  alias?: string;
  /** Parameters the surrounding query already uses; ours start at `$(offset + 1)` (default 0). */
  parameterOffset?: number;
  /** Replaces the default image expressions, e.g. with columns of a LATERAL subquery. */
  images?: ChangeLogSqlImages;
}

/** The predicate and its parameters, or why the condition has no faithful SQL form. */
export type ConditionSql =
  | {
      success: true;
      /** A boolean SQL expression: TRUE where the condition is true, FALSE where false, NULL where it errors. */
      sql: string;
      /** Parameters for the `$n` placeholders, in order; all text (each placeholder casts its own). */
      params: string[];
    }
  | { success: false; issues: ConditionIssue[] };

/**
 * The default image expressions over a change-log row, reading both the Debezium envelope and
 * the FraiseQL producer form exactly as `normalizeChangeEvent` does.
 */
export function changeLogSqlImages(alias = "e"): ChangeLogSqlImages {
  const a = `"${alias.replaceAll('"', '""')}"`;
  const eventType = `upper(${a}.modification_type)`;
  const envelope = `(jsonb_typeof(${a}.object_data) = 'object' AND ${a}.object_data ->> 'op' IN ('c', 'u', 'd', 'r') AND ${a}.object_data -> 'before' IS NOT NULL AND ${a}.object_data -> 'after' IS NOT NULL)`;
  const plain = `NULLIF(${a}.object_data, 'null')`;
  const pre = `NULLIF(${a}.object_data_before, 'null')`;
  const isDelete = `${eventType} = 'DELETE'`;
  const before = `(CASE WHEN ${envelope} THEN NULLIF(${a}.object_data -> 'before', 'null') WHEN ${isDelete} THEN COALESCE(${pre}, ${plain}) ELSE ${pre} END)`;
  const after = `(CASE WHEN ${envelope} THEN NULLIF(${a}.object_data -> 'after', 'null') WHEN ${isDelete} THEN NULL ELSE ${plain} END)`;
  const data = `(CASE WHEN ${envelope} THEN NULLIF(${a}.object_data -> (CASE WHEN ${isDelete} THEN 'before' ELSE 'after' END), 'null') WHEN ${isDelete} THEN COALESCE(${pre}, ${plain}) ELSE ${plain} END)`;
  return { data, before, after, eventType };
}

/**
 * Compiles a condition to a parameterised SQL predicate over a change-log row, with the same
 * three outcomes as the evaluator (NULL standing for "cannot be evaluated"). Says precisely which
 * part of the condition has no faithful SQL form when it cannot.
 */
export function conditionToSql(source: string, options: ConditionSqlOptions = {}): ConditionSql {
  const parsed = parseCondition(source);
  if (!parsed.success) return parsed;
  const compiler = new SqlCompiler(source, options);
  const root = compiler.expr(parsed.ast);
  if (compiler.issues.length > 0) return { success: false, issues: compiler.issues };
  return { success: true, sql: root.sql, params: compiler.params };
}

interface Fragment {
  sql: string;
  /** Whether the fragment can be NULL (the evaluator would raise an error). */
  nullable: boolean;
}

const SQL_OPERATOR: Readonly<Record<CompareOp, string>> = {
  "==": "=",
  "!=": "<>",
  ">": ">",
  "<": "<",
  ">=": ">=",
  "<=": "<=",
};

class SqlCompiler {
  readonly params: string[] = [];
  readonly issues: ConditionIssue[] = [];
  private readonly paramIndex = new Map<string, number>();
  private readonly images: ChangeLogSqlImages;
  private readonly offset: number;

  private readonly source: string;

  constructor(source: string, options: ConditionSqlOptions) {
    this.source = source;
    this.images = options.images ?? changeLogSqlImages(options.alias);
    this.offset = options.parameterOffset ?? 0;
  }

  expr(expr: Expr): Fragment {
    switch (expr.kind) {
      case "and":
      case "or": {
        const left = this.expr(expr.left);
        const right = this.expr(expr.right);
        const nullable = left.nullable || right.nullable;
        if (!left.nullable)
          return { sql: `(${left.sql} ${expr.kind.toUpperCase()} ${right.sql})`, nullable };
        // Left to right, as the evaluator: an error (NULL) on the left decides, even if the right would.
        const sql =
          expr.kind === "and"
            ? `(CASE ${left.sql} WHEN FALSE THEN FALSE WHEN TRUE THEN ${right.sql} END)`
            : `(CASE ${left.sql} WHEN TRUE THEN TRUE WHEN FALSE THEN ${right.sql} END)`;
        return { sql, nullable };
      }
      case "not": {
        const operand = this.expr(expr.operand);
        return { sql: `(NOT ${operand.sql})`, nullable: operand.nullable };
      }
      case "compare":
        return this.compare(expr.op, expr.left, expr.right, expr.span);
      case "in": {
        const subject = this.path(expr.subject);
        const list = expr.values.map((literal) => this.jsonb(literal)).join(", ");
        return { sql: `(${subject} IN (${list}))`, nullable: true };
      }
      case "contains": {
        const value = this.path(expr.subject);
        const needle = expr.value;
        const inArray = `WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(${value}) AS element(value) WHERE element.value = ${this.jsonb(needle)})`;
        const inString =
          typeof needle.value === "string"
            ? `WHEN 'string' THEN strpos(${value} #>> '{}', ${this.text(needle.value, needle.span)}) > 0 `
            : "";
        return { sql: `(CASE jsonb_typeof(${value}) ${inString}${inArray} END)`, nullable: true };
      }
      case "matches": {
        const problem = sqlRegexProblem(expr.pattern.value);
        if (problem)
          this.unsupported(
            expr.pattern.span,
            `this pattern has no identical PostgreSQL form: ${problem}`,
          );
        const value = this.path(expr.subject);
        const pattern = this.text(expr.pattern.value, expr.pattern.span);
        return {
          sql: `(CASE WHEN jsonb_typeof(${value}) = 'string' THEN (${value} #>> '{}') ~ ${pattern} END)`,
          nullable: true,
        };
      }
      case "call": {
        if (expr.name === "has_field")
          return { sql: `(${this.path(expr.field)} IS NOT NULL)`, nullable: false };
        const { before, after, eventType } = this.images;
        const path = this.param(pathArray(expr.field.segments), "text[]");
        const old = `(${before} #> ${path})`;
        const next = `(${after} #> ${path})`;
        let body = `${old} IS DISTINCT FROM ${next}`;
        if (expr.value) {
          const compared = expr.name === "field_changed_to" ? next : old;
          body += ` AND COALESCE(${compared} = ${this.jsonb(expr.value)}, FALSE)`;
        }
        return {
          sql: `(CASE WHEN ${eventType} <> 'UPDATE' THEN FALSE WHEN ${before} IS NULL THEN NULL ELSE (${body}) END)`,
          nullable: true,
        };
      }
    }
  }

  private compare(op: CompareOp, left: Operand, right: Operand, span: Span): Fragment {
    if (left.kind === "literal" && right.kind === "literal") {
      const node = { kind: "compare", op, left, right, span } as const;
      return {
        sql: applyCompare(node, left.value, right.value) ? "TRUE" : "FALSE",
        nullable: false,
      };
    }
    if (op === "==" || op === "!=") {
      return {
        sql: `(${this.jsonOperand(left)} ${SQL_OPERATOR[op]} ${this.jsonOperand(right)})`,
        nullable: true,
      };
    }
    const guards: string[] = [];
    const numeric = (operand: Operand): string => {
      if (operand.kind === "literal") return this.param(String(operand.value), "numeric");
      const value = this.path(operand);
      guards.push(`jsonb_typeof(${value}) = 'number'`);
      return `(${value})::numeric`;
    };
    const l = numeric(left);
    const r = numeric(right);
    return {
      sql: `(CASE WHEN ${guards.join(" AND ")} THEN ${l} ${SQL_OPERATOR[op]} ${r} END)`,
      nullable: true,
    };
  }

  private jsonOperand(operand: Operand): string {
    return operand.kind === "path" ? this.path(operand) : this.jsonb(operand);
  }

  private path(path: PathNode): string {
    const image =
      path.image === "old"
        ? this.images.before
        : path.image === "new"
          ? this.images.after
          : this.images.data;
    return `(${image} #> ${this.param(pathArray(path.segments), "text[]")})`;
  }

  private jsonb(literal: LiteralNode): string {
    if (typeof literal.value === "string") this.checkText(literal.value, literal.span);
    return this.param(jsonText(literal.value), "jsonb");
  }

  private text(value: string, span: Span): string {
    this.checkText(value, span);
    return this.param(value, "text");
  }

  private checkText(value: string, span: Span): void {
    if (value.includes("\u0000"))
      this.unsupported(span, "PostgreSQL text cannot hold the NUL character");
  }

  private param(value: string, type: string): string {
    const key = `${type}:${value}`;
    let index = this.paramIndex.get(key);
    if (index === undefined) {
      this.params.push(value);
      index = this.offset + this.params.length;
      this.paramIndex.set(key, index);
    }
    // Declared text first so every driver sends the string as is (postgres.js would otherwise
    // serialise a string bound to a jsonb parameter as JSON a second time).
    return type === "text" ? `$${index}::text` : `$${index}::text::${type}`;
  }

  private unsupported(span: Span, message: string): void {
    this.issues.push({
      message,
      position: span.start,
      length: span.end - span.start,
      text: this.source.slice(span.start, span.end),
    });
  }
}

function jsonText(value: JsonPrimitive): string {
  return typeof value === "bigint" ? value.toString() : JSON.stringify(value);
}

/** A PostgreSQL array literal of path segments, each quoted. */
function pathArray(segments: readonly string[]): string {
  return `{${segments.map((s) => `"${s.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}
