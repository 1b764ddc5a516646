/**
 * NATS subject tokens for entity types. A token may not be empty nor hold `.`, `*`, `>` or
 * whitespace, and names may hold anything: every byte of the UTF-8 name outside
 * `[A-Za-z0-9_-]` is written `%XX` (upper-case hex, `%` itself included), so `Order` stays
 * `Order`, `sales.Order` becomes `sales%2EOrder`, and the empty name becomes `%` (which no
 * encoding of a non-empty name produces). `decodeSubjectToken` reverses it.
 */

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** The subject token of an entity type. */
export function encodeSubjectToken(name: string): string {
  if (name === "") return "%";
  if (PLAIN.test(name)) return name;
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const char = String.fromCharCode(byte);
    out +=
      byte < 0x80 && /[A-Za-z0-9_-]/.test(char)
        ? char
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The entity type a token stands for; undefined when it is not one `encodeSubjectToken` writes. */
export function decodeSubjectToken(token: string): string | undefined {
  if (token === "%") return "";
  if (PLAIN.test(token)) return token;
  if (!/^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "%") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

/** A subject prefix: dot-separated tokens of `[A-Za-z0-9_-]`, no wildcard (e.g. `fraiseql.mutation`). */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** A JetStream stream or consumer name: letters, digits, `_` and `-`, at most 64 characters. */
export const STREAM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
