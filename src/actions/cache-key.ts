import { renderTemplate, type TemplateContext, type TemplateOptions } from "../templates/index.ts";

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

/** Thrown (and caught in `renderKeyPattern`) when a placeholder has no value in the event. */
class MissingKeyValue {
  readonly placeholder: string;
  constructor(placeholder: string) {
    this.placeholder = placeholder;
  }
}

const KEY_OPTIONS: TemplateOptions = {
  escape: escapeGlob,
  onMissing(placeholder) {
    throw new MissingKeyValue(placeholder);
  },
};

/**
 * Renders a `key_pattern` escape-then-substitute, as FraiseQL does: each value is formatted as
 * text mode formats it (so keys read exactly like other templates) and then glob-escaped, while
 * the template's own `*`, `?` and `[` stay wildcards. Escaping the formatted text, rather than
 * the strings in the event, also covers a whole object inserted as JSON.
 *
 * A placeholder this event lacks makes the key unknowable: rendering it as "" (as other templates
 * do) could turn `user:{{ id }}*` into `user:*`, so it is reported instead, with its source.
 */
export function renderKeyPattern(
  pattern: string,
  context: TemplateContext,
): { key: string } | { missing: string } {
  try {
    return { key: renderTemplate(pattern, "text", context, KEY_OPTIONS) };
  } catch (error) {
    if (error instanceof MissingKeyValue) return { missing: error.placeholder };
    throw error;
  }
}
