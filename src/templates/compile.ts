import { MISSING } from "../dsl/paths.ts";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { compileReader, type Reader } from "./context.ts";
import { type Formatter, formatJsonStringContent, formatJsonToken, formatText } from "./format.ts";
import { type Placeholder, scanTemplate } from "./parse.ts";
import type {
  Template,
  TemplateContext,
  TemplateMode,
  TemplateOptions,
  TemplateSegment,
} from "./types.ts";

/** Compiled templates kept by `renderTemplate`; past this, the oldest is dropped. */
export const TEMPLATE_CACHE_SIZE = 1000;

type Writer = (context: TemplateContext) => string;

function formatterFor(mode: TemplateMode, placeholder: Placeholder): Formatter {
  if (mode === "text") return formatText;
  return placeholder.inString ? formatJsonStringContent : formatJsonToken;
}

/** A placeholder as written in the source (`{{ after.id }}`), for messages. */
function placeholderText(source: string, placeholder: Placeholder): string {
  return source.slice(placeholder.position, source.indexOf("}}", placeholder.position) + 2);
}

function writerFor(
  mode: TemplateMode,
  placeholder: Placeholder,
  source: string,
  options: TemplateOptions,
): Writer {
  const read: Reader = compileReader(placeholder.path);
  const format = formatterFor(mode, placeholder);
  const { escape: escapeValue, onMissing } = options;
  if (!escapeValue && !onMissing) return (context) => format(read(context));
  const text = placeholderText(source, placeholder);
  return (context) => {
    const value = read(context);
    if (value === MISSING) onMissing?.(text);
    const formatted = format(value);
    return escapeValue ? escapeValue(formatted) : formatted;
  };
}

/** Problems in a template's source (unclosed `{{`, an empty or malformed path, JSON skeleton). */
export function templateIssues(source: string, mode: TemplateMode): ConfigIssue[] {
  return scanTemplate(source, mode).issues;
}

/** Parses a template; throws `ConfigError` with its issues. */
export function compileTemplate(
  source: string,
  mode: TemplateMode,
  options: TemplateOptions = NO_OPTIONS,
): Template {
  const { parts, issues } = scanTemplate(source, mode);
  if (issues.length > 0) throw new ConfigError(issues);
  if (options.escape && mode !== "text") {
    throw new Error("template escape applies to text mode only: json mode escapes for JSON");
  }
  // literals[i] precedes writers[i]; one more literal ends the template, so rendering is one loop.
  const literals: string[] = [""];
  const writers: Writer[] = [];
  const readers: Reader[] = [];
  const placeholders: string[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      literals[literals.length - 1] += part;
    } else {
      writers.push(writerFor(mode, part, source, options));
      readers.push(compileReader(part.path));
      placeholders.push(placeholderText(source, part));
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
  // What each piece of a render came from, for targets where a value must not change the
  // structure the literal text gives (e.g. one recipient per placeholder).
  const segments = (context: TemplateContext): TemplateSegment[] => {
    const out: TemplateSegment[] = [];
    if (head !== "") out.push({ kind: "literal", text: head });
    for (let i = 0; i < writers.length; i++) {
      out.push({
        kind: "value",
        text: (writers[i] as Writer)(context),
        value: (readers[i] as Reader)(context),
        placeholder: placeholders[i] as string,
      });
      const literal = literals[i + 1] as string;
      if (literal !== "") out.push({ kind: "literal", text: literal });
    }
    return out;
  };
  return Object.freeze({ source, mode, render, segments });
}

const NO_OPTIONS: TemplateOptions = {};
/** One bounded cache per options object (callers pass module-level constants). */
const caches = new WeakMap<TemplateOptions, Map<string, Template>>();

/**
 * Renders `source` (parsed once and cached, bounded) against `context`. `options` should be a
 * long-lived constant: compiled templates are cached per options object.
 */
export function renderTemplate(
  source: string,
  mode: TemplateMode,
  context: TemplateContext,
  options: TemplateOptions = NO_OPTIONS,
): string {
  return cachedTemplate(source, mode, options).render(context);
}

/** Like `renderTemplate`, but returns the literal and value pieces (`Template.segments`). */
export function renderTemplateSegments(
  source: string,
  mode: TemplateMode,
  context: TemplateContext,
  options: TemplateOptions = NO_OPTIONS,
): TemplateSegment[] {
  return cachedTemplate(source, mode, options).segments(context);
}

function cachedTemplate(source: string, mode: TemplateMode, options: TemplateOptions): Template {
  let cache = caches.get(options);
  if (cache === undefined) {
    cache = new Map();
    caches.set(options, cache);
  }
  // Modes hold no ':', so the key is unambiguous.
  const key = `${mode}:${source}`;
  let template = cache.get(key);
  if (template === undefined) {
    template = compileTemplate(source, mode, options);
    if (cache.size >= TEMPLATE_CACHE_SIZE) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, template);
  }
  return template;
}
