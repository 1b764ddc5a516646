import type { SqlExecutor } from "../ports/sql.ts";

/** An enabled, live observer as the runtime loads it (JSON columns as text). */
export interface ObserverRow extends Record<string, unknown> {
  pk_observer: string;
  id: string;
  name: string;
  entity_type: string | null;
  event_type: string | null;
  condition_expression: string | null;
  actions: string;
  retry_config: string;
  timeout_ms: number;
  /** Changes whenever the row does (its `updated_at` in microseconds). */
  version: string;
  enabled: boolean;
  priority: number;
  fk_customer_org: string | null;
  /** `unordered` or `per_entity`. */
  ordering: string;
  /** Paused: its deliveries are created, never leased at creation, and claimed after resume. */
  paused: boolean;
}

/** The observer revision (bumped by every write to tb_observer) and the enabled, live observers. */
export async function loadObservers(
  sql: SqlExecutor,
): Promise<{ revision: string; observers: ObserverRow[] }> {
  const revision = await readObserverRevision(sql);
  const observers = await sql.query<ObserverRow>(
    `SELECT pk_observer::text AS pk_observer, id::text AS id, name, entity_type, event_type,
       condition_expression, actions::text AS actions, retry_config::text AS retry_config,
       timeout_ms, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS version, enabled, priority,
       fk_customer_org::text AS fk_customer_org, ordering, paused_at IS NOT NULL AS paused
     FROM core.tb_observer WHERE deleted_at IS NULL AND enabled
     ORDER BY priority, pk_observer`,
  );
  return { revision, observers };
}

/** The current observer revision. */
export async function readObserverRevision(sql: SqlExecutor): Promise<string> {
  const rows = await sql.query<{ revision: string }>(
    "SELECT max(revision)::text AS revision FROM core.tb_observer_revision",
  );
  return rows[0]?.revision ?? "0";
}
