import { createRoute, type z } from "@hono/zod-openapi";
import { defaultActionRegistry } from "../../actions/registry.ts";
import { parseCondition } from "../../dsl/parser.ts";
import { ChangeEventError, ConditionSyntaxError, ConfigError } from "../../errors.ts";
import { normalizeChangeEvent } from "../../events/normalize.ts";
import type { ChangeEvent } from "../../events/types.ts";
import { createExecutor, type Executor } from "../../executor/executor.ts";
import { explainMatch } from "../../matcher/explain-match.ts";
import type { SqlExecutor } from "../../ports/sql.ts";
import { backtestObserver } from "../../store/backtest.ts";
import type { TenantScope } from "../../store/common.ts";
import { explainStoredEvent, readStoredEvent } from "../../store/inspect.ts";
import type { StoredObserverRow } from "../../store/observer-json.ts";
import { readLive } from "../../store/observers.ts";
import { tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import { idParam, jsonBody, jsonResponse, ObserverIdParam, problems } from "../schemas/common.ts";
import {
  BacktestRequestSchema,
  BacktestResultSchema,
  EventExplanationSchema,
  TestRequestSchema,
  TestResultSchema,
} from "../schemas/inspect.ts";

const tags = ["Inspection"];

const test = createRoute({
  method: "post",
  path: "/{id}/test",
  tags,
  summary: "Test an observer against an event",
  description:
    "Runs the observer (as if enabled) against a given event or a stored change and explains the result, down to every sub-expression of the condition. Sends nothing unless `send` is true; then each action runs once, with a fresh webhook-id, without retries or log rows. A read key may test, but not send.",
  request: { params: ObserverIdParam, body: jsonBody(TestRequestSchema) },
  responses: {
    200: jsonResponse(TestResultSchema, "Whether it fires, and why"),
    ...problems({ write: true, extra: [422] }),
  },
});

const backtest = createRoute({
  method: "post",
  path: "/{id}/backtest",
  tags,
  summary: "Backtest an observer over the retained change log",
  description:
    "How many changes in the time range the observer (or a draft condition) would have fired for, with samples. The condition runs as SQL in PostgreSQL where it has an exact SQL form, and is evaluated here otherwise. Only reads: a read key may backtest. The range may span at most `OBSERVERS_BACKTEST_MAX_RANGE_DAYS` days (422 `BACKTEST_RANGE_TOO_LONG`); at most `OBSERVERS_BACKTEST_MAX_ROWS` changes are considered (`truncated` beyond); a key may run `OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY` backtests at once (429 `BACKTEST_BUSY` beyond, with Retry-After).",
  request: { params: ObserverIdParam, body: jsonBody(BacktestRequestSchema) },
  responses: {
    200: jsonResponse(BacktestResultSchema, "Counts and samples"),
    ...problems({ write: true, extra: [422] }),
  },
});

const explain = createRoute({
  method: "get",
  path: "/events/{event_id}/explain",
  tags,
  summary: "Explain a stored change or scheduled event",
  description:
    "Every observer the caller may see, whether it fired for this change and why (or why not), and what its deliveries did. For a scheduled event's id (a tick of a SCHEDULE observer or a one-off event, which its webhooks carry as `event_id`): the event (`event_type` SCHEDULE, `entity_type` Schedule) and the one observer it belongs to, `fired` with reason `scheduled` or `one_off`, and its deliveries.",
  request: {
    params: idParam("event_id", "The change's or scheduled event's event id"),
  },
  responses: {
    200: jsonResponse(EventExplanationSchema, "Every observer considered"),
    ...problems({ extra: [422] }),
  },
});

type EventExplanationJson = z.infer<typeof EventExplanationSchema>;
type TestResultJson = z.infer<typeof TestResultSchema>;

/**
 * A value holding condition explain trees, typed as its response schema. The schema describes a
 * tree's children loosely (OpenAPI has no recursion here), and the trees' optional JSON `value`s
 * defeat Hono's JSON typing under exactOptionalPropertyTypes; the OpenAPI response test checks
 * the real shapes.
 */
function explainJson<Json>(value: unknown): Json {
  return value as Json;
}

/** The condition to use: a draft when one is given (refused with positions if it does not parse). */
function conditionOf(row: StoredObserverRow, draft: string | null | undefined): string | null {
  if (draft === undefined) return row.condition_expression;
  if (draft === null || draft.trim() === "") return draft;
  const parsed = parseCondition(draft);
  if (!parsed.success) throw new ConditionSyntaxError(parsed.issues);
  return draft;
}

/** An event from a change-log row given in the request, read exactly as the runtime reads rows. */
function eventFromInput(input: Record<string, unknown>): ChangeEvent {
  try {
    return normalizeChangeEvent({
      id: crypto.randomUUID(),
      created_at: new Date().toISOString(),
      ...input,
    });
  } catch (error) {
    if (!(error instanceof ChangeEventError)) throw error;
    throw new ConfigError([{ path: `event.${error.field}`, message: error.message }]);
  }
}

async function eventFor(
  sql: SqlExecutor,
  body: { event?: Record<string, unknown> | undefined; event_id?: string | undefined },
  scope: TenantScope,
): Promise<ChangeEvent> {
  if ((body.event === undefined) === (body.event_id === undefined)) {
    throw new ConfigError([{ path: "event", message: "give exactly one of event and event_id" }]);
  }
  if (body.event_id !== undefined) return (await readStoredEvent(sql, body.event_id, scope)).event;
  return eventFromInput(body.event as Record<string, unknown>);
}

/** Runs every action of the observer once for `event`: the test's optional send. */
async function sendOnce(executor: Executor, row: StoredObserverRow, event: ChangeEvent) {
  const actions = JSON.parse(row.actions) as unknown[];
  const outcomes = await executor.executeAll(
    actions.map((action) => ({
      id: crypto.randomUUID(),
      event,
      observer: {
        id: row.id,
        name: row.name,
        tenant: row.fk_customer_org,
        timeout_ms: row.timeout_ms,
        retry_config: { max_attempts: 1 },
      },
      action,
      attempt: 1,
    })),
  );
  return outcomes.map((outcome, index) => ({
    action_index: index,
    action_type: String((actions[index] as { type?: unknown }).type),
    status: outcome.status,
    duration_ms: Math.round(outcome.durationMs),
    http_status: outcome.httpStatus,
    error_code: outcome.errorCode,
    error_message: outcome.errorMessage,
    message: outcome.message,
  }));
}

/** Seconds a caller refused for too many backtests at once is asked to wait. */
const BACKTEST_RETRY_AFTER_S = 2;

/**
 * Counts running backtests per key (in this process), refusing one past `limit` with a 429:
 * a backtest can read a whole retained range, so one key cannot run many at once.
 */
function backtestSlots(limit: number) {
  const running = new Map<string, number>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const count = running.get(key) ?? 0;
    if (count >= limit) {
      throw new HttpProblem(
        429,
        "BACKTEST_BUSY",
        `this key already runs ${count} backtests, the most allowed at once (OBSERVERS_BACKTEST_CONCURRENCY_PER_KEY): retry when one has finished`,
        { "retry-after": String(BACKTEST_RETRY_AFTER_S) },
      );
    }
    running.set(key, count + 1);
    try {
      return await fn();
    } finally {
      const left = (running.get(key) ?? 1) - 1;
      if (left > 0) running.set(key, left);
      else running.delete(key);
    }
  };
}

/** Test, backtest and explain, under `/api/observers`. */
export function inspectRoutes(deps: ApiDependencies) {
  const { sql, limits } = deps;
  const backtestSlot = backtestSlots(limits.backtestConcurrencyPerKey);
  let executor: Executor | undefined;
  const executorFor = (): Executor => {
    if (!deps.environment) {
      throw new HttpProblem(400, "SEND_UNAVAILABLE", "this server cannot send from the API");
    }
    executor ??= createExecutor({
      registry: deps.registry ?? defaultActionRegistry,
      environment: deps.environment,
    });
    return executor;
  };

  return router()
    .openapi(explain, async (c) => {
      const { event_id } = c.req.valid("param");
      const explanation = await explainStoredEvent(sql, event_id, tenantOf(c.var.principal));
      return c.json(explainJson<EventExplanationJson>(explanation), 200);
    })
    .openapi(test, async (c) => {
      const scope = tenantOf(c.var.principal);
      const body = c.req.valid("json");
      const row = await readLive(sql, c.req.valid("param").id, scope);
      const event = await eventFor(sql, body, scope);
      const condition = conditionOf(row, body.condition_expression);
      const match = explainMatch({ ...row, condition_expression: condition, enabled: true }, event);
      if (body.send && c.var.principal.scope !== "admin") {
        throw new HttpProblem(
          403,
          "FORBIDDEN",
          "sending needs the admin scope: this key can only read",
        );
      }
      const sent = body.send && match.fired ? await sendOnce(executorFor(), row, event) : null;
      const result = {
        ...match,
        event: {
          event_id: event.id,
          entity_type: event.entity_type,
          entity_id: event.entity_id,
          event_type: event.event_type,
        },
        sent,
      };
      return c.json(explainJson<TestResultJson>(result), 200);
    })
    .openapi(backtest, async (c) => {
      const scope = tenantOf(c.var.principal);
      const body = c.req.valid("json");
      const { principal } = c.var;
      // Per key: a key's name and tenant (the admin token is one key).
      const key = `${principal.tenant ?? ""}\u0000${principal.actor}`;
      const result = await backtestSlot(key, async () => {
        const row = await readLive(sql, c.req.valid("param").id, scope);
        return backtestObserver(sql, {
          ...scope,
          observer: {
            entity_type: row.entity_type,
            event_type: row.event_type,
            condition_expression: conditionOf(row, body.condition_expression),
            fk_customer_org: row.fk_customer_org,
          },
          since: body.since,
          until: body.until ?? new Date().toISOString(),
          ...(body.samples === undefined ? {} : { sampleLimit: body.samples }),
          scanLimit: limits.backtestMaxRows,
          maxRangeDays: limits.backtestMaxRangeDays,
        });
      });
      return c.json(result, 200);
    });
}
