import { MISSING } from "../dsl/paths.ts";
import { compileReader, type Reader } from "../templates/context.ts";
import { formatText } from "../templates/format.ts";
import { scanTemplate } from "../templates/parse.ts";
import type { TemplateContext } from "../templates/types.ts";

const GLOB_META = /[\\*?[\]]/g;

/** Backslash-escapes Redis glob metacharacters (`\ * ? [ ]`) so the text matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(GLOB_META, "\\$&");
}

/** Whether a Redis glob pattern has a wildcard (`*`, `?`, `[`) that no backslash escapes. */
export function hasUnescapedGlob(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/** The literal key a wildcard-free pattern stands for: each `\x` becomes `x`. */
export function unescapeGlob(pattern: string): string {
  return pattern.replace(/\\(.)/gs, "$1");
}

/** A placeholder: how to read it, and its source text for messages. */
interface Slot {
  read: Reader;
  source: string;
}
type Part = string | Slot;

/** Compiled key patterns; like renderTemplate's cache, bounded, oldest dropped first. */
const compiled = new Map<string, Part[]>();
const COMPILED_CACHE_SIZE = 1000;

function compile(pattern: string): Part[] {
  let parts = compiled.get(pattern);
  if (parts !== undefined) return parts;
  const scanned = scanTemplate(pattern, "text");
  // The config schema validated the template, so an issue here is a bug, not bad input.
  if (scanned.issues.length > 0) throw new Error(`key_pattern: ${scanned.issues[0]?.message}`);
  parts = scanned.parts.map((part) => {
    if (typeof part === "string") return part;
    const end = pattern.indexOf("}}", part.position) + 2;
    return { read: compileReader(part.path), source: pattern.slice(part.position, end) };
  });
  if (compiled.size >= COMPILED_CACHE_SIZE) {
    const oldest = compiled.keys().next();
    if (!oldest.done) compiled.delete(oldest.value);
  }
  compiled.set(pattern, parts);
  return parts;
}

/**
 * Renders a `key_pattern` escape-then-substitute, as FraiseQL does: each value is formatted as
 * text mode formats it (so keys read exactly like other templates) and then glob-escaped, while
 * the template's own `*`, `?` and `[` stay wildcards. Escaping the formatted text, rather than
 * the strings in the event, also covers a whole object inserted as JSON. It reuses the template
 * scanner and path readers: renderTemplate has no per-value hook.
 *
 * A placeholder this event lacks makes the key unknowable: rendering it as "" (as other templates
 * do) could turn `user:{{ id }}*` into `user:*`, so it is reported instead, with its source.
 */
export function renderKeyPattern(
  pattern: string,
  context: TemplateContext,
): { key: string } | { missing: string } {
  let key = "";
  for (const part of compile(pattern)) {
    if (typeof part === "string") {
      key += part;
      continue;
    }
    const value = part.read(context);
    if (value === MISSING) return { missing: part.source };
    key += escapeGlob(formatText(value));
  }
  return { key };
}
