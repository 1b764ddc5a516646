import { createRoute, z } from "@hono/zod-openapi";
import { listLogs } from "../../store/logs.ts";
import { getObserver } from "../../store/observers.ts";
import { observerStats, statsSummary } from "../../store/stats.ts";
import { tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import {
  LogQuerySchema,
  ObserverLogSchema,
  ObserverStatsSchema,
  StatsSummarySchema,
} from "../schemas/activity.ts";
import {
  jsonResponse,
  ObserverIdParam,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
  TimeRange,
} from "../schemas/common.ts";

const tags = ["Logs and statistics"];
const LogPage = pageOf(ObserverLogSchema, "ObserverLogPage");
const StatsList = z.array(ObserverStatsSchema);
const TimeRangeQuery = z.object(TimeRange);

const stats = createRoute({
  method: "get",
  path: "/stats",
  tags,
  summary: "Statistics of every observer",
  description:
    "One entry per live observer the caller may see, over the attempts in the time range.",
  request: { query: TimeRangeQuery },
  responses: { 200: jsonResponse(StatsList, "Per-observer statistics"), ...problems() },
});

const summary = createRoute({
  method: "get",
  path: "/stats/summary",
  tags,
  summary: "Overall statistics",
  request: { query: TimeRangeQuery },
  responses: { 200: jsonResponse(StatsSummarySchema, "Totals"), ...problems() },
});

const logs = createRoute({
  method: "get",
  path: "/logs",
  tags,
  summary: "Execution logs",
  description:
    "One row per attempt, newest first. A tenant-bound key sees its tenant's rows of its tenant's observers only (not those of global observers, even for its changes).",
  request: {
    query: PageQuery.extend(LogQuerySchema.shape)
      .extend(TimeRange)
      .extend({ observer_id: z.string().optional().openapi({ format: "uuid" }) }),
  },
  responses: { 200: jsonResponse(LogPage, "A page of log rows"), ...problems() },
});

const observerStatsRoute = createRoute({
  method: "get",
  path: "/{id}/stats",
  tags,
  summary: "Statistics of one observer",
  request: { params: ObserverIdParam, query: TimeRangeQuery },
  responses: {
    200: jsonResponse(StatsList, "A list of one entry (FraiseQL's shape)"),
    ...problems(),
  },
});

const observerLogs = createRoute({
  method: "get",
  path: "/{id}/logs",
  tags,
  summary: "Execution logs of one observer",
  request: {
    params: ObserverIdParam,
    query: PageQuery.extend(LogQuerySchema.shape).extend(TimeRange),
  },
  responses: { 200: jsonResponse(LogPage, "A page of log rows"), ...problems() },
});

type LogQuery = z.infer<typeof LogQuerySchema> & {
  since?: string | undefined;
  until?: string | undefined;
};

function logFilters(query: LogQuery) {
  return {
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.event_id === undefined ? {} : { eventId: query.event_id }),
    ...(query.trace_id === undefined ? {} : { traceId: query.trace_id }),
    ...timeRange(query),
  };
}

function timeRange(query: { since?: string | undefined; until?: string | undefined }) {
  return {
    ...(query.since === undefined ? {} : { since: query.since }),
    ...(query.until === undefined ? {} : { until: query.until }),
  };
}

/** Stats and logs under `/api/observers` (registered before `/{id}`). */
export function activityRoutes(deps: ApiDependencies) {
  const { sql } = deps;
  return router()
    .openapi(stats, async (c) => {
      const scope = tenantOf(c.var.principal);
      return c.json(
        await observerStats(sql, { ...scope, ...timeRange(c.req.valid("query")) }),
        200,
      );
    })
    .openapi(summary, async (c) => {
      const scope = tenantOf(c.var.principal);
      return c.json(await statsSummary(sql, { ...scope, ...timeRange(c.req.valid("query")) }), 200);
    })
    .openapi(logs, async (c) => {
      const query = c.req.valid("query");
      const page = await listLogs(sql, {
        ...pageRequest(query),
        ...tenantOf(c.var.principal),
        ...logFilters(query),
        ...(query.observer_id === undefined ? {} : { observerId: query.observer_id }),
      });
      return c.json(page, 200);
    })
    .openapi(observerStatsRoute, async (c) => {
      const { id } = c.req.valid("param");
      const scope = tenantOf(c.var.principal);
      const range = timeRange(c.req.valid("query"));
      return c.json(await observerStats(sql, { ...scope, ...range, observerId: id }), 200);
    })
    .openapi(observerLogs, async (c) => {
      const { id } = c.req.valid("param");
      const scope = tenantOf(c.var.principal);
      // 404 for an observer the caller may not see, rather than an empty page.
      await getObserver(sql, id, scope);
      const query = c.req.valid("query");
      const page = await listLogs(sql, {
        ...pageRequest(query),
        ...scope,
        ...logFilters(query),
        observerId: id,
      });
      return c.json(page, 200);
    });
}
