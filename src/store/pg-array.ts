/**
 * PostgreSQL array literals, for sending a batch as one text parameter per column
 * (`unnest($1::text::bigint[], $2::text::text[], …)`). Columns cost the server less to parse than
 * a JSON recordset (no key per row, no jsonb built first) and are about half the bytes.
 */

/** A value a column can carry: numbers and booleans are written as text, null as SQL NULL. */
export type ArrayValue = string | number | boolean | null | undefined;

/** What a quoted element must escape, and NUL, which is replaced. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this finds and replaces
const SPECIAL = /["\\\u0000]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this finds and replaces
const SPECIALS = /["\\\u0000]/g;
const escapeChar = (char: string) => (char === "\u0000" ? "\ufffd" : `\\${char}`);

/**
 * The array literal of `values`. Text is always quoted (so no value can read as NULL or split
 * the list); NUL, which PostgreSQL text cannot hold at all (a response body may contain it), is
 * replaced by U+FFFD so that one such value cannot fail the whole batch.
 */
export function arrayLiteral(values: readonly ArrayValue[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = "NULL";
    else if (typeof value !== "string") parts[i] = String(value);
    else parts[i] = `"${SPECIAL.test(value) ? value.replace(SPECIALS, escapeChar) : value}"`;
  }
  return `{${parts.join(",")}}`;
}

/** One column of a batch: `value` of every row, as an array literal. */
export function arrayColumn<T>(rows: readonly T[], value: (row: T) => ArrayValue): string {
  return arrayLiteral(rows.map(value));
}

/** `text` as PostgreSQL can store it: NUL replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\ufffd") : text;
}
