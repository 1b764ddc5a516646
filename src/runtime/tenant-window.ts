/**
 * How many claimed, not yet recorded deliveries each tenant has in this runtime, against a cap.
 * The executor caps a tenant's running attempts; this caps what waits behind them, so a tenant
 * whose receivers hang cannot fill the runtime's whole window of claimed deliveries (and with it
 * stop ingest and claims for everyone). Deliveries without a tenant are not capped.
 */
export interface TenantWindow {
  add(tenant: string | null): void;
  /** True when `tenant` was at its cap: claims skipped its deliveries, which may be due. */
  remove(tenant: string | null): boolean;
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
      if (tenant === null) return false;
      const count = held.get(tenant) ?? 1;
      if (count > 1) held.set(tenant, count - 1);
      else held.delete(tenant);
      return count >= perTenant;
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
