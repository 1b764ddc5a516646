import { createRoute, z } from "@hono/zod-openapi";
import { ConfigError, NotFoundError } from "../../errors.ts";
import { quoted } from "../../quoted.ts";
import {
  deadLetterStats,
  deleteDeadLetter,
  getDeadLetter,
  listDeadLetters,
} from "../../store/dead-letters.ts";
import { retryDeadLetter, retryDeadLetters } from "../../store/dlq-replay.ts";
import { tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import {
  idParam,
  jsonBody,
  jsonResponse,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
} from "../schemas/common.ts";
import {
  DeadLetterFilterSchema,
  DeadLetterSchema,
  DeadLetterStatsSchema,
  RetryAllResultSchema,
  RetryQueuedSchema,
} from "../schemas/dead-letters.ts";

const tags = ["Dead-letter queue"];
const IdParam = idParam("id", "The dead letter's id");

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List dead letters",
  description:
    "Newest first. A tenant-bound key sees its tenant's items of its tenant's observers only: a global observer's dead letters answer 404 to it (read, retry, delete) and are never counted or re-queued for it.",
  request: {
    query: PageQuery.extend({
      observer_id: z.string().optional().openapi({ format: "uuid" }),
    }),
  },
  responses: {
    200: jsonResponse(pageOf(DeadLetterSchema, "DeadLetterPage"), "A page of dead letters"),
    ...problems(),
  },
});

const stats = createRoute({
  method: "get",
  path: "/stats",
  tags,
  summary: "Dead-letter statistics",
  responses: { 200: jsonResponse(DeadLetterStatsSchema, "Counts"), ...problems() },
});

const retryAll = createRoute({
  method: "post",
  path: "/retry-all",
  tags,
  summary: "Re-queue every dead letter matching a filter",
  description:
    "Each one re-runs only its failed action, with the observer's current configuration and the original webhook-id; it stays in the queue until the replay succeeds.",
  request: { body: jsonBody(DeadLetterFilterSchema) },
  responses: {
    202: jsonResponse(RetryAllResultSchema, "How many were re-queued"),
    ...problems({ write: true }),
  },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a dead letter",
  request: { params: IdParam },
  responses: { 200: jsonResponse(DeadLetterSchema, "The dead letter"), ...problems() },
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a dead letter for good",
  request: { params: IdParam },
  responses: { 204: { description: "Deleted" }, ...problems({ write: true }) },
});

const retry = createRoute({
  method: "post",
  path: "/{id}/retry",
  tags,
  summary: "Replay a dead letter",
  description:
    "Re-runs only the failed action, with the observer's current configuration (fix the target, then replay) and the original webhook-id. The dead letter stays until the replay succeeds.",
  request: { params: IdParam },
  responses: {
    202: jsonResponse(RetryQueuedSchema, "Queued"),
    ...problems({ write: true, extra: [409] }),
  },
});

/** The dead-letter queue under `/api/observers/dlq`. Literal paths come before `/{id}`. */
export function deadLetterRoutes(deps: ApiDependencies) {
  const { sql, runtime } = deps;
  return router()
    .openapi(list, async (c) => {
      const query = c.req.valid("query");
      const page = await listDeadLetters(sql, {
        ...pageRequest(query),
        ...tenantOf(c.var.principal),
        ...(query.observer_id === undefined ? {} : { observerId: query.observer_id }),
      });
      return c.json(page, 200);
    })
    .openapi(stats, async (c) => c.json(await deadLetterStats(sql, tenantOf(c.var.principal)), 200))
    .openapi(retryAll, async (c) => {
      // A bare POST must not re-queue everything by accident: the filter is explicit, `{}` for all.
      if (c.req.header("content-type") === undefined) {
        throw new ConfigError([
          { path: "", message: "send the filter as a JSON body ({} re-queues every dead letter)" },
        ]);
      }
      const filter = c.req.valid("json");
      const result = await retryDeadLetters(sql, {
        ...tenantOf(c.var.principal),
        ...(filter.observer_id === undefined ? {} : { observerId: filter.observer_id }),
        ...(filter.error_code === undefined ? {} : { errorCode: filter.error_code }),
        ...(filter.since === undefined ? {} : { since: filter.since }),
        ...(filter.until === undefined ? {} : { until: filter.until }),
      });
      if (result.items_retried > 0) runtime.wake();
      return c.json(result, 202);
    })
    .openapi(get, async (c) =>
      c.json(await getDeadLetter(sql, c.req.valid("param").id, tenantOf(c.var.principal)), 200),
    )
    .openapi(remove, async (c) => {
      await deleteDeadLetter(sql, c.req.valid("param").id, tenantOf(c.var.principal));
      return c.body(null, 204);
    })
    .openapi(retry, async (c) => {
      const { id } = c.req.valid("param");
      const queued = await retryDeadLetter(sql, id, tenantOf(c.var.principal));
      if (!queued) throw new NotFoundError(`no dead letter with id ${quoted(id)} to retry`);
      runtime.wake();
      return c.json({ message: "Retry queued", id }, 202);
    });
}
