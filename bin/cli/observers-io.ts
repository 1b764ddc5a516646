/**
 * Observers as the server shows them: every one a key manages (apply, export), and an
 * `--observer` name or id resolved to an id (dlq, tail, listen).
 */
import type { JsonValue } from "../../src/json.ts";
import type { ApiClient } from "./client.ts";
import { UsageError } from "./command.ts";

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
  retry_config: Record<string, JsonValue>;
  enabled: boolean;
  priority: number;
  timeout_ms: number;
  fk_customer_org: string | number | null;
}

/** `--tenant`, shared by apply and export. */
export const tenantOption = { tenant: { type: "string" } } as const;
export const TENANT_HELP =
  "--tenant <id>: manage this tenant's observers (for a tenant-bound key); default: global observers";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `--observer`: an id as it is, a name looked up among the caller's observers. */
export async function observerIdOf(client: ApiClient, value: string): Promise<string> {
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
  throw new UsageError(`--observer: no observer named ${JSON.stringify(value)}`);
}
