/**
 * Sources (migration 0014): their configuration, their lease and their state. The position is
 * written only by `commitSourceTransaction`, in the transaction of the change-log rows it
 * produced, compare-and-set on `position_version` and the lease, so two servers never both write.
 */
import type { JsonObject } from "../json.ts";
import type { SourceKind, SourceTable } from "../ports/source.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { type Page, type PageRequest, pageBounds, toPage } from "./common.ts";

/** Channel the API notifies when sources are created or deleted (servers also poll). */
export const SOURCES_CHANNEL = "fraiseql_observers_sources";

/** A source as stored (the URL's secret form included: never leaves the server). */
export interface SourceRow {
  id: string;
  name: string;
  kind: SourceKind;
  url_ciphertext: string | null;
  url_env: string | null;
  start: "now" | "beginning";
  tables: SourceTable[];
  position: JsonObject | null;
  position_version: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  connected: boolean;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_at: string | null;
  lag_ms: string | null;
  changes_captured: string;
  transactions_captured: string;
  last_captured_at: string | null;
  created_at: string;
  updated_at: string;
}

interface RawRow extends Omit<SourceRow, "tables" | "position"> {
  tables: string;
  position: string | null;
}

const COLUMNS = `id::text AS id, name, kind, url_ciphertext, url_env, start, tables::text AS tables,
  position::text AS position, position_version::text AS position_version, lease_owner,
  to_json(lease_expires_at) #>> '{}' AS lease_expires_at, connected, last_error_code,
  last_error_message, to_json(last_error_at) #>> '{}' AS last_error_at, lag_ms::text AS lag_ms,
  changes_captured::text AS changes_captured, transactions_captured::text AS transactions_captured,
  to_json(last_captured_at) #>> '{}' AS last_captured_at,
  to_json(created_at) #>> '{}' AS created_at, to_json(updated_at) #>> '{}' AS updated_at`;

/** A tracked table as stored (the API's names). */
interface StoredTable {
  table: string;
  entity_type: string;
  id_column?: string;
  tenant_column?: string;
  columns?: string[];
}

function toStored(t: SourceTable): StoredTable {
  return {
    table: t.table,
    entity_type: t.entityType,
    ...(t.idColumn === undefined ? {} : { id_column: t.idColumn }),
    ...(t.tenantColumn === undefined ? {} : { tenant_column: t.tenantColumn }),
    ...(t.columns === undefined ? {} : { columns: [...t.columns] }),
  };
}

function fromStored(t: StoredTable): SourceTable {
  return {
    table: t.table,
    entityType: t.entity_type,
    ...(t.id_column === undefined ? {} : { idColumn: t.id_column }),
    ...(t.tenant_column === undefined ? {} : { tenantColumn: t.tenant_column }),
    ...(t.columns === undefined ? {} : { columns: t.columns }),
  };
}

function toRow(raw: RawRow): SourceRow {
  return {
    ...raw,
    tables: (JSON.parse(raw.tables) as StoredTable[]).map(fromStored),
    position: raw.position === null ? null : (JSON.parse(raw.position) as JsonObject),
  };
}

/** A source to create (`POST /api/sources`); `id` is chosen by the caller (the URL's cipher binds to it). */
export interface NewSource {
  id: string;
  name: string;
  kind: SourceKind;
  urlCiphertext: string | null;
  urlEnv: string | null;
  start: "now" | "beginning";
  tables: readonly SourceTable[];
}

/** Inserts `source`; null when the name is taken. Notifies the servers. */
export async function insertSource(sql: SqlExecutor, source: NewSource): Promise<SourceRow | null> {
  const rows = await sql.query<RawRow>(
    `WITH created AS (
       INSERT INTO core.tb_source (id, name, kind, url_ciphertext, url_env, start, tables)
       VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::text::jsonb)
       ON CONFLICT (name) DO NOTHING
       RETURNING *
     ), notified AS (
       SELECT pg_notify('${SOURCES_CHANNEL}', id::text) FROM created
     )
     SELECT ${COLUMNS} FROM created, (SELECT count(*) FROM notified) n`,
    [
      source.id,
      source.name,
      source.kind,
      source.urlCiphertext,
      source.urlEnv,
      source.start,
      JSON.stringify(source.tables.map(toStored)),
    ],
  );
  return rows[0] ? toRow(rows[0]) : null;
}

/** Every source, oldest first (the supervisor's view). */
export async function listAllSources(sql: SqlExecutor): Promise<SourceRow[]> {
  const rows = await sql.query<RawRow>(`SELECT ${COLUMNS} FROM core.tb_source ORDER BY pk_source`);
  return rows.map(toRow);
}

/** A page of sources, oldest first (`GET /api/sources`). */
export async function listSources(
  sql: SqlExecutor,
  request: PageRequest,
): Promise<Page<SourceRow>> {
  const { page, limit, offset } = pageBounds(request);
  const [rows, counts] = await Promise.all([
    sql.query<RawRow>(
      `SELECT ${COLUMNS} FROM core.tb_source ORDER BY pk_source LIMIT $1 OFFSET $2`,
      [limit, offset],
    ),
    sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM core.tb_source`),
  ]);
  return toPage(rows.map(toRow), page, limit, Number(counts[0]?.n ?? 0));
}

/** One source, or null. */
export async function getSource(sql: SqlExecutor, id: string): Promise<SourceRow | null> {
  const rows = await sql.query<RawRow>(
    `SELECT ${COLUMNS} FROM core.tb_source WHERE id = $1::text::uuid`,
    [id],
  );
  return rows[0] ? toRow(rows[0]) : null;
}

/** Deletes a source (its reader stops at its next commit or lease renewal); false when absent. */
export async function deleteSource(sql: SqlExecutor, id: string): Promise<boolean> {
  const rows = await sql.query<{ id: string }>(
    `WITH gone AS (DELETE FROM core.tb_source WHERE id = $1::text::uuid RETURNING id)
     SELECT id::text AS id, pg_notify('${SOURCES_CHANNEL}', id::text) FROM gone`,
    [id],
  );
  return rows.length > 0;
}

/**
 * Takes or renews the lease of source `id` for `owner`: true when `owner` holds it now. Another
 * owner's lease is taken only once it has expired.
 */
export async function holdSourceLease(
  sql: SqlExecutor,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await sql.query<{ id: string }>(
    `UPDATE core.tb_source
     SET lease_owner = $2, lease_expires_at = now() + $3 * interval '1 millisecond'
     WHERE id = $1::text::uuid
       AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
     RETURNING id::text AS id`,
    [id, owner, leaseMs],
  );
  return rows.length > 0;
}

/** Gives the lease up (graceful stop), marking the source disconnected. */
export async function releaseSourceLease(
  sql: SqlExecutor,
  id: string,
  owner: string,
): Promise<void> {
  await sql.query(
    `UPDATE core.tb_source SET lease_owner = NULL, lease_expires_at = NULL, connected = false,
       lag_ms = NULL, updated_at = now()
     WHERE id = $1::text::uuid AND lease_owner = $2`,
    [id, owner],
  );
}

/** The state the lease holder reports (connected, lag, the last error: null clears it). */
export interface SourceState {
  connected: boolean;
  lagMs: number | null;
  /** Undefined: unchanged; null: cleared. */
  error?: { code: string; message: string } | null;
}

/** Writes the state of source `id`, if `owner` still holds its lease. */
export async function writeSourceState(
  sql: SqlExecutor,
  id: string,
  owner: string,
  state: SourceState,
): Promise<void> {
  const error = state.error;
  await sql.query(
    `UPDATE core.tb_source SET connected = $3, lag_ms = $4,
       last_error_code = CASE WHEN $5 THEN $6 ELSE last_error_code END,
       last_error_message = CASE WHEN $5 THEN $7 ELSE last_error_message END,
       last_error_at = CASE WHEN $5 THEN (CASE WHEN $6::text IS NULL THEN NULL ELSE now() END)
                            ELSE last_error_at END,
       updated_at = now()
     WHERE id = $1::text::uuid AND lease_owner = $2`,
    [
      id,
      owner,
      state.connected,
      state.lagMs === null ? null : Math.max(0, Math.round(state.lagMs)),
      error !== undefined,
      error?.code ?? null,
      error?.message ?? null,
    ],
  );
}

/** One change-log row a source transaction writes. */
export interface SourceChangeRow {
  entityType: string;
  modificationType: "INSERT" | "UPDATE" | "DELETE";
  objectId: string | null;
  /** The Debezium envelope. */
  objectData: JsonObject;
  fkCustomerOrg: string | null;
  tenantId: string | null;
}

/** What one committed source transaction writes. */
export interface SourceCommit {
  id: string;
  owner: string;
  leaseMs: number;
  /** The `position_version` the writer last saw: the write happens only if it is still current. */
  expectedVersion: string;
  position: JsonObject;
  changes: readonly SourceChangeRow[];
  /** Source transactions among them that had changes. */
  transactions: number;
  lagMs: number | null;
}

/**
 * In the caller's transaction: moves the position (compare-and-set on the version and the lease,
 * first, so concurrent writers serialise on the row), then writes the change-log rows and
 * notifies the runtimes. Returns the new version, or null when the source is gone, its lease
 * belongs to another server, or another writer moved the position (then nothing is written).
 */
export async function commitSourceTransaction(
  tx: SqlExecutor,
  commit: SourceCommit,
): Promise<string | null> {
  const moved = await tx.query<{ version: string }>(
    `UPDATE core.tb_source SET position = $4::text::jsonb, position_version = position_version + 1,
       lease_expires_at = now() + $3 * interval '1 millisecond',
       changes_captured = changes_captured + $5,
       transactions_captured = transactions_captured + $8,
       last_captured_at = CASE WHEN $5 > 0 THEN now() ELSE last_captured_at END,
       lag_ms = $6, connected = true, updated_at = now(),
       -- Reading works again: the error is history.
       last_error_code = NULL, last_error_message = NULL, last_error_at = NULL
     WHERE id = $1::text::uuid AND lease_owner = $2 AND position_version = $7::bigint
     RETURNING position_version::text AS version`,
    [
      commit.id,
      commit.owner,
      commit.leaseMs,
      JSON.stringify(commit.position),
      commit.changes.length,
      commit.lagMs === null ? null : Math.max(0, Math.round(commit.lagMs)),
      commit.expectedVersion,
      commit.transactions,
    ],
  );
  const version = moved[0]?.version;
  if (version === undefined) return null;
  if (commit.changes.length > 0) {
    await tx.query(
      `INSERT INTO core.tb_entity_change_log
         (object_type, modification_type, object_id, object_data, fk_customer_org, tenant_id)
       SELECT r.object_type, r.modification_type, r.object_id, r.object_data,
         r.fk_customer_org::bigint, r.tenant_id::uuid
       FROM ROWS FROM (jsonb_to_recordset($1::text::jsonb)
         AS (object_type text, modification_type text, object_id text, object_data jsonb,
             fk_customer_org text, tenant_id text)) WITH ORDINALITY
         AS r(object_type, modification_type, object_id, object_data, fk_customer_org, tenant_id, n)
       ORDER BY r.n`,
      [
        JSON.stringify(
          commit.changes.map((c) => ({
            object_type: c.entityType,
            modification_type: c.modificationType,
            object_id: c.objectId,
            object_data: c.objectData,
            fk_customer_org: c.fkCustomerOrg,
            tenant_id: c.tenantId,
          })),
        ),
      ],
    );
    await tx.query(`SELECT pg_notify('fraiseql_observers', '')`);
  }
  return version;
}
