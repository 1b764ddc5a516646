// INTERFACE STUB — the templates helper replaces this file's bodies (keep these exports).
import type { ConfigIssue } from "../errors.ts";
import type { ChangeEvent } from "../events/types.ts";

/**
 * `text`: values inserted as text (strings raw, other values as JSON). `json`: the template is a
 * JSON document; inside a JSON string a value is JSON-escaped without quotes, outside it is a JSON
 * token (a string gains quotes, a missing value is `null`), so data can never break out.
 */
export type TemplateMode = "text" | "json";

/** What a template can read. */
export interface TemplateContext {
  event: ChangeEvent;
  observer: { id: string; name: string };
  deliveryId: string;
  attempt: number;
}

/** A parsed template, ready to render many times. */
export interface Template {
  readonly source: string;
  readonly mode: TemplateMode;
  render(context: TemplateContext): string;
}

/** Problems in a template's source (unclosed `{{`, an empty or malformed path, JSON skeleton). */
export function templateIssues(_source: string, _mode: TemplateMode): ConfigIssue[] {
  return [];
}

/** Parses a template; throws `ConfigError` with its issues. */
export function compileTemplate(source: string, mode: TemplateMode): Template {
  return { source, mode, render: () => source };
}

/** Renders `source` (parsed once and cached, bounded) against `context`. */
export function renderTemplate(
  source: string,
  mode: TemplateMode,
  context: TemplateContext,
): string {
  return compileTemplate(source, mode).render(context);
}
