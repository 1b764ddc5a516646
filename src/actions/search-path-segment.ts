/**
 * Whether a rendered index name or document id can be one path segment of a search engine URL.
 * `encodeURIComponent` leaves `.` alone, and URL parsers (ours, proxies', the engine's) remove
 * `.` and `..` segments, `%2e` included: `DELETE /orders/_doc/..` becomes `DELETE /orders/`,
 * which on Elasticsearch deletes the index. Such values come from row data, so they are refused,
 * along with anything that only a lenient server would decode into a separator.
 */

/** Characters that end or split a path segment once decoded. */
const SEPARATORS = /[/\\?#]/;
/** C0 and C1 controls and DEL: never part of an id worth sending, and they confuse logs. */
const CONTROL = /\p{Cc}/u;
/** A percent-encoded ASCII character; what lies above 0x7f cannot decode to a separator. */
const ENCODED_ASCII = /%[0-7][0-9A-Fa-f]/g;

function decodeAscii(text: string): string {
  return text.replace(ENCODED_ASCII, (hex) =>
    String.fromCharCode(Number.parseInt(hex.slice(1), 16)),
  );
}

/**
 * The value and what it decodes to, however many times a chain of servers percent-decodes it
 * (`%252e` -> `%2e` -> `.`), also after NFKC (fullwidth `．` and `／` fold to `.` and `/`).
 */
function decodedForms(text: string): string[] {
  const forms: string[] = [];
  for (const start of new Set([text, text.normalize("NFKC")])) {
    let form = start;
    for (;;) {
      forms.push(form);
      const next = decodeAscii(form);
      // Each round that changes something shortens the text, so this ends.
      if (next === form) break;
      form = next;
    }
  }
  return forms;
}

/** What makes `text` unusable as one path segment, or null when it is usable. */
export function pathSegmentProblem(text: string): string | null {
  if (text === "") return "is empty";
  for (const form of decodedForms(text)) {
    if (form === "." || form === "..") return "is a dot segment ('.' or '..', possibly encoded)";
    if (SEPARATORS.test(form)) return "contains '/', '\\', '?' or '#' (possibly encoded)";
    if (CONTROL.test(form)) return "contains a control character";
  }
  return null;
}

/** The value for an error message: JSON-quoted (controls escaped) and cut to a readable length. */
export function previewValue(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.length > 80 ? `${quoted.slice(0, 79)}…` : quoted;
}
