import { createRoute } from "@hono/zod-openapi";
import { cancelDeliveries, setObserverPaused } from "../../store/delivery-control.ts";
import { cancelReplay, getReplay, listReplays, startReplay } from "../../store/replays.ts";
import { callerScope, tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import {
  idParam,
  jsonBody,
  jsonResponse,
  ObserverIdParam,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
} from "../schemas/common.ts";
import {
  CancelBodySchema,
  CancelResultSchema,
  ReplayBodySchema,
  ReplayDryRunSchema,
  ReplaySchema,
} from "../schemas/delivery-control.ts";
import { ObserverSchema } from "../schemas/observers.ts";

const tags = ["Delivery control"];
const ReplayIdParam = idParam("replay_id", "The replay's id");

function pauseRoute(paused: boolean) {
  return createRoute({
    method: "post",
    path: paused ? "/{id}/pause" : "/{id}/resume",
    tags,
    summary: paused ? "Pause an observer" : "Resume a paused observer",
    description: paused
      ? "Changes are still matched and their deliveries created, but held: none runs (retries that come due wait too) until resume. Attempts already running finish. Unlike `disable`, which skips changes, nothing is lost."
      : "The held deliveries are due at once and run in order (per entity, for a `per_entity` observer).",
    request: { params: ObserverIdParam },
    responses: { 200: jsonResponse(ObserverSchema, "The observer"), ...problems({ write: true }) },
  });
}

const replay = createRoute({
  method: "post",
  path: "/{id}/replay",
  tags,
  summary: "Replay a time range",
  description:
    "Delivers the observer's actions again for the retained changes with `since <= created_at < until` that match its current entity type, event type and condition, as new deliveries with new webhook-ids (receivers deduplicate on webhook-id). Runs in the background in pages (202 with the replay; follow it at `/api/observers/replays/{replay_id}`); `dry_run: true` answers 200 with the count and creates nothing. The range may span at most `OBSERVERS_BACKTEST_MAX_RANGE_DAYS` days and hold at most `OBSERVERS_BACKTEST_MAX_ROWS` changes of the observer's types (422). One replay per observer runs at a time, and a disabled observer cannot replay (409).",
  request: { params: ObserverIdParam, body: jsonBody(ReplayBodySchema) },
  responses: {
    200: jsonResponse(ReplayDryRunSchema, "What a replay would deliver (dry run)"),
    202: jsonResponse(ReplaySchema, "The replay, started"),
    ...problems({ write: true, extra: [409, 422] }),
  },
});

const replays = createRoute({
  method: "get",
  path: "/{id}/replays",
  tags,
  summary: "List an observer's replays",
  request: { params: ObserverIdParam, query: PageQuery },
  responses: {
    200: jsonResponse(pageOf(ReplaySchema, "ReplayPage"), "Its replays, newest first"),
    ...problems(),
  },
});

const getOne = createRoute({
  method: "get",
  path: "/replays/{replay_id}",
  tags,
  summary: "Get a replay's progress",
  request: { params: ReplayIdParam },
  responses: { 200: jsonResponse(ReplaySchema, "The replay"), ...problems() },
});

const cancelOne = createRoute({
  method: "post",
  path: "/replays/{replay_id}/cancel",
  tags,
  summary: "Cancel a running replay",
  description:
    "It creates no more deliveries; those it created already stay pending (cancel them with `POST /api/observers/deliveries/cancel`). A replay that has ended answers 409.",
  request: { params: ReplayIdParam },
  responses: {
    200: jsonResponse(ReplaySchema, "The replay, cancelled"),
    ...problems({ write: true, extra: [409] }),
  },
});

const cancel = createRoute({
  method: "post",
  path: "/deliveries/cancel",
  tags,
  summary: "Cancel pending deliveries by filter",
  description:
    "Removes the pending deliveries matching every filter given (at least one), each logged `cancelled` with error code `CANCELLED`; a dead letter one was replaying goes back to the queue. Deliveries running now are never cancelled (they finish, retry or dead-letter as usual; counted in `in_flight`). A tenant-bound key cancels only its tenant's observers' deliveries; an `observer_id` that is unknown, deleted or another tenant's answers 404. At most 10 000 per call (`more` says when to call again).",
  request: { body: jsonBody(CancelBodySchema) },
  responses: {
    200: jsonResponse(CancelResultSchema, "What was (or, dry, would be) cancelled"),
    ...problems({ write: true }),
  },
});

/** Pause, resume, replay and bulk cancel, under `/api/observers` (docs/delivery.md). */
export function deliveryControlRoutes(deps: ApiDependencies) {
  const { sql, runtime } = deps;
  return router()
    .openapi(pauseRoute(true), async (c) => {
      const { id } = c.req.valid("param");
      const observer = await setObserverPaused(sql, id, true, callerScope(c.var.principal));
      runtime.wake();
      return c.json(observer, 200);
    })
    .openapi(pauseRoute(false), async (c) => {
      const { id } = c.req.valid("param");
      const observer = await setObserverPaused(sql, id, false, callerScope(c.var.principal));
      runtime.wake();
      return c.json(observer, 200);
    })
    .openapi(replay, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const result = await startReplay(
        sql,
        id,
        { since: body.since, until: body.until, dryRun: body.dry_run === true },
        {
          ...callerScope(c.var.principal),
          limits: {
            maxChanges: deps.limits.backtestMaxRows,
            maxRangeDays: deps.limits.backtestMaxRangeDays,
          },
        },
      );
      if ("dry_run" in result) return c.json(result, 200);
      runtime.wake();
      c.header("location", `/api/observers/replays/${result.id}`);
      return c.json(result, 202);
    })
    .openapi(replays, async (c) => {
      const { id } = c.req.valid("param");
      const query = c.req.valid("query");
      return c.json(
        await listReplays(sql, id, { ...pageRequest(query), ...tenantOf(c.var.principal) }),
        200,
      );
    })
    .openapi(getOne, async (c) =>
      c.json(await getReplay(sql, c.req.valid("param").replay_id, tenantOf(c.var.principal)), 200),
    )
    .openapi(cancelOne, async (c) =>
      c.json(
        await cancelReplay(sql, c.req.valid("param").replay_id, tenantOf(c.var.principal)),
        200,
      ),
    )
    .openapi(cancel, async (c) => {
      const { dry_run, ...filter } = c.req.valid("json");
      const result = await cancelDeliveries(sql, filter, {
        ...callerScope(c.var.principal),
        dryRun: dry_run === true,
      });
      return c.json(result, 200);
    });
}
