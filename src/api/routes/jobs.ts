import { createRoute } from "@hono/zod-openapi";
import { ConfigError } from "../../errors.ts";
import { jobsCancelled } from "../../jobs/metrics.ts";
import { cancelJob, cancelJobs, getJob, listJobs, retryJob } from "../../store/jobs.ts";
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
  JobCancelFilterSchema,
  JobQuerySchema,
  JobSchema,
  JobsCancelledSchema,
} from "../schemas/jobs.ts";

const tags = ["Jobs"];
const IdParam = idParam("id", "The job's id");

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List jobs",
  description:
    "Newest first: builtin jobs and graphile-worker hand-offs made by `job` actions. A tenant-bound key sees its tenant's observers' jobs only (another tenant's answer 404).",
  request: { query: PageQuery.merge(JobQuerySchema) },
  responses: { 200: jsonResponse(pageOf(JobSchema, "JobPage"), "A page of jobs"), ...problems() },
});

const cancelAll = createRoute({
  method: "post",
  path: "/cancel",
  tags,
  summary: "Cancel every pending or running builtin job matching a filter",
  description:
    "A running job's handler sees its signal abort at its next lease renewal. Send the filter as a JSON body: `{}` cancels every pending or running job the caller may see.",
  request: { body: jsonBody(JobCancelFilterSchema) },
  responses: {
    200: jsonResponse(JobsCancelledSchema, "How many were cancelled"),
    ...problems({ write: true }),
  },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a job",
  request: { params: IdParam },
  responses: { 200: jsonResponse(JobSchema, "The job"), ...problems() },
});

const cancel = createRoute({
  method: "post",
  path: "/{id}/cancel",
  tags,
  summary: "Cancel a job",
  description:
    "Pending or running builtin jobs only (409 otherwise). A running job's handler sees its signal abort at its next lease renewal.",
  request: { params: IdParam },
  responses: {
    200: jsonResponse(JobSchema, "The cancelled job"),
    ...problems({ write: true, extra: [409] }),
  },
});

const retry = createRoute({
  method: "post",
  path: "/{id}/retry",
  tags,
  summary: "Run a failed or cancelled job again",
  description:
    "Back to pending, due now, with its attempts reset. Failed or cancelled builtin jobs only (409 otherwise, and when another pending job has its job_key).",
  request: { params: IdParam },
  responses: {
    200: jsonResponse(JobSchema, "The job, pending again"),
    ...problems({ write: true, extra: [409] }),
  },
});

/** Jobs under `/api/jobs`. Literal paths come before `/{id}`. */
export function jobRoutes(deps: ApiDependencies) {
  const { sql } = deps;
  return router()
    .openapi(list, async (c) => {
      const query = c.req.valid("query");
      const page = await listJobs(sql, {
        ...pageRequest(query),
        ...tenantOf(c.var.principal),
        ...(query.task === undefined ? {} : { task: query.task }),
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.observer_id === undefined ? {} : { observerId: query.observer_id }),
      });
      return c.json(page, 200);
    })
    .openapi(cancelAll, async (c) => {
      // A bare POST must not cancel everything by accident: the filter is explicit, `{}` for all.
      if (c.req.header("content-type") === undefined) {
        throw new ConfigError([
          {
            path: "",
            message: "send the filter as a JSON body ({} cancels every pending or running job)",
          },
        ]);
      }
      const filter = c.req.valid("json");
      const cancelled = await cancelJobs(sql, {
        ...tenantOf(c.var.principal),
        ...(filter.task === undefined ? {} : { task: filter.task }),
        ...(filter.status === undefined ? {} : { status: filter.status }),
        ...(filter.observer_id === undefined ? {} : { observerId: filter.observer_id }),
      });
      jobsCancelled(cancelled);
      return c.json({ cancelled }, 200);
    })
    .openapi(get, async (c) =>
      c.json(await getJob(sql, c.req.valid("param").id, tenantOf(c.var.principal)), 200),
    )
    .openapi(cancel, async (c) => {
      const job = await cancelJob(sql, c.req.valid("param").id, tenantOf(c.var.principal));
      jobsCancelled(1);
      return c.json(job, 200);
    })
    .openapi(retry, async (c) => {
      const job = await retryJob(sql, c.req.valid("param").id, tenantOf(c.var.principal));
      // Pending again, due now: the runners hear it as they hear an enqueue (src/jobs/doorbell.ts).
      deps.environment?.jobs?.builtin?.ring?.();
      return c.json(job, 200);
    });
}
