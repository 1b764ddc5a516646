import { base64UrlDecode, base64UrlEncode } from "./base64url.ts";

/** The JWS algorithms this package signs with. */
export type JwtAlgorithm = "RS256" | "ES256";

const SIGN_PARAMS: Record<JwtAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
};

/**
 * A compact JWS (RFC 7515) over `claims`. ES256 signatures from WebCrypto are already the raw
 * `r || s` that JWS wants (not DER), so they go out as they are.
 */
export async function signJwt(
  algorithm: JwtAlgorithm,
  claims: Readonly<Record<string, string | number>>,
  key: CryptoKey,
): Promise<string> {
  const header = base64UrlEncode(JSON.stringify({ alg: algorithm, typ: "JWT" }));
  const payload = base64UrlEncode(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  const signature = await crypto.subtle.sign(
    SIGN_PARAMS[algorithm],
    key,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64UrlEncode(signature)}`;
}

/**
 * Imports a PEM PKCS#8 RSA private key for RS256. Tolerates the literal `\n` sequences a key picks
 * up when a service-account JSON is pasted into an environment variable. Throws on a bad key.
 */
export async function importRsaPrivateKeyPem(pem: string): Promise<CryptoKey> {
  if (pem.includes("BEGIN RSA PRIVATE KEY")) {
    throw new TypeError("the private key is PKCS#1; WebCrypto needs PKCS#8 (BEGIN PRIVATE KEY)");
  }
  const body = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\\n|\s/g, "");
  const der = base64UrlDecode(body);
  if (!der || der.length === 0) throw new TypeError("the private key is not PEM-encoded");
  return crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}
