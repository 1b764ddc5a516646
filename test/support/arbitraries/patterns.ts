/**
 * Regular-expression patterns for `matches`: all valid RE2, grouped by whether PostgreSQL's `~`
 * gives them the same meaning.
 */

/** Patterns RE2 accepts whose meaning PostgreSQL's `~` shares (conditionToSql compiles them). */
export const PORTABLE_PATTERNS: readonly string[] = [
  "^a",
  "b$",
  "a.c",
  "[a-c]+",
  "(ab|cd)",
  "x{2,3}",
  "(a|b)+?",
  "^$",
  "^(open|closed)$",
  "[^a]",
  "\\.",
  "a\\nc",
  "it's",
  "o",
];
/** Patterns RE2 accepts that conditionToSql must refuse (no identical PostgreSQL form). */
export const NON_PORTABLE_PATTERNS: readonly string[] = [
  "\\d",
  "\\d+",
  "(?i)ab",
  "^*",
  "$+",
  "\\w",
  "\\bx",
  "[[:alpha:]]",
  "(?s)a",
  "a{300}",
  "\\pL",
];
/** Other valid RE2 patterns: quotes, backslashes and non-ASCII, for the parser and evaluator. */
export const OTHER_PATTERNS: readonly string[] = [
  "",
  "\\\\",
  "\\'",
  "'\\\\'",
  "😀+",
  "日本",
  "\\p{Greek}",
  "(?i)straße",
  "[\\s\\S]",
  "a*?",
];
export const ALL_PATTERNS: readonly string[] = [
  ...PORTABLE_PATTERNS,
  ...NON_PORTABLE_PATTERNS,
  ...OTHER_PATTERNS,
];
