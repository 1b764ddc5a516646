/**
 * Test helpers around a migrated database: a tracked `orders` table and observers written with
 * plain SQL (as an operator could), so runtime tests do not depend on the HTTP API.
 */
import type postgres from "postgres";

/** Creates `public.orders` and tracks it as entity type `Order`. */
export async function createOrdersTable(sql: postgres.Sql, table = "orders"): Promise<void> {
  await sql.unsafe(`CREATE TABLE public.${table} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status text NOT NULL DEFAULT 'new',
    total numeric NOT NULL DEFAULT 0,
    org bigint
  )`);
  await sql.unsafe(
    `SELECT core.fn_track_table('public.${table}', 'Order', '{"tenant_column": "org"}')`,
  );
}

/** What an observer row needs; everything else takes the table's defaults. */
export interface ObserverSeed {
  name: string;
  entity_type?: string | null;
  event_type?: string | null;
  condition_expression?: string | null;
  actions: unknown[];
  retry_config?: Record<string, unknown>;
  timeout_ms?: number;
  enabled?: boolean;
  fk_customer_org?: number | null;
}

/** Inserts an observer with SQL; returns its public id. */
export async function insertObserver(sql: postgres.Sql, seed: ObserverSeed): Promise<string> {
  const rows = await sql.unsafe<{ id: string }[]>(
    `INSERT INTO core.tb_observer (name, entity_type, event_type, condition_expression, actions,
       retry_config, timeout_ms, enabled, fk_customer_org)
     VALUES ($1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7, $8, $9)
     RETURNING id::text AS id`,
    [
      seed.name,
      seed.entity_type === undefined ? "Order" : seed.entity_type,
      seed.event_type ?? null,
      seed.condition_expression ?? null,
      JSON.stringify(seed.actions),
      JSON.stringify(
        seed.retry_config ?? { max_attempts: 3, initial_delay_ms: 20, max_delay_ms: 100 },
      ),
      seed.timeout_ms ?? 5_000,
      seed.enabled ?? true,
      seed.fk_customer_org ?? null,
    ],
  );
  const id = rows[0]?.id;
  if (!id) throw new Error("observer insert returned no id");
  return id;
}

/** A webhook action to `url`. */
export function webhook(url: string, extra: Record<string, unknown> = {}) {
  return { type: "webhook", url, ...extra };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
