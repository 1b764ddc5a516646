import { RE2JS } from "re2js";

/**
 * `matches` runs on RE2 (re2js, pure JavaScript): matching time is linear in the input, so no
 * pattern can backtrack catastrophically, and it runs on every runtime (Workers included, which
 * forbid code generation). `.` matches newlines too, as it does in PostgreSQL's `~`.
 */
export interface CompiledRegex {
  test(input: string): boolean;
}

/** Compiles (or reuses) an RE2 pattern with `.` matching newlines. */
export function compileRegex(pattern: string): CompiledRegex {
  let regex = recent.get(pattern);
  if (regex === undefined) {
    regex = RE2JS.compile(pattern, RE2JS.DOTALL);
    if (recent.size >= RECENT_LIMIT) recent.delete(recent.keys().next().value as string);
    recent.set(pattern, regex);
  }
  return regex;
}

/** Parsing checks a pattern and compiling the condition then needs it: keep recent ones. */
const RECENT_LIMIT = 256;
const recent = new Map<string, CompiledRegex>();

/** Why the pattern does not compile, or undefined when it does. */
export function regexSyntaxProblem(pattern: string): string | undefined {
  try {
    compileRegex(pattern);
    return undefined;
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    return message.replace(/^error parsing regexp: /, "");
  }
}

const PLAIN_ESCAPES = new Set(".^$|?*+()[]{}\\/-".split(""));
const ESCAPES_SAME_IN_BOTH = new Set(["n", "t", "r"]);
/** PostgreSQL caps bounded repetition at 255 (RE_DUP_MAX). */
const PG_MAX_REPEAT = 255;

/**
 * Says why a pattern that RE2 accepts may not mean the same in PostgreSQL's regex engine, or
 * undefined when it uses only the syntax the two share: literals, `.`, anchors, classes without
 * named sets, groups, alternation and quantifiers (greedy or lazy) on something to repeat.
 */
export function sqlRegexProblem(pattern: string): string | undefined {
  // What the previous item was: a quantifier needs something to repeat, and may be made lazy once.
  let previous: "nothing" | "atom" | "quantifier" | "lazy" = "nothing";
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === "*" || ch === "+" || ch === "?" || ch === "{") {
      if (ch === "?" && previous === "quantifier") {
        previous = "lazy";
        i++;
        continue;
      }
      if (previous !== "atom") {
        return `'${ch}' must follow something to repeat in PostgreSQL (group an anchor to repeat it: (^)*)`;
      }
      previous = "quantifier";
      if (ch !== "{") {
        i++;
        continue;
      }
      const match = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (!match) return "a '{' that is not a repetition count must be escaped for PostgreSQL";
      const counts = [match[1], match[3]].filter((n) => n !== undefined && n !== "").map(Number);
      if (counts.some((n) => n > PG_MAX_REPEAT)) {
        return `PostgreSQL limits repetition counts to ${PG_MAX_REPEAT}`;
      }
      i += match[0].length;
      continue;
    }
    if (ch === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!PLAIN_ESCAPES.has(next) && !ESCAPES_SAME_IN_BOTH.has(next)) {
        return `the escape \\${next} means something else (or depends on the locale) in PostgreSQL`;
      }
      previous = "atom";
      i += 2;
    } else if (ch === "(") {
      if (pattern.startsWith("(?i)", i)) {
        return "case-insensitive matching folds Unicode letters differently in PostgreSQL (RE2 matches 'ſ' for s and 'K' for k): spell out the cases, e.g. [Ss]";
      }
      if (pattern[i + 1] === "?" && pattern[i + 2] !== ":") {
        return "flags and special groups differ in PostgreSQL";
      }
      previous = "nothing";
      i += pattern[i + 1] === "?" ? 3 : 1;
    } else if (ch === "^" || ch === "$" || ch === "|") {
      previous = "nothing";
      i++;
    } else if (ch === "[") {
      const end = scanClass(pattern, i);
      if (typeof end === "string") return end;
      previous = "atom";
      i = end;
    } else {
      // A literal, '.', or ')' closing a group: all repeatable.
      previous = "atom";
      i++;
    }
  }
  return undefined;
}

function scanClass(pattern: string, start: number): number | string {
  let i = start + 1;
  if (pattern[i] === "^") i++;
  if (pattern[i] === "]")
    return "a ']' first in a class is read differently by PostgreSQL: escape it as \\]";
  while (i < pattern.length && pattern[i] !== "]") {
    if (pattern[i] === "[")
      return "nested '[' and named classes like [:alpha:] differ in PostgreSQL";
    if (pattern[i] === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!PLAIN_ESCAPES.has(next) && !ESCAPES_SAME_IN_BOTH.has(next)) {
        return `the escape \\${next} inside a class differs in PostgreSQL`;
      }
      i++;
    }
    i++;
  }
  return i + 1;
}
