/**
 * PostgreSQL array literals, for sending a batch as one text parameter per column
 * (`unnest($1::text::bigint[], $2::text::text[], …)`). Columns cost the server less to parse than
 * a JSON recordset (no key per row, no jsonb built first) and are about half the bytes.
 */

/** A value a column can carry: numbers and booleans are written as text, null as SQL NULL. */
export type ArrayValue = string | number | boolean | null | undefined;

const NEEDS_QUOTES = /[\s"\\{},]|^$|^null$/i;

/**
 * The array literal of `values`. Text is quoted when it needs it; NUL, which PostgreSQL text
 * cannot hold at all (a response body may contain it), is replaced by U+FFFD so that one such
 * value cannot fail the whole batch.
 */
export function arrayLiteral(values: readonly ArrayValue[]): string {
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ",";
    const value = values[i];
    if (value === null || value === undefined) {
      out += "NULL";
      continue;
    }
    const text = typeof value === "string" ? storableText(value) : String(value);
    out += NEEDS_QUOTES.test(text) ? `"${text.replace(/["\\]/g, "\\$&")}"` : text;
  }
  return `${out}}`;
}

/** One column of a batch: `value` of every row, as an array literal. */
export function arrayColumn<T>(rows: readonly T[], value: (row: T) => ArrayValue): string {
  return arrayLiteral(rows.map(value));
}

/** `text` as PostgreSQL can store it: NUL replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\ufffd") : text;
}
