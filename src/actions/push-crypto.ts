import { base64UrlDecode, base64UrlEncode } from "../crypto/base64url.ts";
import { signJwt } from "../crypto/jwt.ts";

/** The record size declared in the header; one record always carries the whole message. */
export const RECORD_SIZE = 4096;
/**
 * The largest plaintext: push services need only accept a 4096-byte body (RFC 8291 §4), which is
 * 86 header bytes, a 16-byte tag and the padding delimiter around the payload.
 */
export const MAX_PAYLOAD_BYTES = 4096 - 86 - 16 - 1;
/** How long a VAPID token lives: RFC 8292 allows at most 24 hours; half leaves room for skew. */
export const VAPID_TOKEN_SECONDS = 12 * 60 * 60;

const P256_ECDH = { name: "ECDH", namedCurve: "P-256" } as const;
const encoder = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function hkdf(
  salt: Uint8Array<ArrayBuffer>,
  ikm: Uint8Array<ArrayBuffer>,
  info: Uint8Array<ArrayBuffer>,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** A base64url uncompressed P-256 point (65 bytes, leading 0x04), or undefined. */
export function decodeP256Point(text: string): Uint8Array<ArrayBuffer> | undefined {
  const bytes = base64UrlDecode(text);
  return bytes?.length === 65 && bytes[0] === 4 ? bytes : undefined;
}

/** A base64url value of exactly `length` bytes, or undefined. */
export function decodeFixed(text: string, length: number): Uint8Array<ArrayBuffer> | undefined {
  const bytes = base64UrlDecode(text);
  return bytes?.length === length ? bytes : undefined;
}

/**
 * Encrypts a Web Push message body per RFC 8291 (`aes128gcm`, RFC 8188): a fresh ECDH key and salt
 * per message, one record, delimiter 0x02, header `salt || rs || idlen || as_public`.
 */
export async function encryptPushPayload(
  plaintext: Uint8Array<ArrayBuffer>,
  uaPublic: Uint8Array<ArrayBuffer>,
  authSecret: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const uaKey = await crypto.subtle.importKey("raw", uaPublic, P256_ECDH, false, []);
  const ephemeral = (await crypto.subtle.generateKey(P256_ECDH, false, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const asPublic = new Uint8Array(await crypto.subtle.exportKey("raw", ephemeral.publicKey));
  const ecdhSecret = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "ECDH", public: uaKey }, ephemeral.privateKey, 256),
  );
  const keyInfo = concat(encoder.encode("WebPush: info\0"), uaPublic, asPublic);
  const ikm = await hkdf(authSecret, ecdhSecret, keyInfo, 32);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const cek = await hkdf(salt, ikm, encoder.encode("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(salt, ikm, encoder.encode("Content-Encoding: nonce\0"), 12);
  const aesKey = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt"]);
  const record = concat(plaintext, new Uint8Array([2]));
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, aesKey, record);
  const header = new Uint8Array(21);
  header.set(salt);
  new DataView(header.buffer).setUint32(16, RECORD_SIZE);
  header[20] = asPublic.length;
  return concat(header, asPublic, new Uint8Array(ciphertext));
}

/** An application server's VAPID key pair, ready to sign. */
export interface VapidKeys {
  /** The raw public point, as sent in `k=`. */
  publicKey: string;
  privateKey: CryptoKey;
}

/**
 * Imports VAPID keys in the form `web-push generate-vapid-keys` prints them: base64url raw public
 * point and 32-byte private scalar. WebCrypto cannot import a bare scalar, so it goes in as a JWK
 * with x and y taken from the public point. Throws `TypeError` on a malformed key.
 */
export async function importVapidKeys(publicKey: string, privateKey: string): Promise<VapidKeys> {
  const point = decodeP256Point(publicKey);
  if (!point) throw new TypeError("vapid_public_key is not a base64url uncompressed P-256 point");
  const scalar = decodeFixed(privateKey, 32);
  if (!scalar) throw new TypeError("vapid_private_key is not a base64url 32-byte P-256 key");
  const jwk: JsonWebKey = {
    kty: "EC",
    crv: "P-256",
    x: base64UrlEncode(point.subarray(1, 33)),
    y: base64UrlEncode(point.subarray(33)),
    d: base64UrlEncode(scalar),
  };
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  return { publicKey: base64UrlEncode(point), privateKey: key };
}

/** The RFC 8292 `Authorization: vapid t=<ES256 JWT>, k=<public key>` value for `endpoint`. */
export async function vapidAuthorization(
  endpoint: string,
  subject: string,
  keys: VapidKeys,
  nowMs: number,
): Promise<string> {
  const claims = {
    aud: new URL(endpoint).origin,
    exp: Math.floor(nowMs / 1000) + VAPID_TOKEN_SECONDS,
    sub: subject,
  };
  const token = await signJwt("ES256", claims, keys.privateKey);
  return `vapid t=${token}, k=${keys.publicKey}`;
}
