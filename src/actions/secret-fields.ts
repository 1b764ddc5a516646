import { isJsonObject, type JsonValue } from "../json.ts";

/** What a secret reads as in every API response, error text and stored row. */
export const REDACTED = "[REDACTED]";

/**
 * Action fields holding credentials, at any depth. `webhook_url` is Slack's: its path is the
 * token. Fields naming an environment variable (`*_env`) are not secrets and stay visible.
 */
const SECRET_FIELDS = new Set([
  "signing_secret",
  "signing_secrets",
  "api_key",
  "auth_token",
  "service_account",
  "vapid_private_key",
  "password",
  "webhook_url",
]);

/** Whether values of an action field named `key` are redacted as a whole (any depth). */
export function isSecretFieldName(key: string): boolean {
  return SECRET_FIELDS.has(key) || SECRET_MAPS.has(key);
}

/** Header values carry credentials (`Authorization`, API keys) too often to show any. */
const SECRET_MAPS = new Set(["headers"]);

/** A push subscription's `keys.auth`: with the endpoint, it lets anyone push to the browser. */
const SECRET_MEMBERS: Readonly<Record<string, string>> = { keys: "auth" };

/** How a string in an action is treated: a secret as a whole, or a URL whose parts may be. */
export type SecretKind = "secret" | "url";

/** Called for every secret or URL string of an action; returns what to put in its place. */
export type SecretVisitor = (value: string, kind: SecretKind, path: string) => JsonValue;

const HTTP_URL = /^https?:\/\//i;

/** Whether `text` is an absolute http(s) URL (as action URL fields hold them). */
export function isHttpUrlText(text: string): boolean {
  return HTTP_URL.test(text) && URL.canParse(text);
}

/**
 * Deeper than this, nesting is hostile input (a body of 10 000 nested arrays), not an action:
 * a secret field's deeper content is masked whole; elsewhere it is left as it is (validation
 * refuses such an action anyway) rather than overflowing the stack.
 */
const MAX_DEPTH = 32;

function everyString(
  value: JsonValue,
  path: string,
  visit: SecretVisitor,
  depth: number,
): JsonValue {
  if (typeof value === "string") return visit(value, "secret", path);
  if (depth > MAX_DEPTH) return REDACTED;
  // A list of secrets (rotation) is one field: its items share the field's path.
  if (Array.isArray(value)) return value.map((item) => everyString(item, path, visit, depth + 1));
  // A secret given as an object (a service account's JSON) is one secret: mask it whole.
  if (isJsonObject(value)) {
    const strings: string[] = [];
    collectStrings(value, strings, depth);
    for (const text of strings) visit(text, "secret", path);
    return REDACTED;
  }
  return value;
}

function collectStrings(value: JsonValue, into: string[], depth: number): void {
  if (typeof value === "string") into.push(value);
  else if (depth > MAX_DEPTH) return;
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into, depth + 1);
  else if (isJsonObject(value)) {
    for (const item of Object.values(value)) collectStrings(item, into, depth + 1);
  }
}

function walk(value: JsonValue, path: string, visit: SecretVisitor, depth: number): JsonValue {
  if (typeof value === "string") return isHttpUrlText(value) ? visit(value, "url", path) : value;
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    return value.map((item, i) => walk(item, `${path}.${i}`, visit, depth + 1));
  }
  if (!isJsonObject(value)) return value;
  const copy: Record<string, JsonValue> = {};
  for (const [key, member] of Object.entries(value)) {
    const at = path === "" ? key : `${path}.${key}`;
    if (member === null) copy[key] = member;
    else if (SECRET_FIELDS.has(key)) copy[key] = everyString(member, at, visit, depth + 1);
    else if (SECRET_MAPS.has(key) && isJsonObject(member)) {
      copy[key] = Object.fromEntries(
        Object.entries(member).map(([name, v]) => [
          name,
          everyString(v, `${at}.${name}`, visit, depth + 2),
        ]),
      );
    } else if (SECRET_MEMBERS[key] !== undefined && isJsonObject(member)) {
      const secret = SECRET_MEMBERS[key];
      copy[key] = Object.fromEntries(
        Object.entries(member).map(([name, v]) => [
          name,
          name === secret
            ? everyString(v, `${at}.${name}`, visit, depth + 2)
            : walk(v, `${at}.${name}`, visit, depth + 2),
        ]),
      );
    } else copy[key] = walk(member, at, visit, depth + 1);
  }
  return copy;
}

/**
 * A copy of one action with every secret string and every URL replaced by what `visit` returns;
 * the single place that decides which parts of an action are secret, so that redacting responses,
 * spotting a redacted value written back and scrubbing error texts always agree.
 */
export function mapSecrets(action: JsonValue, visit: SecretVisitor): JsonValue {
  return walk(action, "", visit, 0);
}

// Long runs of token characters mixing letters and digits (or cases): Slack and Discord webhook
// paths, UUIDs, hex and base64 keys. Words joined by dashes stay readable.
const TOKEN_CHARS = /^[A-Za-z0-9_.~+=:%-]+$/;
const MIN_TOKEN_CHARS = 20;

/** Whether a URL path segment looks like a credential rather than a name. */
export function looksLikeToken(segment: string): boolean {
  if (segment.length < MIN_TOKEN_CHARS || !TOKEN_CHARS.test(segment)) return false;
  let classes = 0;
  for (const pattern of [/[a-z]/, /[A-Z]/, /[0-9]/]) if (pattern.test(segment)) classes++;
  return classes >= 2 || (segment.length >= 32 && !/[-_.]/.test(segment));
}

/** The parts of a URL that may be credentials: user info, token-like path segments, query, fragment. */
export function secretUrlParts(text: string): string[] {
  if (!URL.canParse(text)) return [];
  const url = new URL(text);
  const parts = [url.username, url.password, url.search.slice(1), url.hash.slice(1)];
  for (const segment of url.pathname.split("/")) if (looksLikeToken(segment)) parts.push(segment);
  for (const value of url.searchParams.values()) parts.push(value);
  const decoded = parts.flatMap((part) => {
    try {
      const plain = decodeURIComponent(part);
      return plain === part ? [part] : [part, plain];
    } catch {
      return [part];
    }
  });
  return decoded.filter((part) => part !== "");
}

/**
 * A URL as read keys see it: user info, query and fragment become `[REDACTED]`, and so does every
 * path segment that looks like a token. A URL with nothing to hide comes back unchanged.
 */
export function redactUrl(text: string): string {
  if (!URL.canParse(text)) return REDACTED;
  const url = new URL(text);
  const segments = url.pathname.split("/");
  const tokens = segments.some(looksLikeToken);
  if (!url.username && !url.password && !url.search && !url.hash && !tokens) return text;
  const userinfo = url.username || url.password ? `${REDACTED}@` : "";
  const path = segments.map((segment) => (looksLikeToken(segment) ? REDACTED : segment)).join("/");
  const query = url.search ? `?${REDACTED}` : "";
  const fragment = url.hash ? `#${REDACTED}` : "";
  return `${url.protocol}//${userinfo}${url.host}${path}${query}${fragment}`;
}

const PLACEHOLDER = /\[REDACTED\]|%5BREDACTED%5D/i;

/** Whether a value carries the `[REDACTED]` placeholder (as such, or percent-encoded in a URL). */
export function hasPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}
