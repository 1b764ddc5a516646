/**
 * A source transaction's changes as change-log rows, shaped as the PostgreSQL capture writes them
 * (migration 0007): `object_type` the entity type, `modification_type` INSERT/UPDATE/DELETE,
 * `object_id` the id column as text, the tenant in `fk_customer_org` (an integer) or `tenant_id`
 * (a UUID), and a Debezium envelope `{op, before, after, source}` in `object_data`, whose
 * `source` names the connector, the source's database (or schema) and table, when it committed,
 * and the reader's position fields.
 */
import type { JsonObject, JsonValue } from "../json.ts";
import type { SourceKind, SourceTable, SourceTransaction } from "../ports/source.ts";
import type { SourceChangeRow } from "../store/sources.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BIGINT = /^-?\d{1,19}$/;
const MODIFICATION = { c: "INSERT", u: "UPDATE", d: "DELETE" } as const;

function pick(row: JsonObject | null, columns: readonly string[] | undefined): JsonObject | null {
  if (row === null || columns === undefined) return row;
  const picked: JsonObject = {};
  for (const column of columns) if (column in row) picked[column] = row[column] as JsonValue;
  return picked;
}

function scalarText(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Where a tenant value goes: an integer to `fk_customer_org`, a UUID to `tenant_id`. */
export function tenantColumns(value: JsonValue | undefined): {
  fkCustomerOrg: string | null;
  tenantId: string | null;
  unusable: boolean;
} {
  const text = scalarText(value);
  if (text === null) return { fkCustomerOrg: null, tenantId: null, unusable: false };
  if (BIGINT.test(text) && BigInt(text) <= 9_223_372_036_854_775_807n) {
    return { fkCustomerOrg: text, tenantId: null, unusable: false };
  }
  if (UUID.test(text)) return { fkCustomerOrg: null, tenantId: text, unusable: false };
  return { fkCustomerOrg: null, tenantId: null, unusable: true };
}

/** `db.table` (MySQL) or `schema.table` (SQL Server) split at its first dot. */
function sourceNames(kind: SourceKind, table: string): Record<string, string> {
  const dot = table.indexOf(".");
  const first = dot < 0 ? "" : table.slice(0, dot);
  const name = dot < 0 ? table : table.slice(dot + 1);
  return kind === "mysql" ? { db: first, table: name } : { schema: first, table: name };
}

/**
 * The rows of `transaction` for a source of `kind` tracking `tables` (changes of other tables are
 * dropped). `onUnusableTenant` hears of a tenant value that is neither an integer nor a UUID (the
 * row is then written without a tenant: only global observers see it).
 */
export function sourceChangeRows(
  kind: SourceKind,
  tables: readonly SourceTable[],
  transaction: SourceTransaction,
  onUnusableTenant: (table: string) => void,
): SourceChangeRow[] {
  const byName = new Map(tables.map((t) => [t.table, t]));
  const rows: SourceChangeRow[] = [];
  for (const change of transaction.changes) {
    const table = byName.get(change.table);
    if (!table) continue;
    const image = change.after ?? change.before;
    const idColumn = table.idColumn ?? "id";
    const tenant = table.tenantColumn ? tenantColumns(image?.[table.tenantColumn]) : null;
    if (tenant?.unusable) onUnusableTenant(change.table);
    const source: JsonObject = {
      ...transaction.source,
      connector: kind,
      ...sourceNames(kind, change.table),
      ts_ms: transaction.committedAtMs,
    };
    rows.push({
      entityType: table.entityType,
      modificationType: MODIFICATION[change.op],
      objectId: scalarText(image?.[idColumn]),
      objectData: {
        op: change.op,
        before: pick(change.before, table.columns),
        after: pick(change.after, table.columns),
        source,
      },
      fkCustomerOrg: tenant?.fkCustomerOrg ?? null,
      tenantId: tenant?.tenantId ?? null,
    });
  }
  return rows;
}
