import type { Lookup } from "../dsl/paths.ts";
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
  /** The same render as its pieces: literal text, and each placeholder's value and text. */
  segments(context: TemplateContext): TemplateSegment[];
}

/** One piece of a render: literal template text, or what one placeholder rendered. */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly text: string }
  | {
      readonly kind: "value";
      /** What the placeholder rendered (formatted and escaped as `render` does). */
      readonly text: string;
      /** The value it read, before formatting (`MISSING` when the event has none). */
      readonly value: Lookup;
      /** The placeholder as written, `{{ after.email }}`. */
      readonly placeholder: string;
    };

/**
 * How a text-mode template treats values, for targets with their own syntax. Literal template text
 * is never touched: only what comes from the event is escaped.
 */
export interface TemplateOptions {
  /** Applied to each value's text (e.g. HTML-, Slack- or glob-escaping). Text mode only. */
  escape?: (text: string) => string;
  /**
   * Called with a placeholder's source (`{{ after.id }}`) when the event has no value there; throw
   * to fail the render. By default a missing value renders empty (`null` as a JSON token).
   */
  onMissing?: (placeholder: string) => void;
}
