/**
 * Webhook signatures: Standard Webhooks (`webhook-signature`, https://www.standardwebhooks.com)
 * and FraiseQL's Stripe-style `X-FraiseQL-Signature-256`, both HMAC-SHA256 via `crypto.subtle`.
 * Several secrets sign at once so a receiver can rotate without dropping deliveries.
 */

/** Which signature headers a signed webhook carries. */
export type SignatureScheme = "standard" | "fraiseql" | "both";

/** The scheme names, for validation. */
export const SIGNATURE_SCHEMES = ["standard", "fraiseql", "both"] as const;

/** Standard Webhooks secrets may carry this prefix before their base64 key. */
export const STANDARD_SECRET_PREFIX = "whsec_";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Imported keys kept for reuse: enough for every secret of a large deployment, and bounded. */
const MAX_CACHED_KEYS = 512;
const keyCache = new Map<string, Promise<CryptoKey>>();
const encoder = new TextEncoder();

/**
 * The HMAC key of a Standard Webhooks secret: the base64 after an optional `whsec_` prefix, decoded
 * as the `standardwebhooks` library does. Undefined when it is not base64 or decodes to nothing.
 */
export function decodeStandardSecret(secret: string): Uint8Array<ArrayBuffer> | undefined {
  const text = secret.startsWith(STANDARD_SECRET_PREFIX)
    ? secret.slice(STANDARD_SECRET_PREFIX.length)
    : secret;
  // Padded standard base64 only: what every Standard Webhooks library (and Python's) decodes.
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const binary = atob(text);
  if (binary.length === 0) return undefined;
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** What is wrong with a secret that fails `isStandardSecret` (never echoing the secret). */
export const INVALID_STANDARD_SECRET =
  "is not a Standard Webhooks secret (base64, optionally prefixed whsec_); " +
  'use signature_scheme "fraiseql" for a plain-text secret';

/** Whether a secret can sign Standard Webhooks. */
export function isStandardSecret(secret: string): boolean {
  return decodeStandardSecret(secret) !== undefined;
}

/** Secrets from one environment variable: several may be given, separated by whitespace. */
export function splitSecrets(value: string): string[] {
  return value.split(/\s+/).filter((part) => part !== "");
}

/** Imports (once, then from the cache) the HMAC-SHA256 key for `secret`. */
function hmacKey(cacheKey: string, bytes: () => Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const cached = keyCache.get(cacheKey);
  if (cached) {
    // Refresh recency so the secrets in use are the last to be evicted.
    keyCache.delete(cacheKey);
    keyCache.set(cacheKey, cached);
    return cached;
  }
  const imported = crypto.subtle.importKey(
    "raw",
    bytes(),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  imported.catch(() => keyCache.delete(cacheKey));
  keyCache.set(cacheKey, imported);
  if (keyCache.size > MAX_CACHED_KEYS) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  return imported;
}

async function hmac(key: Promise<CryptoKey>, message: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await key, encoder.encode(message)));
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The `webhook-signature` value: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` per
 * secret, space-separated. Throws `TypeError` for a secret that is not base64 (validate first).
 */
export async function signStandard(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const message = `${id}.${timestamp}.${body}`;
  const signatures = await Promise.all(
    secrets.map(async (secret) => {
      const key = hmacKey(`standard:${secret}`, () => {
        const bytes = decodeStandardSecret(secret);
        if (!bytes) throw new TypeError("not a Standard Webhooks secret");
        return bytes;
      });
      return `v1,${toBase64(await hmac(key, message))}`;
    }),
  );
  return signatures.join(" ");
}

/**
 * The `X-FraiseQL-Signature-256` value: `t=<timestamp>,v1=<hex HMAC-SHA256(utf8 secret,
 * "<timestamp>.<body>")>`, with one `v1=` entry per secret (as Stripe does while rotating).
 */
export async function signFraiseql(
  secrets: readonly string[],
  timestamp: number,
  body: string,
): Promise<string> {
  const message = `${timestamp}.${body}`;
  const signatures = await Promise.all(
    secrets.map(async (secret) => {
      const key = hmacKey(`fraiseql:${secret}`, () => encoder.encode(secret));
      return `v1=${toHex(await hmac(key, message))}`;
    }),
  );
  return [`t=${timestamp}`, ...signatures].join(",");
}
