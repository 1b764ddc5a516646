/**
 * Observers as the server shows them: every one a key manages (apply, export), and an
 * `--observer` name or id resolved to an id (dlq, tail, listen).
 */
import type { JsonValue } from "../../src/json.ts";
import type { ApiClient } from "./client.ts";
import { UsageError } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";

interface Page {
  data: ServerObserver[];
  total_pages: number;
}

/**
 * Every live observer the key lists whose tenant is `tenant` (null: global observers, the ones an
 * admin token creates). An admin token lists every tenant's observers; those of other tenants are
 * left alone.
 */
export async function managedObservers(
  client: ApiClient,
  tenant: string | null,
): Promise<ServerObserver[]> {
  const all: ServerObserver[] = [];
  for (let page = 1; ; page++) {
    const found = await client.call<Page>("GET", "/api/observers", {
      query: { page, page_size: 100 },
    });
    all.push(...found.data);
    if (page >= found.total_pages) break;
  }
  return all.filter((observer) =>
    tenant === null
      ? observer.fk_customer_org === null
      : String(observer.fk_customer_org) === tenant,
  );
}

/** An observer as the API shows it (secrets redacted). */
export interface ServerObserver {
  id: string;
  name: string;
  description: string | null;
  entity_type: string | null;
  event_type: string | null;
  condition_expression: string | null;
  actions: JsonValue[];
  /** Absent from servers older than on_dead_letter. */
  on_dead_letter?: JsonValue[];
  retry_config: Record<string, JsonValue>;
  enabled: boolean;
  priority: number;
  timeout_ms: number;
  /** `unordered` or `per_entity` (servers before it: absent). */
  ordering?: string;
  fk_customer_org: string | number | null;
}

/** `--tenant`, shared by apply and export. */
export const tenantOption = { tenant: { type: "string" } } as const;
export const TENANT_HELP =
  "--tenant <id>: manage this tenant's observers; default: the key's tenant (global observers for an unbound key)";

/** Whose observers apply and export manage, and the key's own tenant. */
export interface ManagedScope {
  /** The observers' tenant (null: global observers). */
  tenant: string | null;
  /** The tenant of observers the key creates (null: global); undefined where the server does not say. */
  keyTenant: string | null | undefined;
}

/**
 * The scope from `--tenant` and the key (`GET /api/keys/self`): a tenant-bound key manages its
 * tenant's observers, and `--tenant` naming another is a usage error. A server without that route
 * (an older one) leaves the scope to `--tenant` alone.
 */
export async function managedScope(
  client: ApiClient,
  requested: string | undefined,
): Promise<ManagedScope> {
  const tenant = requested === undefined ? undefined : canonicalTenant(requested);
  const self = await client.raw("GET", "/api/keys/self");
  let keyTenant: string | null | undefined;
  if (self.status === 200) {
    const value = (self.body as { fk_customer_org?: unknown } | null)?.fk_customer_org;
    keyTenant = value === null || value === undefined ? null : String(value);
  } else if (self.status !== 404) {
    throw client.failure("GET", "/api/keys/self", self);
  }
  if (typeof keyTenant === "string" && tenant !== undefined && tenant !== keyTenant) {
    throw new CliError(
      EXIT.usage,
      `--tenant ${requested}: this key is bound to tenant ${keyTenant}; leave --tenant out or pass ${keyTenant}`,
    );
  }
  return { tenant: tenant ?? keyTenant ?? null, keyTenant };
}

/** "07" is tenant 7, as the API stores it. */
function canonicalTenant(value: string): string {
  return /^\d{1,19}$/.test(value) ? BigInt(value).toString() : value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `--observer` (or, `label`, the argument that named it): an id as it is, a name looked up among
 * the caller's observers.
 */
export async function observerIdOf(
  client: ApiClient,
  value: string,
  label = "--observer",
): Promise<string> {
  if (UUID.test(value)) return value;
  for (let page = 1; ; page++) {
    const found = await client.call<{ data: { id: string; name: string }[]; total_pages: number }>(
      "GET",
      "/api/observers",
      { query: { page, page_size: 100 } },
    );
    const match = found.data.find((observer) => observer.name === value);
    if (match) return match.id;
    if (page >= found.total_pages) break;
  }
  throw new UsageError(`${label}: no observer named ${JSON.stringify(value)}`);
}
