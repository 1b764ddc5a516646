import { type ActionPolicy, actionPolicyIssues } from "../actions/policy.ts";
import { defaultActionRegistry } from "../actions/registry.ts";
import type { ActionRegistry } from "../actions/types.ts";
import {
  ActionPolicyError,
  ConfigError,
  ConflictError,
  LimitError,
  NotFoundError,
  type PolicyIssueReport,
} from "../errors.ts";
import { isJsonObject } from "../json.ts";
import { type ObserverDefinition, observerDefinitionSchemaFor } from "../observers/schema.ts";
import type { SqlClient, SqlExecutor } from "../ports/sql.ts";
import { quoted } from "../quoted.ts";
import { safeParseConfig } from "../validation.ts";
import {
  isUuid,
  type Page,
  type PageRequest,
  pageBounds,
  sqlState,
  type TenantScope,
  tenantCondition,
  toPage,
  UNIQUE_VIOLATION,
} from "./common.ts";
import {
  OBSERVER_COLUMNS,
  type Observer,
  type StoredObserverRow,
  storedDefinition,
  toObserver,
} from "./observer-json.ts";
import { redactedPlaceholders } from "./redact.ts";

/** Who writes (recorded in `created_by`/`updated_by`) and for which tenant. */
export interface ObserverWriteOptions extends TenantScope {
  actor?: string | null;
  /**
   * The server's action policy: the actions are refused (`ActionPolicyError`) unless it allows
   * them for the observer's tenant. The API always passes one.
   */
  policy?: ActionPolicy;
  /** Refuse (`LimitError`) beyond these; absent: no limit but the schema's. */
  limits?: ObserverLimits;
  /**
   * The action types observers may use (`actionRegistry(custom)`); default: the built-ins. The
   * API passes the one it was built with, so a host's own types are accepted like built-ins.
   */
  registry?: ActionRegistry;
}

/** How many observers a tenant, and actions an observer, may have (docs/security.md). */
export interface ObserverLimits {
  /** Live observers per tenant (the unscoped owner counts as one tenant). */
  maxObserversPerTenant?: number;
  maxActionsPerObserver?: number;
}

/** Filters and page of `listObservers`. */
export interface ListObserversOptions extends PageRequest, TenantScope {
  entityType?: string;
  eventType?: string;
  enabled?: boolean;
  /** Include soft-deleted observers (default false). */
  includeDeleted?: boolean;
}

const UPDATE_ATTEMPTS = 5;

function validate(
  value: unknown,
  sent: unknown,
  tenant: string | null,
  options: ObserverWriteOptions,
): ObserverDefinition {
  const { policy } = options;
  const registry = options.registry ?? defaultActionRegistry;
  const body = isJsonObject(sent) ? sent : {};
  const placeholders = [
    ...redactedPlaceholders(body.actions),
    ...redactedPlaceholders(body.on_dead_letter, "on_dead_letter"),
  ];
  const result = safeParseConfig(observerDefinitionSchemaFor(registry), value);
  if (!result.success || placeholders.length > 0) {
    throw new ConfigError([...placeholders, ...(result.success ? [] : result.issues)]);
  }
  if (policy !== undefined) {
    const refused = [
      ...observerPolicyIssues(result.output.actions, tenant, policy, registry),
      ...observerPolicyIssues(
        result.output.on_dead_letter,
        tenant,
        policy,
        registry,
        "on_dead_letter",
      ),
    ];
    if (refused.length > 0) throw new ActionPolicyError(refused);
  }
  return result.output;
}

/** What the policy refuses in an observer's (validated) actions, with each field's full path. */
export function observerPolicyIssues(
  actions: readonly { type: string }[],
  tenant: string | null,
  policy: ActionPolicy,
  registry: ActionRegistry = defaultActionRegistry,
  field = "actions",
): PolicyIssueReport[] {
  return actions.flatMap((action, index) => {
    const definition = registry.get(action.type);
    if (!definition) return [];
    return actionPolicyIssues(definition, action, tenant, policy).map((issue) => ({
      ...issue,
      path: `${field}.${index}.${issue.path}`,
    }));
  });
}

function definitionParams(d: ObserverDefinition): unknown[] {
  return [
    d.name,
    d.description,
    d.entity_type,
    d.event_type,
    d.condition_expression,
    JSON.stringify(d.actions),
    JSON.stringify(d.retry_config),
    d.enabled,
    d.priority,
    d.timeout_ms,
  ];
}

/**
 * A scheduled observer's `schedule` and `timezone` (docs/time.md), null for the others; its
 * `ordering`; and its `on_dead_letter` actions (docs/delivery.md), stored as null when there are
 * none.
 */
function scheduleParams(d: ObserverDefinition): unknown[] {
  return [
    d.schedule,
    d.timezone,
    d.ordering,
    d.on_dead_letter.length > 0 ? JSON.stringify(d.on_dead_letter) : null,
  ];
}

function checkActions(definition: ObserverDefinition, limits: ObserverLimits | undefined): void {
  const max = limits?.maxActionsPerObserver;
  if (max !== undefined && definition.actions.length > max) {
    throw new LimitError(
      "ACTION_LIMIT",
      `actions: an observer may have at most ${max} actions, got ${definition.actions.length} (OBSERVERS_MAX_ACTIONS_PER_OBSERVER)`,
      max,
    );
  }
  if (max !== undefined && definition.on_dead_letter.length > max) {
    throw new LimitError(
      "ACTION_LIMIT",
      `on_dead_letter: an observer may have at most ${max} on_dead_letter actions, got ${definition.on_dead_letter.length} (OBSERVERS_MAX_ACTIONS_PER_OBSERVER)`,
      max,
    );
  }
}

/**
 * Runs `fn` in a transaction holding the tenant's observer-count lock, so two concurrent creates
 * cannot both pass the count. On an executor already inside a transaction (no `transaction`),
 * the lock lasts until that transaction ends.
 */
async function withTenantLock<T>(
  sql: SqlExecutor | SqlClient,
  tenant: string | null,
  fn: (tx: SqlExecutor) => Promise<T>,
): Promise<T> {
  const locked = async (tx: SqlExecutor) => {
    await tx.query(
      "SELECT pg_advisory_xact_lock(hashtextextended('fraiseql-observers:observers:' || $1::text, 0)) AS locked",
      [tenant ?? "unscoped"],
    );
    return fn(tx);
  };
  return "transaction" in sql ? sql.transaction(locked) : locked(sql);
}

function conflictOr(error: unknown, name: string): unknown {
  if (sqlState(error) !== UNIQUE_VIOLATION) return error;
  return new ConflictError(`an observer named ${JSON.stringify(name)} already exists`, {
    cause: error,
  });
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no observer with id ${quoted(id)}`);
}

/** Validates `body` (an observer, DESIGN section 3) and stores it; stamps the caller's tenant. */
export async function createObserver(
  sql: SqlExecutor | SqlClient,
  body: unknown,
  options: ObserverWriteOptions = {},
): Promise<Observer> {
  const definition = validate(body, body, options.tenant ?? null, options);
  checkActions(definition, options.limits);
  const maxObservers = options.limits?.maxObserversPerTenant;
  const tenant = options.tenant ?? null;
  const insert = async (tx: SqlExecutor) => {
    const rows = await tx.query<StoredObserverRow & { live: string | null }>(
      `INSERT INTO core.tb_observer (name, description, entity_type, event_type,
         condition_expression, actions, retry_config, enabled, priority, timeout_ms,
         fk_customer_org, created_by, updated_by, schedule, timezone, ordering, on_dead_letter)
       SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text::jsonb, $7::text::jsonb,
         $8::boolean, $9::integer, $10::integer, $11::text::bigint, $12::text, $12::text,
         $14::text, $15::text, $16::text, $17::text::jsonb
       WHERE $13::integer IS NULL OR (SELECT count(*) FROM core.tb_observer
         WHERE deleted_at IS NULL AND fk_customer_org IS NOT DISTINCT FROM $11::text::bigint)
         < $13::integer
       RETURNING ${OBSERVER_COLUMNS}`,
      [
        ...definitionParams(definition),
        tenant,
        options.actor ?? null,
        maxObservers ?? null,
        ...scheduleParams(definition),
      ],
    );
    const row = rows[0];
    if (!row) {
      throw new LimitError(
        "OBSERVER_LIMIT",
        `${tenant === null ? "the unscoped owner" : `tenant ${tenant}`} already has ${maxObservers} live observers, the most allowed (OBSERVERS_MAX_OBSERVERS_PER_TENANT): delete one first`,
        maxObservers ?? 0,
      );
    }
    return toObserver(row);
  };
  try {
    return maxObservers === undefined
      ? await insert(sql)
      : await withTenantLock(sql, tenant, insert);
  } catch (error) {
    throw conflictOr(error, definition.name);
  }
}

/**
 * A live observer's stored row, secrets included (for running it, never for responses);
 * `NotFoundError` when absent, deleted or another tenant's.
 */
export async function readLive(
  sql: SqlExecutor,
  id: string,
  scope: TenantScope,
): Promise<StoredObserverRow> {
  if (!isUuid(id)) throw notFound(id);
  const rows = await sql.query<StoredObserverRow>(
    `SELECT ${OBSERVER_COLUMNS} FROM core.tb_observer
     WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}`,
    [id, scope.tenant ?? null],
  );
  const row = rows[0];
  if (!row) throw notFound(id);
  return row;
}

/** A live observer by id; `NotFoundError` when absent, deleted or another tenant's. */
export async function getObserver(
  sql: SqlExecutor,
  id: string,
  scope: TenantScope = {},
): Promise<Observer> {
  return toObserver(await readLive(sql, id, scope));
}

/** A page of observers, ordered by priority then creation. */
export async function listObservers(
  sql: SqlExecutor,
  options: ListObserversOptions,
): Promise<Page<Observer>> {
  const { page, limit, offset } = pageBounds(options);
  const where = `WHERE ($1::boolean OR deleted_at IS NULL) AND ${tenantCondition("fk_customer_org", 2)}
    AND ($3::text IS NULL OR entity_type = $3::text)
    AND ($4::text IS NULL OR event_type = upper($4::text))
    AND ($5::boolean IS NULL OR enabled = $5::boolean)`;
  const params = [
    options.includeDeleted ?? false,
    options.tenant ?? null,
    options.entityType ?? null,
    options.eventType ?? null,
    options.enabled ?? null,
  ];
  const [rows, counts] = await Promise.all([
    sql.query<StoredObserverRow>(
      `SELECT ${OBSERVER_COLUMNS} FROM core.tb_observer ${where}
       ORDER BY priority, pk_observer LIMIT $6::integer OFFSET $7::bigint`,
      [...params, limit, offset],
    ),
    sql.query<{ total: string }>(
      `SELECT count(*)::text AS total FROM core.tb_observer ${where}`,
      params,
    ),
  ]);
  return toPage(rows.map(toObserver), page, limit, Number(counts[0]?.total ?? 0));
}

/**
 * Applies a partial update: `patch` is merged onto the stored definition and the whole is
 * validated again (unknown fields refused). `actions`, when sent, replace the stored ones
 * wholesale; when left out, the stored ones (secrets included) stay. Concurrent updates never
 * overwrite each other: the write only lands on the row version it was merged onto.
 */
export async function updateObserver(
  sql: SqlExecutor,
  id: string,
  patch: unknown,
  options: ObserverWriteOptions = {},
): Promise<Observer> {
  if (!isJsonObject(patch)) {
    throw new ConfigError([{ path: "", message: "must be a JSON object of the fields to change" }]);
  }
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const stored = await readLive(sql, id, options);
    // The observer's own tenant: a global key editing a tenant's observer gets the tenant's rules.
    const definition = validate(
      { ...storedDefinition(stored), ...patch },
      patch,
      stored.fk_customer_org,
      options,
    );
    // Only sent actions are counted: a limit lowered later does not lock older observers.
    if (patch.actions !== undefined || patch.on_dead_letter !== undefined)
      checkActions(definition, options.limits);
    let rows: StoredObserverRow[];
    try {
      rows = await sql.query<StoredObserverRow>(
        `UPDATE core.tb_observer SET name = $1::text, description = $2::text,
           entity_type = $3::text, event_type = $4::text, condition_expression = $5::text,
           actions = $6::text::jsonb, retry_config = $7::text::jsonb, enabled = $8::boolean,
           priority = $9::integer, timeout_ms = $10::integer, updated_by = $11::text,
           schedule = $14::text, timezone = $15::text, ordering = $16::text,
           on_dead_letter = $17::text::jsonb
         WHERE id = $12::uuid AND deleted_at IS NULL AND xmin = $13::text::xid
         RETURNING ${OBSERVER_COLUMNS}`,
        [
          ...definitionParams(definition),
          options.actor ?? null,
          id,
          stored.version,
          ...scheduleParams(definition),
        ],
      );
    } catch (error) {
      throw conflictOr(error, definition.name);
    }
    if (rows[0]) return toObserver(rows[0]);
  }
  throw new ConflictError("the observer kept changing while it was being updated; try again");
}

/** Soft-deletes an observer (`deleted_at = now()`): it stops matching and leaves every list. */
export async function deleteObserver(
  sql: SqlExecutor,
  id: string,
  options: ObserverWriteOptions = {},
): Promise<void> {
  if (!isUuid(id)) throw notFound(id);
  // Deliveries claims held (paused, or behind an earlier one of their entity) are due at once:
  // claimed, they end as the deleted observer's.
  const rows = await sql.query(
    `WITH o AS (
       UPDATE core.tb_observer SET deleted_at = now(), updated_by = $3::text
       WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}
       RETURNING pk_observer
     ),
     released AS (
       UPDATE core.tb_observer_delivery d SET next_attempt_at = now(), held = NULL
       FROM o WHERE d.fk_observer = o.pk_observer AND d.held
     )
     SELECT 1 AS deleted FROM o`,
    [id, options.tenant ?? null, options.actor ?? null],
  );
  if (rows.length === 0) throw notFound(id);
}

/** Enables or disables a live observer. */
export async function setObserverEnabled(
  sql: SqlExecutor,
  id: string,
  enabled: boolean,
  options: ObserverWriteOptions = {},
): Promise<Observer> {
  if (!isUuid(id)) throw notFound(id);
  const rows = await sql.query<StoredObserverRow>(
    `UPDATE core.tb_observer SET enabled = $3::boolean, updated_by = $4::text
     WHERE id = $1::uuid AND deleted_at IS NULL AND ${tenantCondition("fk_customer_org", 2)}
     RETURNING ${OBSERVER_COLUMNS}`,
    [id, options.tenant ?? null, enabled, options.actor ?? null],
  );
  const row = rows[0];
  if (!row) throw notFound(id);
  return toObserver(row);
}
