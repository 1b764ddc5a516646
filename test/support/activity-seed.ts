/**
 * A known set of observers, log rows and dead letters, and the exact listings and statistics
 * they must give: shared by the store's tests (test/integration/store-logs-stats.test.ts) and the
 * HTTP API's (test/integration/api-activity.test.ts), so both hold the same numbers.
 *
 * Observers (name, tenant, priority, enabled): A (none, 10, yes), B (7, 20, yes), C (8, 5, yes),
 * D (7, 30, no), E (7, 40, yes; soft-deleted after its row is logged). Log rows are named by a
 * label kept in entity_id; rows without an action_index are condition errors (or, without an
 * observer, unreadable changes), as src/store/outcomes.ts writes them.
 */
import { randomUUID } from "node:crypto";
import type { TestDatabase } from "./database.ts";
import { insertObserver } from "./observers.ts";

export type ObserverName = "A" | "B" | "C" | "D" | "E";

/** The seeded observers' public ids and primary keys, by name. */
export interface ActivitySeed {
  ids: Record<ObserverName, string>;
  pks: Record<ObserverName, number>;
}

/** Event ids shared by several rows (E1: a1 and a2; E2: a5). */
export const E1 = randomUUID();
export const E2 = randomUUID();
/** The delivery id of every row with an action. */
export const DELIVERY = randomUUID();
/** In every row's request and response payloads, which listings must never show. */
export const PAYLOAD_SECRETS = ["request-payload-secret", "response-payload-secret"] as const;

const at = (hhmm: string) => `2024-05-01T${hhmm}:00.000Z`;

interface LogSeed {
  label: string;
  observer: ObserverName | null;
  status: string;
  action?: number | null;
  duration?: number | null;
  time: string;
  tenant?: number | null;
  event?: string;
  trace?: string | null;
}

const OBSERVERS = [
  ["A", null, 10, true],
  ["B", 7, 20, true],
  ["C", 8, 5, true],
  ["D", 7, 30, false],
  ["E", 7, 40, true],
] as const;

const LOGS: LogSeed[] = [
  {
    label: "a1",
    observer: "A",
    status: "success",
    duration: 100,
    time: at("01:00"),
    event: E1,
    trace: "trace-a",
  },
  { label: "a2", observer: "A", status: "failed", duration: 300, time: at("02:00"), event: E1 },
  { label: "a3", observer: "A", status: "timeout", duration: 500, time: at("03:00") },
  { label: "a4", observer: "A", status: "failed", action: null, time: at("04:00") },
  { label: "a5", observer: "A", status: "success", duration: 200, time: at("05:00"), event: E2 },
  { label: "a6", observer: "A", status: "success", duration: 400, time: at("06:30"), tenant: 7 },
  {
    label: "b1",
    observer: "B",
    status: "success",
    duration: 50,
    time: at("01:30"),
    tenant: 7,
    trace: "trace-b",
  },
  { label: "b2", observer: "B", status: "skipped", time: at("02:30"), tenant: 7 },
  { label: "b3", observer: "B", status: "cancelled", duration: 10, time: at("03:30"), tenant: 7 },
  { label: "c1", observer: "C", status: "failed", duration: 1000, time: at("01:00"), tenant: 8 },
  { label: "e1", observer: "E", status: "success", duration: 80, time: at("02:00"), tenant: 7 },
  {
    label: "unreadable",
    observer: null,
    status: "failed",
    action: null,
    time: at("06:00"),
    tenant: 7,
  },
];

async function insertLog(db: TestDatabase, ids: ActivitySeed["ids"], seed: LogSeed) {
  const observer = seed.observer === null ? null : ids[seed.observer];
  const action = seed.action === undefined ? 0 : seed.action;
  const [request, response] = PAYLOAD_SECRETS;
  await db.sql`INSERT INTO core.tb_observer_log (fk_observer, delivery_id, event_id, entity_type,
      entity_id, event_type, status, action_index, action_type, started_at, completed_at,
      duration_ms, error_code, error_message, attempt_number, max_attempts, request_payload,
      response_payload, response_status_code, trace_id, fk_customer_org, created_at)
    VALUES ((SELECT pk_observer FROM core.tb_observer WHERE id = ${observer}::uuid),
      ${action === null ? null : DELIVERY}::uuid, ${seed.event ?? randomUUID()}::uuid, 'Order',
      ${seed.label}, 'UPDATE', ${seed.status}, ${action}::integer,
      ${action === null ? null : "webhook"}, ${seed.time}::timestamptz, ${seed.time}::timestamptz,
      ${seed.duration ?? null}::integer, ${seed.status === "success" ? null : "E_TEST"},
      ${seed.status === "success" ? null : `${seed.label} went wrong`}, 1, 3,
      ${JSON.stringify({ secret: request })}::jsonb, ${JSON.stringify({ secret: response })}::jsonb,
      ${seed.status === "success" ? 200 : null}::integer, ${seed.trace ?? null},
      ${seed.tenant ?? null}::bigint, ${seed.time}::timestamptz)`;
}

/** Writes the observers, the log rows and the dead letters into a fresh database. */
export async function seedActivity(db: TestDatabase): Promise<ActivitySeed> {
  const ids = {} as ActivitySeed["ids"];
  const pks = {} as ActivitySeed["pks"];
  for (const [name, tenant, priority, enabled] of OBSERVERS) {
    ids[name] = await insertObserver(db.sql, {
      name: `obs-${name}`,
      actions: [{ type: "log", message_template: "{{ id }} changed" }],
      fk_customer_org: tenant,
      enabled,
    });
    const [row] = await db.sql`UPDATE core.tb_observer SET priority = ${priority}
      WHERE id = ${ids[name]} RETURNING pk_observer::int AS pk`;
    pks[name] = row?.pk as number;
  }
  for (const seed of LOGS) await insertLog(db, ids, seed);
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${ids.E}`;
  // Dead letters for the summary: tenant 7 one pending and one retrying, no tenant one pending.
  for (const [tenant, status] of [
    [7, "pending"],
    [7, "retrying"],
    [null, "pending"],
  ] as const) {
    await db.sql`INSERT INTO core.tb_observer_dlq (fk_observer, observer_name, delivery_id,
        action_index, action_type, event_id, object_type, modification_type, change_created_at,
        attempts, max_attempts, status, fk_customer_org)
      VALUES (${pks.B}, 'obs-B', gen_random_uuid(), 0, 'webhook', gen_random_uuid(),
        'Order', 'UPDATE', now(), 3, 3, ${status}, ${tenant}::bigint)`;
  }
  return { ids, pks };
}

// ---------------------------------------------------------------------------------------------
// What the seed must give

/** Every row's label, newest first. */
export const ALL_NEWEST_FIRST = [
  "a6",
  "unreadable",
  "a5",
  "a4",
  "b3",
  "a3",
  "b2",
  "e1",
  "a2",
  "b1",
  "c1",
  "a1",
];
/**
 * Tenant 7's rows, newest first: not a6, the global observer A's row of a tenant-7 change (what a
 * global observer did is the admin's), but the unreadable change, which concerns no observer.
 */
export const TENANT_7_NEWEST_FIRST = ["unreadable", "b3", "b2", "e1", "b1"];

/** A window (since inclusive, until exclusive), and its rows newest first. */
export const WINDOW = { since: "2024-05-01T02:00:00Z", until: "2024-05-01T05:00:00Z" };
/** The same window, since written with an offset. */
export const WINDOW_WITH_OFFSET = { ...WINDOW, since: "2024-05-01T04:00:00+02:00" };
export const WINDOW_NEWEST_FIRST = ["a4", "b3", "a3", "b2", "e1", "a2"];

/** An observer's statistics without executions: zeros and nulls. */
export const NO_EXECUTIONS = {
  total_executions: 0,
  successful_executions: 0,
  failed_executions: 0,
  timeout_executions: 0,
  skipped_executions: 0,
  cancelled_executions: 0,
  success_rate_pct: null,
  avg_duration_ms: null,
  max_duration_ms: null,
  min_duration_ms: null,
  last_execution_at: null,
  condition_errors: 0,
};

/** Every live observer's statistics, in priority order (the soft-deleted obs-E is absent). */
export function expectedObserverStats(ids: ActivitySeed["ids"]) {
  const observer = (name: ObserverName, enabled = true) => ({
    observer_id: ids[name],
    observer_name: `obs-${name}`,
    entity_type: "Order",
    event_type: null,
    enabled,
  });
  return [
    {
      ...observer("C"),
      ...NO_EXECUTIONS,
      total_executions: 1,
      failed_executions: 1,
      success_rate_pct: 0,
      avg_duration_ms: 1000,
      max_duration_ms: 1000,
      min_duration_ms: 1000,
      last_execution_at: "2024-05-01T01:00:00.000Z",
    },
    {
      ...observer("A"),
      total_executions: 5,
      successful_executions: 3,
      failed_executions: 1,
      timeout_executions: 1,
      skipped_executions: 0,
      cancelled_executions: 0,
      success_rate_pct: 60,
      avg_duration_ms: 300,
      max_duration_ms: 500,
      min_duration_ms: 100,
      last_execution_at: "2024-05-01T06:30:00.000Z",
      condition_errors: 1,
    },
    {
      ...observer("B"),
      total_executions: 3,
      successful_executions: 1,
      failed_executions: 0,
      timeout_executions: 0,
      skipped_executions: 1,
      cancelled_executions: 1,
      success_rate_pct: 33.33,
      avg_duration_ms: 30,
      max_duration_ms: 50,
      min_duration_ms: 10,
      last_execution_at: "2024-05-01T03:30:00.000Z",
      condition_errors: 0,
    },
    { ...observer("D", false), ...NO_EXECUTIONS },
  ];
}

/** Statistics over WINDOW, by observer name (at least these fields). */
export const WINDOW_STATS = {
  "obs-A": {
    total_executions: 2,
    successful_executions: 0,
    failed_executions: 1,
    timeout_executions: 1,
    success_rate_pct: 0,
    avg_duration_ms: 400,
    max_duration_ms: 500,
    min_duration_ms: 300,
    last_execution_at: "2024-05-01T03:00:00.000Z",
    condition_errors: 1,
  },
  "obs-B": {
    total_executions: 2,
    skipped_executions: 1,
    cancelled_executions: 1,
    avg_duration_ms: 10,
    max_duration_ms: 10,
    min_duration_ms: 10,
  },
  "obs-C": NO_EXECUTIONS,
};

/** The summary of everything, of tenant 7, of a tenant with nothing, and of WINDOW. */
export const SUMMARY = {
  all: {
    observers: { total: 4, enabled: 3 },
    executions: { total: 10, successful: 5, failed: 2, timeout: 1, skipped: 1, cancelled: 1 },
    success_rate_pct: 50,
    avg_duration_ms: 293.33,
    p95_duration_ms: 820,
    condition_errors: 2,
    dead_letters: { pending: 2, retrying: 1 },
    last_execution_at: "2024-05-01T06:30:00.000Z",
    since: null,
    until: null,
  },
  // Without a6 (the global observer A's): b1, b2, b3 and e1.
  tenant7: {
    observers: { total: 2, enabled: 1 },
    executions: { total: 4, successful: 2, failed: 0, timeout: 0, skipped: 1, cancelled: 1 },
    success_rate_pct: 50,
    avg_duration_ms: 46.67,
    p95_duration_ms: 79,
    condition_errors: 1,
    dead_letters: { pending: 1, retrying: 1 },
    last_execution_at: "2024-05-01T03:30:00.000Z",
    since: null,
    until: null,
  },
  empty: {
    observers: { total: 0, enabled: 0 },
    executions: { total: 0, successful: 0, failed: 0, timeout: 0, skipped: 0, cancelled: 0 },
    success_rate_pct: null,
    avg_duration_ms: null,
    p95_duration_ms: null,
    condition_errors: 0,
    dead_letters: { pending: 0, retrying: 0 },
    last_execution_at: null,
    since: null,
    until: null,
  },
  window: {
    observers: { total: 4, enabled: 3 },
    executions: { total: 5, successful: 1, failed: 1, timeout: 1, skipped: 1, cancelled: 1 },
    success_rate_pct: 20,
    avg_duration_ms: 222.5,
    p95_duration_ms: 289,
    condition_errors: 1,
    dead_letters: { pending: 2, retrying: 1 },
    last_execution_at: "2024-05-01T03:30:00.000Z",
    // Echoed in UTC.
    since: "2024-05-01T02:00:00.000Z",
    until: "2024-05-01T05:00:00.000Z",
  },
};
