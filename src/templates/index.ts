/**
 * Templates for action bodies, messages and subjects: `{{ path }}` placeholders over a change event.
 *
 * Paths start at a root: `event` (id, sequence, entity_type, entity_id, event_type, op, before,
 * after, changes, tenant_id, timestamp, transaction_id, source), `after`, `before`, `changes`
 * (`changes.status.old`), `observer` (id, name) or `delivery` (id, attempt). Any other first name
 * reads the row, as FraiseQL's `{{ key }}` does: the after-image, or the before-image of a delete.
 * A column named like a root is reached through its image: `{{ after.event }}`. Below the root,
 * `.name`, `.0` and `[0]` step down; only own properties are read, never the prototype chain.
 *
 * A missing value and `null` both render as "" in text (and inside JSON strings) and as `null` as
 * a JSON token. `{{` always opens a placeholder; a `}}` outside one is literal. There are no
 * filters, conditionals or loops.
 */
export {
  compileTemplate,
  renderTemplate,
  renderTemplateSegments,
  TEMPLATE_CACHE_SIZE,
  templateIssues,
} from "./compile.ts";
export { EVENT_FIELDS, TEMPLATE_ROOTS } from "./path.ts";
export type {
  Template,
  TemplateContext,
  TemplateMode,
  TemplateOptions,
  TemplateSegment,
} from "./types.ts";
