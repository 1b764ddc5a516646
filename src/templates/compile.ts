import { ConfigError, type ConfigIssue } from "../errors.ts";
import { compileReader, type Reader } from "./context.ts";
import { type Formatter, formatJsonStringContent, formatJsonToken, formatText } from "./format.ts";
import { type Placeholder, scanTemplate } from "./parse.ts";
import type { Template, TemplateContext, TemplateMode } from "./types.ts";

/** Compiled templates kept by `renderTemplate`; past this, the oldest is dropped. */
export const TEMPLATE_CACHE_SIZE = 1000;

type Writer = (context: TemplateContext) => string;

function formatterFor(mode: TemplateMode, placeholder: Placeholder): Formatter {
  if (mode === "text") return formatText;
  return placeholder.inString ? formatJsonStringContent : formatJsonToken;
}

function writerFor(mode: TemplateMode, placeholder: Placeholder): Writer {
  const read: Reader = compileReader(placeholder.path);
  const format = formatterFor(mode, placeholder);
  return (context) => format(read(context));
}

/** Problems in a template's source (unclosed `{{`, an empty or malformed path, JSON skeleton). */
export function templateIssues(source: string, mode: TemplateMode): ConfigIssue[] {
  return scanTemplate(source, mode).issues;
}

/** Parses a template; throws `ConfigError` with its issues. */
export function compileTemplate(source: string, mode: TemplateMode): Template {
  const { parts, issues } = scanTemplate(source, mode);
  if (issues.length > 0) throw new ConfigError(issues);
  // literals[i] precedes writers[i]; one more literal ends the template, so rendering is one loop.
  const literals: string[] = [""];
  const writers: Writer[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      literals[literals.length - 1] += part;
    } else {
      writers.push(writerFor(mode, part));
      literals.push("");
    }
  }
  const head = literals[0] as string;
  const render = (context: TemplateContext): string => {
    let out = head;
    for (let i = 0; i < writers.length; i++) {
      out += (writers[i] as Writer)(context) + (literals[i + 1] as string);
    }
    return out;
  };
  return Object.freeze({ source, mode, render });
}

const cache = new Map<string, Template>();

/** Renders `source` (parsed once and cached, bounded) against `context`. */
export function renderTemplate(
  source: string,
  mode: TemplateMode,
  context: TemplateContext,
): string {
  // Modes hold no ':', so the key is unambiguous.
  const key = `${mode}:${source}`;
  let template = cache.get(key);
  if (template === undefined) {
    template = compileTemplate(source, mode);
    if (cache.size >= TEMPLATE_CACHE_SIZE) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, template);
  }
  return template.render(context);
}
