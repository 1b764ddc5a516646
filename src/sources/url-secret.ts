/**
 * A source's inline URL, encrypted at rest: AES-256-GCM (WebCrypto) under a key derived from
 * `OBSERVERS_SOURCE_KEY` (SHA-256 of its text), a fresh 96-bit IV per URL, and the source's id as
 * associated data, so a ciphertext copied onto another source's row does not decrypt. Stored as
 * `v1.<base64url(iv)>.<base64url(ciphertext)>`.
 */
import { base64UrlDecode, base64UrlEncode } from "../crypto/base64url.ts";

const VERSION = "v1";
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", new TextEncoder().encode(secret))
      .then((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
    keys.set(secret, key);
  }
  return key;
}

/** Encrypts `url` for source `sourceId`. */
export async function encryptSourceUrl(
  url: string,
  sourceId: string,
  secret: string,
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(sourceId) },
    await keyOf(secret),
    new TextEncoder().encode(url),
  );
  return `${VERSION}.${base64UrlEncode(iv)}.${base64UrlEncode(sealed)}`;
}

/** Decrypts what `encryptSourceUrl` wrote; null when the key (or the row) does not match. */
export async function decryptSourceUrl(
  sealed: string,
  sourceId: string,
  secret: string,
): Promise<string | null> {
  const [version, ivText, dataText] = sealed.split(".");
  if (version !== VERSION || ivText === undefined || dataText === undefined) return null;
  const iv = base64UrlDecode(ivText);
  const data = base64UrlDecode(dataText);
  if (!iv || !data) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(sourceId) },
      await keyOf(secret),
      data,
    );
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}
