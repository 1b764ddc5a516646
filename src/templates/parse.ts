import type { ConfigIssue } from "../errors.ts";
import { parseTemplatePath, type TemplatePath } from "./path.ts";
import type { TemplateMode } from "./types.ts";

/** A well-formed placeholder, and (in JSON mode) whether it sits inside a JSON string literal. */
export interface Placeholder {
  readonly path: TemplatePath;
  readonly position: number;
  readonly inString: boolean;
}

/** Literal text and placeholders, in source order. */
export type TemplatePart = string | Placeholder;

/** What scanning a template finds. */
export interface ScannedTemplate {
  readonly parts: TemplatePart[];
  readonly issues: ConfigIssue[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LOWER_U = 0x75;
const LEADING_BLANKS = /^[ \t\r\n]*/;
const PREVIEW_LENGTH = 60;

/**
 * Where the scan is in the JSON grammar, as far as placeholders care: inside a string or not, and
 * how many characters an escape sequence still owes (-1 right after the backslash).
 */
interface JsonState {
  inString: boolean;
  escape: number;
}

function advance(state: JsonState, literal: string): void {
  for (let i = 0; i < literal.length; i++) {
    const code = literal.charCodeAt(i);
    if (!state.inString) {
      if (code === QUOTE) state.inString = true;
    } else if (state.escape === -1) {
      state.escape = code === LOWER_U ? 4 : 0;
    } else if (state.escape > 0) {
      state.escape--;
    } else if (code === BACKSLASH) {
      state.escape = -1;
    } else if (code === QUOTE) {
      state.inString = false;
    }
  }
}

function preview(placeholder: string): string {
  return placeholder.length > PREVIEW_LENGTH
    ? `'${placeholder.slice(0, PREVIEW_LENGTH - 1)}…'`
    : `'${placeholder}'`;
}

/** Parses a placeholder's body (between the braces), or says what is wrong with it. */
function parseBody(source: string, open: number, close: number): TemplatePath | string {
  const body = source.slice(open + 2, close);
  const lead = LEADING_BLANKS.exec(body)?.[0].length ?? 0;
  // A loop, not /\s*$/: that regex is quadratic on a long run of blanks before other text.
  let end = body.length;
  while (end > lead && " \t\r\n".includes(body[end - 1] as string)) end--;
  const start = open + 2 + lead;
  const text = body.slice(lead, end);
  const written = preview(source.slice(open, close + 2));
  if (text === "")
    return `empty placeholder at position ${open} (write a path, e.g. {{ after.id }})`;
  const pipe = text.indexOf("|");
  if (pipe >= 0) {
    return `unsupported filter at position ${start + pipe} in ${written}: a placeholder holds a path only`;
  }
  const path = parseTemplatePath(text, start);
  if ("error" in path)
    return `malformed path at position ${path.position} in ${written}: ${path.error}`;
  return path;
}

/**
 * Splits a template into literals and placeholders. A `{{` always opens a placeholder; a `}}`
 * outside one is literal text, since JSON documents end nested objects with it.
 */
export function scanTemplate(source: string, mode: TemplateMode): ScannedTemplate {
  const parts: TemplatePart[] = [];
  const issues: ConfigIssue[] = [];
  const json: JsonState | undefined = mode === "json" ? { inString: false, escape: 0 } : undefined;
  let cursor = 0;
  for (;;) {
    const open = source.indexOf("{{", cursor);
    const literal = source.slice(cursor, open < 0 ? source.length : open);
    if (literal !== "") parts.push(literal);
    if (json) advance(json, literal);
    if (open < 0) break;
    const close = source.indexOf("}}", open + 2);
    if (close < 0) {
      issues.push({ path: "", message: `unclosed '{{' at position ${open} (close it with '}}')` });
      break;
    }
    const path = parseBody(source, open, close);
    if (typeof path === "string") {
      issues.push({ path: "", message: path });
    } else if (json && json.escape !== 0) {
      const message = `placeholder at position ${open} interrupts an escape sequence in a JSON string`;
      issues.push({ path: "", message });
    } else {
      parts.push({ path, position: open, inString: json?.inString ?? false });
    }
    cursor = close + 2;
  }
  if (json && issues.length === 0) checkSkeleton(parts, issues);
  return { parts, issues };
}

/**
 * Every value fills a placeholder outside a string with one JSON token and one inside a string with
 * escaped characters, so if the skeleton (null and nothing, respectively) parses, every render does.
 */
function checkSkeleton(parts: readonly TemplatePart[], issues: ConfigIssue[]): void {
  let skeleton = "";
  for (const part of parts) {
    skeleton += typeof part === "string" ? part : part.inString ? "" : "null";
  }
  try {
    JSON.parse(skeleton);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    issues.push({
      path: "",
      message: `is not valid JSON once its placeholders are filled: ${reason}`,
    });
  }
}
