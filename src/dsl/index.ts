export type * from "./ast.ts";
export { MAX_CONDITION_DEPTH, MAX_CONDITION_LENGTH, pathText } from "./ast.ts";
export { type CompiledCondition, compileCondition, safeCompileCondition } from "./evaluator.ts";
export {
  type ExplainedValue,
  type ExplainResult,
  type ExplainStep,
  explainCondition,
} from "./explain.ts";
export { type ParseResult, parseCondition } from "./parser.ts";
export { printCondition } from "./printer.ts";
export {
  type ChangeLogSqlImages,
  type ConditionSql,
  type ConditionSqlOptions,
  changeLogSqlImages,
  conditionToSql,
} from "./sql.ts";
