import { base64UrlEncode } from "../crypto/base64url.ts";
import { NotFoundError } from "../errors.ts";
import type { SqlClient, SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import {
  bigintValue,
  isoColumn,
  isUuid,
  type Page,
  type PageRequest,
  pageBounds,
  type TenantScope,
  tenantCondition,
  toPage,
} from "./common.ts";
import { arrayLiteral } from "./pg-array.ts";

/** An API key as authentication sees it. */
export interface ApiKey {
  id: string;
  name: string;
  scope: "admin" | "read";
  /** The tenant the key is bound to (BIGINT as text), or null for every tenant. */
  fk_customer_org: string | null;
}

/** The name of the admin key a server generates when `OBSERVERS_ADMIN_TOKEN` is unset. */
export const BOOTSTRAP_KEY_NAME = "bootstrap-admin";
const TOKEN_PREFIX = "obs_";
// Any constant works: it only has to be the same in every process that might bootstrap at once.
const BOOTSTRAP_LOCK = 7_301_946_001;

/** SHA-256 of a token as lowercase hex: what `core.tb_api_key` stores instead of the token. */
export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new random token: `obs_` and 32 random bytes as base64url. */
export function generateToken(): string {
  return TOKEN_PREFIX + base64UrlEncode(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * The live key whose token is `token`, or null. Records `last_used_at`, at most once a minute per
 * key so that authentication does not turn every request into a write.
 */
export async function findApiKey(sql: SqlExecutor, token: string): Promise<ApiKey | null> {
  const rows = await sql.query<ApiKey>(
    `WITH key AS (
       SELECT pk_api_key, id, name, scope, fk_customer_org, last_used_at FROM core.tb_api_key
       WHERE token_sha256 = $1::text AND deleted_at IS NULL
     ), touched AS (
       UPDATE core.tb_api_key k SET last_used_at = now() FROM key
       WHERE k.pk_api_key = key.pk_api_key
         AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
     )
     SELECT id::text AS id, name, scope, fk_customer_org::text AS fk_customer_org FROM key`,
    [await hashToken(token)],
  );
  return rows[0] ?? null;
}

/** Stores a new key (hashed) and returns its id and the token, which is never readable again. */
export async function insertApiKey(
  sql: SqlExecutor,
  key: { name: string; scope: "admin" | "read"; fk_customer_org?: string | null },
): Promise<{ id: string; token: string }> {
  const token = generateToken();
  const rows = await sql.query<{ id: string }>(
    `INSERT INTO core.tb_api_key (name, token_sha256, token_prefix, scope, fk_customer_org)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::text::bigint) RETURNING id::text AS id`,
    [key.name, await hashToken(token), token.slice(0, 8), key.scope, key.fk_customer_org ?? null],
  );
  return { id: (rows[0] as { id: string }).id, token };
}

/**
 * The server's admin token when `OBSERVERS_ADMIN_TOKEN` is unset: generated and stored (hashed)
 * the first time, and returned so that it can be printed; null on every later call, so it is
 * printed once, ever (a revoked bootstrap key is not replaced). Servers starting together agree
 * on one token: the check and the insert run under a transaction-level advisory lock.
 */
export async function ensureBootstrapAdminToken(sql: SqlClient): Promise<string | null> {
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [BOOTSTRAP_LOCK]);
    const existing = await tx.query(
      "SELECT 1 AS found FROM core.tb_api_key WHERE name = $1::text AND scope = 'admin' LIMIT 1",
      [BOOTSTRAP_KEY_NAME],
    );
    if (existing.length > 0) return null;
    const { token } = await insertApiKey(tx, { name: BOOTSTRAP_KEY_NAME, scope: "admin" });
    return token;
  });
}

/**
 * Whether a live admin key bound to no tenant exists: someone can administer the server without
 * `OBSERVERS_ADMIN_TOKEN`.
 */
export async function hasGlobalAdminKey(sql: SqlExecutor): Promise<boolean> {
  const rows = await sql.query(
    `SELECT 1 AS found FROM core.tb_api_key
     WHERE scope = 'admin' AND fk_customer_org IS NULL AND deleted_at IS NULL LIMIT 1`,
  );
  return rows.length > 0;
}

/** An API key as lists show it: never its token or hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  scope: "admin" | "read";
  fk_customer_org: number | string | null;
  /** The token's first characters, to tell keys apart. */
  token_prefix: string;
  created_at: string;
  last_used_at: string | null;
}

/** A page of live keys, newest first; a tenant scope lists that tenant's keys only. */
export async function listApiKeys(
  sql: SqlExecutor,
  options: PageRequest & TenantScope,
): Promise<Page<ApiKeyView>> {
  const { page, limit, offset } = pageBounds(options);
  const where = `WHERE deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 1)}`;
  const params = [options.tenant ?? null];
  const [rows, counts] = await Promise.all([
    sql.query<Omit<ApiKeyView, "fk_customer_org"> & { fk_customer_org: string | null }>(
      `SELECT id::text AS id, name, scope, fk_customer_org::text AS fk_customer_org, token_prefix,
         ${isoColumn("created_at")}, ${isoColumn("last_used_at")}
       FROM core.tb_api_key ${where}
       ORDER BY created_at DESC, pk_api_key DESC LIMIT $2::integer OFFSET $3::bigint`,
      [...params, limit, offset],
    ),
    sql.query<{ total: string }>(
      `SELECT count(*)::text AS total FROM core.tb_api_key ${where}`,
      params,
    ),
  ]);
  const keys = rows.map((row) => ({ ...row, fk_customer_org: bigintValue(row.fk_customer_org) }));
  return toPage(keys, page, limit, Number(counts[0]?.total ?? 0));
}

/** A key just revoked: its id as stored, and its tenant (whose live hub holds its sockets). */
export interface RevokedApiKey {
  id: string;
  tenant: string | null;
}

/** Revokes a key (it stops authenticating at once); `NotFoundError` when absent or another tenant's. */
export async function deleteApiKey(
  sql: SqlExecutor,
  id: string,
  scope: TenantScope = {},
): Promise<RevokedApiKey> {
  const missing = new NotFoundError(`no API key with id ${quoted(id)}`);
  if (!isUuid(id)) throw missing;
  const rows = await sql.query<RevokedApiKey>(
    `UPDATE core.tb_api_key SET deleted_at = now()
     WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}
     RETURNING id::text AS id, fk_customer_org::text AS tenant`,
    [id, scope.tenant ?? null],
  );
  const revoked = rows[0];
  if (!revoked) throw missing;
  return revoked;
}

/**
 * Which of `ids` are live (not revoked) keys: one statement for every open WebSocket's key, so
 * that re-checking them all costs one query however many sockets are open.
 */
export async function liveApiKeyIds(
  sql: SqlExecutor,
  ids: readonly string[],
): Promise<Set<string>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return new Set();
  const rows = await sql.query<{ id: string }>(
    `SELECT id::text AS id FROM core.tb_api_key
     WHERE id = ANY($1::text::uuid[]) AND deleted_at IS NULL`,
    [arrayLiteral(valid)],
  );
  return new Set(rows.map((row) => row.id));
}
