import * as v from "valibot";
import { importRsaPrivateKeyPem, signJwt } from "../crypto/jwt.ts";
import { sendHttp } from "../net/http.ts";
import { httpUrl, nonEmptyString } from "./fields.ts";
import { type ActionEnvironment, ActionFailure } from "./types.ts";

/** The OAuth2 scope FCM HTTP v1 requires. */
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_SECONDS = 3600;
/** Refresh this long before Google's expiry, so a token never dies in flight. */
const REFRESH_MARGIN_MS = 60_000;
/** One entry per service account: bounded so a config churn cannot grow memory without limit. */
const MAX_CACHED_TOKENS = 64;
/** Access tokens run to a few kilobytes; the default excerpt bound would cut them. */
const TOKEN_RESPONSE_BYTES = 64 * 1024;

/** The fields of a Google service-account key file that FCM needs. */
export const serviceAccountSchema = v.object({
  client_email: nonEmptyString,
  private_key: nonEmptyString,
  token_uri: v.optional(httpUrl, GOOGLE_TOKEN_URI),
  project_id: v.optional(nonEmptyString),
});
export type ServiceAccount = v.InferOutput<typeof serviceAccountSchema>;

/** Parses a service-account JSON document; a string result says what is wrong with it. */
export function parseServiceAccount(json: string): ServiceAccount | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return "is not valid JSON";
  }
  const result = v.safeParse(serviceAccountSchema, value);
  if (result.success) return result.output;
  const [issue] = result.issues;
  const path = v.getDotPath(issue);
  return path ? `${path}: ${issue.message}` : issue.message;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

const tokens = new Map<string, CachedToken>();

function cacheKey(account: ServiceAccount): string {
  return `${account.client_email}\n${account.token_uri}`;
}

/** Drops the cached token, so the next attempt authenticates afresh (after FCM answered 401). */
export function forgetAccessToken(account: ServiceAccount): void {
  tokens.delete(cacheKey(account));
}

/** An OAuth2 access token for FCM: cached per service account until shortly before it expires. */
export async function getAccessToken(
  account: ServiceAccount,
  environment: ActionEnvironment,
  signal: AbortSignal,
): Promise<string> {
  const key = cacheKey(account);
  const cached = tokens.get(key);
  if (cached && cached.expiresAt > environment.clock.now()) return cached.token;
  tokens.delete(key);
  const fresh = await requestAccessToken(account, environment, signal);
  if (tokens.size >= MAX_CACHED_TOKENS) {
    const oldest = tokens.keys().next();
    if (!oldest.done) tokens.delete(oldest.value);
  }
  tokens.set(key, fresh);
  return fresh.token;
}

/** The OAuth2 JWT bearer grant (RFC 7523) as Google's token endpoint takes it. */
async function requestAccessToken(
  account: ServiceAccount,
  environment: ActionEnvironment,
  signal: AbortSignal,
): Promise<CachedToken> {
  let key: CryptoKey;
  try {
    key = await importRsaPrivateKeyPem(account.private_key);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ActionFailure(
      "permanent",
      "INVALID_SERVICE_ACCOUNT",
      `FCM service account private_key cannot be used: ${reason}`,
      { cause: error },
    );
  }
  const now = environment.clock.now();
  const iat = Math.floor(now / 1000);
  const assertion = await signJwt(
    "RS256",
    {
      iss: account.client_email,
      scope: FCM_SCOPE,
      aud: account.token_uri,
      iat,
      exp: iat + ASSERTION_SECONDS,
    },
    key,
  );
  const response = await sendHttp(
    {
      url: account.token_uri,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }),
    },
    environment,
    signal,
    { maxBodyBytes: TOKEN_RESPONSE_BYTES },
  );
  const body = parseObject(response.body);
  if (response.status >= 200 && response.status < 300) {
    const token = body?.access_token;
    const expiresIn = body?.expires_in;
    if (typeof token === "string" && token !== "") {
      const lifetimeMs = (typeof expiresIn === "number" ? expiresIn : ASSERTION_SECONDS) * 1000;
      const margin = Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2);
      return { token, expiresAt: now + lifetimeMs - margin };
    }
  }
  const excerpt = response.body.slice(0, 1024);
  const details = { httpStatus: response.status, responseExcerpt: excerpt };
  // invalid_grant: a revoked or deleted key, or a wrong client_email; retrying cannot fix it.
  if (response.status === 400 && body?.error === "invalid_grant") {
    const description = body.error_description;
    throw new ActionFailure(
      "permanent",
      "AUTH_FAILED",
      `FCM token endpoint refused the service account (invalid_grant${typeof description === "string" ? `: ${description}` : ""})`,
      details,
    );
  }
  throw new ActionFailure(
    "transient",
    "TOKEN_REQUEST_FAILED",
    `FCM token endpoint answered HTTP ${response.status} without an access token`,
    details,
  );
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
