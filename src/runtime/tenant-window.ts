/**
 * How many claimed, not yet recorded deliveries each tenant has in this runtime, against a cap.
 * The executor caps a tenant's running attempts; this caps what waits behind them, so a tenant
 * whose receivers hang cannot fill the runtime's whole window of claimed deliveries (and with it
 * stop ingest and claims for everyone). Deliveries without a tenant are not capped.
 */
export interface TenantWindow {
  add(tenant: string | null): void;
  remove(tenant: string | null): void;
  /** How many more deliveries `tenant` may take on now. */
  room(tenant: string | null): number;
  /** Tenants at their cap: claims skip their deliveries. */
  full(): string[];
}

/** A window of at most `perTenant` deliveries per tenant. */
export function createTenantWindow(perTenant: number): TenantWindow {
  const held = new Map<string, number>();
  return {
    add(tenant) {
      if (tenant !== null) held.set(tenant, (held.get(tenant) ?? 0) + 1);
    },
    remove(tenant) {
      if (tenant === null) return;
      const left = (held.get(tenant) ?? 1) - 1;
      if (left > 0) held.set(tenant, left);
      else held.delete(tenant);
    },
    room(tenant) {
      return tenant === null
        ? Number.POSITIVE_INFINITY
        : Math.max(0, perTenant - (held.get(tenant) ?? 0));
    },
    full() {
      const full: string[] = [];
      for (const [tenant, count] of held) if (count >= perTenant) full.push(tenant);
      return full;
    },
  };
}
