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
