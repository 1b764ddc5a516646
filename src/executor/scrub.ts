import { isHttpUrlText, mapSecrets, REDACTED, secretUrlParts } from "../actions/secret-fields.ts";
import { isJsonObject, type JsonValue } from "../json.ts";

/**
 * Shorter values are not scrubbed: replacing every `on` or `123` in a message would make it
 * unreadable, and a credential that short protects nothing anyway.
 */
export const MIN_SCRUBBED_CHARS = 4;

// Values of these headers describe the body, not the caller: scrubbing `application/json` out of
// every excerpt would hide what a receiver said for nothing.
const DESCRIPTIVE_HEADERS =
  /\.(?:content-type|accept|accept-language|content-language|user-agent)$/i;

const BASE64_CHAR = /[A-Za-z0-9+/_-]/;
const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * What `value` looks like inside base64 of a longer text (`user:pass` in a Basic header), at each
 * of the three byte alignments: the characters that depend on `value` alone, in both alphabets.
 */
function base64Cores(value: string): string[] {
  const bytes = encoder.encode(value);
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array(shift + bytes.length);
    padded.set(bytes, shift);
    const encoded = base64(padded);
    const skip = Math.ceil((shift * 8) / 6);
    const end = Math.floor(padded.length / 3) * 4;
    const core = encoded.slice(skip, end);
    if (core.length >= 6) {
      cores.push(core);
      const url = core.replaceAll("+", "-").replaceAll("/", "_");
      if (url !== core) cores.push(url);
    }
  }
  return cores;
}

/** The forms a secret takes when echoed: as is, URL- and form-encoded, JSON-escaped. */
function plainForms(value: string): string[] {
  const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
  forms.add(new URLSearchParams([["", value]]).toString().slice(1));
  return [...forms];
}

interface Form {
  text: string;
  /** Found inside a base64 run: the whole run goes (it also encodes what surrounds the secret). */
  base64: boolean;
}

const formCache = new Map<string, readonly Form[]>();

function formsOf(value: string): readonly Form[] {
  let forms = formCache.get(value);
  if (forms === undefined) {
    forms = [
      ...plainForms(value).map((text) => ({ text, base64: false })),
      ...base64Cores(value).map((text) => ({ text, base64: true })),
    ];
    if (formCache.size >= 1_000) formCache.clear();
    formCache.set(value, forms);
  }
  return forms;
}

/** Widens [start, end) to the base64 run around it, its `=` padding included. */
function runAround(text: string, start: number, end: number): [number, number] {
  let from = start;
  let to = end;
  while (from > 0 && BASE64_CHAR.test(text.charAt(from - 1))) from--;
  while (to < text.length && BASE64_CHAR.test(text.charAt(to))) to++;
  while (to < text.length && text.charAt(to) === "=") to++;
  return [from, to];
}

function replaceAll(text: string, form: Form): string {
  if (!text.includes(form.text)) return text;
  if (!form.base64) return text.replaceAll(form.text, REDACTED);
  let out = text;
  for (let at = out.indexOf(form.text); at !== -1; at = out.indexOf(form.text, at)) {
    const [from, to] = runAround(out, at, at + form.text.length);
    out = `${out.slice(0, from)}${REDACTED}${out.slice(to)}`;
    at = from + REDACTED.length;
  }
  return out;
}

/** A text cut short (an excerpt, a bounded message) may end with the start of a secret. */
function cutTail(text: string, forms: readonly Form[]): string {
  const ellipsis = text.endsWith("…") ? "…" : "";
  const body = ellipsis ? text.slice(0, -1) : text;
  for (const form of forms) {
    // Earliest start first: the longest cut-off prefix wins. Most starts fail on one character.
    const first = form.text.charCodeAt(0);
    const last = body.length - MIN_SCRUBBED_CHARS;
    for (let start = Math.max(0, body.length - form.text.length + 1); start <= last; start++) {
      if (body.charCodeAt(start) !== first || !form.text.startsWith(body.slice(start))) continue;
      const from = form.base64 ? runAround(body, start, body.length)[0] : start;
      return `${body.slice(0, from)}${REDACTED}${ellipsis}`;
    }
  }
  return text;
}

/** Removes secret values from texts: the values themselves and the forms they are echoed in. */
export interface Scrubber {
  /** `text` with every known secret, and a secret cut off at its end, as `[REDACTED]`. */
  scrub(text: string): string;
  /** Whether there is anything to scrub. */
  readonly empty: boolean;
}

/** A scrubber for `values` (and, for URLs among them, their credential parts). */
export function createScrubber(values: Iterable<string>): Scrubber {
  const secrets = new Set<string>();
  for (const value of values) {
    if (value.length >= MIN_SCRUBBED_CHARS) secrets.add(value);
    if (isHttpUrlText(value)) {
      for (const part of secretUrlParts(value)) {
        if (part.length >= MIN_SCRUBBED_CHARS) secrets.add(part);
      }
    }
  }
  // Longest first, so a secret containing another is removed whole.
  const forms = [...secrets]
    .flatMap(formsOf)
    .filter((form) => form.text.length >= MIN_SCRUBBED_CHARS)
    .sort((a, b) => b.text.length - a.text.length);
  return {
    empty: forms.length === 0,
    scrub(text) {
      if (forms.length === 0) return text;
      let out = text;
      for (const form of forms) out = replaceAll(out, form);
      return cutTail(out, forms);
    },
  };
}

const literalCache = new WeakMap<object, readonly string[]>();

/**
 * The secrets written into an action's config: its secret fields, header values (but those that
 * describe the body) and the credential parts of its URLs. Cached per action object.
 */
export function literalSecrets(action: unknown): readonly string[] {
  if (!isJsonObject(action)) return [];
  let found = literalCache.get(action);
  if (found === undefined) {
    const values: string[] = [];
    mapSecrets(action as JsonValue, (value, kind, path) => {
      if (kind === "url") values.push(...secretUrlParts(value));
      else if (!DESCRIPTIVE_HEADERS.test(path)) values.push(value);
      return value;
    });
    found = values;
    literalCache.set(action, found);
  }
  return found;
}

const scrubberCache = new WeakMap<object, { key: string; scrubber: Scrubber }>();

/**
 * The scrubber of one attempt: the action's literal secrets and the values it read. Kept per action
 * object while the values read stay the same (they do, until the environment changes), so the
 * usual outcome costs a lookup rather than building the forms of every secret again.
 */
export function scrubberFor(action: unknown, reads: ReadonlySet<string>): Scrubber {
  const literals = literalSecrets(action);
  if (!isJsonObject(action)) return createScrubber(reads);
  const key = [...reads].join("\0");
  const cached = scrubberCache.get(action);
  if (cached?.key === key) return cached.scrubber;
  const scrubber = createScrubber(reads.size === 0 ? literals : [...literals, ...reads]);
  scrubberCache.set(action, { key, scrubber });
  return scrubber;
}

/**
 * `env` as actions see it during one attempt: every value read is added to `reads`, so that what
 * the attempt reports can be scrubbed of it.
 */
export function recordingEnv(
  env: Readonly<Record<string, string | undefined>>,
  reads: Set<string>,
): Readonly<Record<string, string | undefined>> {
  return new Proxy(env, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value === "string") reads.add(value);
      return value;
    },
  });
}
