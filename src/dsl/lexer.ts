import type { ConditionIssue } from "../errors.ts";
import { parseJsonNumber } from "../json.ts";
import type { CompareOp } from "./ast.ts";

/** What a token is. */
export type TokenKind =
  | "("
  | ")"
  | "["
  | "]"
  | ","
  | "and"
  | "or"
  | "not"
  | "in"
  | "contains"
  | "matches"
  | "op"
  | "string"
  | "number"
  | "true"
  | "false"
  | "null"
  | "path"
  | "eof";

/** One token and where it is in the source. */
export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
  /** Decoded string contents, parsed number, comparison operator, or path segments. */
  value?: string | number | bigint | CompareOp | string[];
}

/** Thrown inside the lexer and parser; `parseCondition` turns it into an issue. */
export class SyntaxIssue extends Error {
  readonly issue: ConditionIssue;
  constructor(issue: ConditionIssue) {
    super(issue.message);
    this.issue = issue;
  }
}

/** A syntax issue over `source[start, end)`. */
export function issueAt(source: string, start: number, end: number, message: string): SyntaxIssue {
  return new SyntaxIssue({
    message,
    position: start,
    length: end - start,
    text: source.slice(start, end),
  });
}

/** Keywords are case-insensitive; they only count as keywords when not part of a dotted path. */
const KEYWORDS: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  ["and", "and"],
  ["or", "or"],
  ["not", "not"],
  ["in", "in"],
  ["contains", "contains"],
  ["matches", "matches"],
  ["true", "true"],
  ["false", "false"],
  ["null", "null"],
]);

const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{N}_]/u;
const DIGIT = /[0-9]/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SEGMENT_DIGITS = /[0-9]+/y;

function isWhitespace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r";
}

/** Splits a condition into tokens. Throws `SyntaxIssue` on the first character it cannot use. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (isWhitespace(ch)) {
      i++;
      continue;
    }
    const start = i;
    const next = source[i + 1];
    switch (ch) {
      case "(":
      case ")":
      case "[":
      case "]":
      case ",":
        tokens.push({ kind: ch, start, end: i + 1 });
        i++;
        continue;
      case "&":
      case "|":
        if (next !== ch) {
          throw issueAt(
            source,
            start,
            start + 1,
            `'${ch}' on its own is not an operator: write '${ch}${ch}'`,
          );
        }
        tokens.push({ kind: ch === "&" ? "and" : "or", start, end: i + 2 });
        i += 2;
        continue;
      case "=":
        if (next !== "=") {
          throw issueAt(source, start, start + 1, "'=' is not an operator: write '==' to compare");
        }
        tokens.push({ kind: "op", start, end: i + 2, value: "==" });
        i += 2;
        continue;
      case "!":
        if (next === "=") {
          tokens.push({ kind: "op", start, end: i + 2, value: "!=" });
          i += 2;
        } else {
          tokens.push({ kind: "not", start, end: i + 1 });
          i++;
        }
        continue;
      case "<":
      case ">": {
        if (next === "=") {
          tokens.push({ kind: "op", start, end: i + 2, value: `${ch}=` as CompareOp });
          i += 2;
        } else if (ch === "<" && next === ">") {
          throw issueAt(
            source,
            start,
            start + 2,
            "'<>' is not an operator: write '!=' for 'not equal'",
          );
        } else {
          tokens.push({ kind: "op", start, end: i + 1, value: ch as CompareOp });
          i++;
        }
        continue;
      }
      case "'":
        i = readString(source, i, tokens);
        continue;
      case '"':
        throw issueAt(
          source,
          start,
          start + 1,
          "strings use single quotes: write 'text', not \"text\"",
        );
    }
    if (DIGIT.test(ch) || (ch === "-" && next !== undefined && DIGIT.test(next))) {
      i = readNumber(source, i, tokens);
      continue;
    }
    // Test the whole code point: a letter outside the BMP is two UTF-16 units.
    if (IDENT_START.test(String.fromCodePoint(source.codePointAt(i) ?? 0))) {
      i = readPath(source, i, tokens);
      continue;
    }
    const width = (source.codePointAt(start) ?? 0) > 0xffff ? 2 : 1;
    throw issueAt(
      source,
      start,
      start + width,
      `unexpected character '${source.slice(start, start + width)}'`,
    );
  }
  tokens.push({ kind: "eof", start: source.length, end: source.length });
  return tokens;
}

/** `'...'` with `\'` and `\\` as the only escapes; any other backslash is kept (regex-friendly). */
function readString(source: string, start: number, tokens: Token[]): number {
  let value = "";
  let i = start + 1;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === "'") {
      tokens.push({ kind: "string", start, end: i + 1, value });
      return i + 1;
    }
    if (ch === "\\" && (source[i + 1] === "'" || source[i + 1] === "\\")) {
      value += source[i + 1];
      i += 2;
      continue;
    }
    value += ch;
    i++;
  }
  throw issueAt(
    source,
    start,
    source.length,
    "unterminated string: add the closing ' (write \\' for a quote inside a string)",
  );
}

function readNumber(source: string, start: number, tokens: Token[]): number {
  NUMBER.lastIndex = start;
  const match = NUMBER.exec(source);
  const text = match?.[0] ?? "";
  const end = start + text.length;
  const after = source[end];
  if (text === "" || (after !== undefined && (IDENT_PART.test(after) || after === "."))) {
    let stop = end;
    while (stop < source.length && /[\p{L}\p{N}_.]/u.test(source[stop] as string)) stop++;
    throw issueAt(
      source,
      start,
      stop,
      `'${source.slice(start, stop)}' is not a number (strings need quotes)`,
    );
  }
  const value = parseJsonNumber(text);
  if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY) {
    throw issueAt(source, start, end, `${text} is too large a number`);
  }
  tokens.push({ kind: "number", start, end, value });
  return end;
}

function readIdent(source: string, i: number): number {
  let end = i;
  while (end < source.length) {
    const cp = source.codePointAt(end) as number;
    const ch = String.fromCodePoint(cp);
    if (end === i ? !IDENT_START.test(ch) : !IDENT_PART.test(ch)) break;
    end += ch.length;
  }
  return end;
}

function readPath(source: string, start: number, tokens: Token[]): number {
  const segments: string[] = [];
  let i = start;
  for (;;) {
    const segStart = i;
    let end = readIdent(source, i);
    if (end === i && segments.length > 0) {
      SEGMENT_DIGITS.lastIndex = i;
      const digits = SEGMENT_DIGITS.exec(source);
      if (digits) end = i + digits[0].length;
    }
    if (end === segStart) {
      throw issueAt(
        source,
        segStart - 1,
        segStart,
        "a '.' in a field path must be followed by a field name or an index",
      );
    }
    segments.push(source.slice(segStart, end));
    i = end;
    if (source[i] !== ".") break;
    i++;
  }
  const first = segments[0] as string;
  const keyword = segments.length === 1 ? KEYWORDS.get(first.toLowerCase()) : undefined;
  if (keyword) tokens.push({ kind: keyword, start, end: i });
  else tokens.push({ kind: "path", start, end: i, value: segments });
  return i;
}
