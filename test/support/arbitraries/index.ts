/**
 * fast-check generators shared by the property tests: condition ASTs (src/dsl/ast.ts), change events
 * (src/events/types.ts), change-log rows (as a driver returns them, and as JSON text to insert into
 * PostgreSQL), and the helpers that go with them.
 *
 * This file only re-exports; each generator lives in the file named for its role:
 * - nodes.ts: placeholder spans, `stripSpans`, node builders and `walkExpr`
 * - paths.ts: identifiers (keywords and their near-misses) and paths
 * - literals.ts: literal values as the parser normalises them
 * - patterns.ts: `matches` patterns, portable to PostgreSQL or not
 * - conditions.ts: whole condition ASTs
 * - json.ts: JSON values and change events in memory
 * - modification-types.ts: the change log's `modification_type` column and what it maps to
 * - near-valid-rows.ts: change-log rows as a driver hands them over, valid or nearly so
 * - sql-vocabulary.ts: number texts, strings and field paths rows and SQL-test conditions share
 * - json-text.ts: JSON as text for PostgreSQL, numbers as written
 * - rows.ts: change-log rows as text to insert into PostgreSQL
 */
export { COMPARE_OPS, type ConditionArbOptions, conditionArb } from "./conditions.ts";
export { changeEventArb, FIELD_KEYS, jsonObjectArb, jsonValueArb } from "./json.ts";
export { type JsonText, jsonTextArb, NumberText, toJsonText } from "./json-text.ts";
export {
  anyLiteralValueArb,
  anyNumberArb,
  anyStringArb,
  canonicalNumber,
  numberValueOfText,
  unsafeBigIntArb,
} from "./literals.ts";
export { modificationTypeArb } from "./modification-types.ts";
export { nearValidRowArb, stringifyJson } from "./near-valid-rows.ts";
export { literalNode, NO_SPAN, pathNode, stripSpans, walkExpr } from "./nodes.ts";
export {
  ASTRAL_LETTERS,
  anyIdentifierArb,
  identifierArb,
  isKeyword,
  laterSegmentArb,
  pathArb,
} from "./paths.ts";
export {
  ALL_PATTERNS,
  NON_PORTABLE_PATTERNS,
  OTHER_PATTERNS,
  PORTABLE_PATTERNS,
} from "./patterns.ts";
export {
  type ChangeLogRowText,
  changeLogRowTextArb,
  entityTextArb,
  imagePairArb,
} from "./rows.ts";
export {
  COMMON_STRINGS,
  FIELD_VOCABULARY,
  portableNumberTextArb,
  SQL_STRINGS,
  sqlLiteralArb,
  sqlStringArb,
  vocabularyPathArb,
} from "./sql-vocabulary.ts";
