/** Reading every observer a key manages (all pages), for apply and export. */
import type { ApiClient } from "./client.ts";
import type { ServerObserver } from "./observers-file.ts";

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
