import type { TemplateOptions } from "../templates/index.ts";

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

/**
 * How `html_template` renders: row data is untrusted, so every value is HTML-escaped while the
 * template's own markup is kept, and a customer name like `<a href=...>` stays inert text.
 */
export const HTML_TEMPLATE: TemplateOptions = { escape: escapeHtml };
