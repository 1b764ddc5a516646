/** Quoting a caller's value in a message (an error's, a log line's), kept short. */

/** Longest part of a caller's value an error message repeats. */
const QUOTED_MAX = 100;

/**
 * A caller's value (an id from a path, a name) as an error message quotes it: JSON-quoted, and cut
 * to its first 100 characters, so a hostile 5 000-character id is not echoed back whole.
 */
export function quoted(value: string): string {
  return value.length > QUOTED_MAX
    ? `${JSON.stringify(value.slice(0, QUOTED_MAX))}... (${value.length} characters)`
    : JSON.stringify(value);
}
