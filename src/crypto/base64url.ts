/** Standard or URL-safe alphabet, padding optional: keys are pasted from many tools. */
const BASE64ISH = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Bytes (or a string's UTF-8) as unpadded base64url (RFC 4648 §5), as JOSE and Web Push use it. */
export function base64UrlEncode(data: Uint8Array | ArrayBuffer | string): string {
  const bytes =
    typeof data === "string"
      ? new TextEncoder().encode(data)
      : data instanceof Uint8Array
        ? data
        : new Uint8Array(data);
  let binary = "";
  // Chunked so a large payload never overflows the argument limit of String.fromCharCode.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64url (or standard base64), padded or not; undefined when `text` is not base64. */
export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!BASE64ISH.test(text) || text.length % 4 === 1) return undefined;
  const standard = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  let binary: string;
  try {
    binary = atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, "="));
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
