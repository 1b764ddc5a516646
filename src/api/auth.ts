import type { Context, MiddlewareHandler } from "hono";
import { clientAddressOf, type TrustedProxies, throttleKey } from "../net/client-address.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { findApiKey } from "../store/api-keys.ts";
import type { TenantScope } from "../store/common.ts";
import { AuthThrottle } from "./auth-throttle.ts";
import { HttpProblem } from "./problem.ts";

/** Who is calling: the admin token or an API key. */
export interface Principal {
  /** Recorded as `created_by`/`updated_by`: `admin` or `key:<name>`. */
  actor: string;
  scope: "admin" | "read";
  /** The key's tenant (BIGINT as text), or null for every tenant. */
  tenant: string | null;
  /** The stored API key's id; null for the admin token from the environment. */
  keyId: string | null;
}

/** Hono's environment of the API's handlers. */
export interface ApiEnv {
  Variables: { principal: Principal };
}

/** The calling client's address, as the host knows it (Bun's `requestIP`, Workers' `cf-connecting-ip`). */
export type ClientAddress = (c: Context) => string | undefined;

/** Options of `createAuth`. */
export interface AuthOptions {
  sql: SqlExecutor;
  /** `OBSERVERS_ADMIN_TOKEN`; null when only stored keys authenticate. */
  adminToken?: string | null;
  /** Whose failures count together; without it, every client counts as one. */
  clientAddress?: ClientAddress | undefined;
  /** Peers whose forwarding header names the client (`OBSERVERS_TRUSTED_PROXIES`). */
  trustedProxies?: TrustedProxies | undefined;
  throttle?: AuthThrottle;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
/** The WebSocket upgrade, whose token may come as `?token=`. */
const LIVE_PATH = "/api/observers/ws";
const READ_METHODS = new Set(["GET", "HEAD"]);
/**
 * POSTs that only read (their body is a question): a `read` key may call them. Matched on the
 * host's path, so under a mount prefix too.
 */
const READING_POSTS = [
  /(?:^|\/)api\/observers\/[^/]+\/(?:test|backtest)$/,
  /(?:^|\/)api\/observers\/validate$/,
];

function reads(method: string, path: string): boolean {
  return READ_METHODS.has(method) || (method === "POST" && READING_POSTS.some((p) => p.test(path)));
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares digests, not tokens: the time taken says nothing about the admin token. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, "UNAUTHORIZED", detail, { "www-authenticate": "Bearer" });
}

function tooMany(waitMs: number): HttpProblem {
  const seconds = Math.ceil(waitMs / 1000);
  return new HttpProblem(
    429,
    "TOO_MANY_REQUESTS",
    `too many invalid tokens from this client: retry in ${seconds} s`,
    { "retry-after": String(seconds) },
  );
}

/**
 * The principal `token` stands for, or null. `adminDigest` undefined: the admin token is not
 * checked (a throttled client, see `createAuth`).
 */
async function authenticate(
  options: AuthOptions,
  adminDigest: Promise<Uint8Array> | undefined,
  token: string,
): Promise<Principal | null> {
  if (adminDigest && sameBytes(await adminDigest, await digest(token))) {
    return { actor: "admin", scope: "admin", tenant: null, keyId: null };
  }
  const key = await findApiKey(options.sql, token);
  return key
    ? { actor: `key:${key.name}`, scope: key.scope, tenant: key.fk_customer_org, keyId: key.id }
    : null;
}

/**
 * Requires `Authorization: Bearer <token>`: the admin token, or a stored API key. A `read` key may
 * only read (403 otherwise; test, backtest and validate only read); a tenant-bound key's tenant
 * reaches the store through `principal`.
 *
 * A client (its address, an IPv6 one by /64, see client-address.ts) that keeps sending invalid
 * tokens is throttled: until its wait is over, an invalid token gets 429 with `Retry-After` (and
 * does not lengthen the wait), while a stored API key still passes, so that clients sharing an
 * address with a guesser (behind a NAT, or an untrusted proxy) keep working. Checking a stored key
 * is one SHA-256 and one lookup by it, the same cost as before; and answering it tells a guesser
 * nothing it could use, since keys are 256 random bits. The admin token from the environment is the
 * exception: an operator may have chosen it by hand, so it is the one credential guessing could
 * find, and a throttled client's admin token waits like any guess (use an API key, or configure
 * `OBSERVERS_TRUSTED_PROXIES`, for clients behind a shared address). A success never resets a
 * client's failures: a key holder could otherwise interleave it with guesses.
 */
export function createAuth(options: AuthOptions): MiddlewareHandler<ApiEnv> {
  const adminDigest = options.adminToken ? digest(options.adminToken) : undefined;
  const throttle = options.throttle ?? new AuthThrottle();
  return async (c, next) => {
    const header = c.req.header("authorization");
    // Browsers cannot set headers on a WebSocket: the upgrade may carry the token in the query.
    // The path is the host's: under a mount prefix (`/plugin/api/observers/ws`) it only ends so.
    const token =
      (header ? BEARER.exec(header)?.[1] : undefined) ??
      (c.req.path.endsWith(LIVE_PATH) ? c.req.query("token") || undefined : undefined);
    if (token === undefined) throw unauthorized("send Authorization: Bearer <token>");
    const address = clientAddressOf(
      options.clientAddress?.(c),
      (name) => c.req.header(name),
      options.trustedProxies,
    );
    const client = address === undefined ? "unknown" : throttleKey(address);
    const waitMs = throttle.waitMs(client);
    const principal = await authenticate(options, waitMs > 0 ? undefined : adminDigest, token);
    if (!principal) {
      if (waitMs > 0) throw tooMany(waitMs);
      throttle.failure(client);
      throw unauthorized("the token is not valid");
    }
    if (principal.scope === "read" && !reads(c.req.method, c.req.path)) {
      throw new HttpProblem(403, "FORBIDDEN", "this key has the read scope: it cannot write");
    }
    c.set("principal", principal);
    await next();
  };
}

/** The store's tenant scope and actor for the calling principal. */
export function callerScope(principal: Principal): { tenant?: string; actor: string } {
  return principal.tenant === null
    ? { actor: principal.actor }
    : { actor: principal.actor, tenant: principal.tenant };
}

/** The caller's tenant scope alone. */
export function tenantOf(principal: Principal): TenantScope {
  return principal.tenant === null ? {} : { tenant: principal.tenant };
}
