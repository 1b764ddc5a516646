import { z } from "@hono/zod-openapi";
import { JOB_STATUSES } from "../../store/jobs.ts";
import { Timestamp } from "./common.ts";

const JobStatus = z.enum(JOB_STATUSES).openapi({
  description:
    "`pending`: waiting to run, or for its next attempt at `run_at`; `running`: a handler has it under a lease; `succeeded`, `failed` (every attempt failed: `last_error`), `cancelled`; `handed_off`: given to graphile-worker (`external_id`)",
});

/** A job: a `job` action's work (docs/jobs.md). */
export const JobSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    queue: z.enum(["builtin", "graphile-worker"]),
    task: z.string(),
    status: JobStatus,
    waiting_reason: z.string().nullable().openapi({
      description:
        "Why a pending builtin job does not run: no live process has registered its task (register it with observers.jobs.register)",
    }),
    payload: z.unknown().openapi({ description: "What the handler receives" }),
    job_key: z.string().nullable(),
    attempts: z.number().int().openapi({ description: "Attempts begun so far" }),
    max_attempts: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Null: the handler's `retry.max_attempts` (default 5)" }),
    run_at: Timestamp.openapi({ description: "When a pending job is due" }),
    last_error: z.string().nullable(),
    external_id: z.string().nullable().openapi({ description: "graphile-worker's job id" }),
    observer_id: z.string().nullable(),
    event_id: z.string().nullable(),
    delivery_id: z.string().nullable(),
    lease_owner: z.string().nullable().openapi({ description: "The process running it" }),
    lease_expires_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
  })
  .openapi("Job");

const filterFields = {
  task: z.string().min(1).optional(),
  status: JobStatus.optional(),
  observer_id: z.string().optional().openapi({ format: "uuid" }),
};

/** Filters of `GET /api/jobs`. */
export const JobQuerySchema = z.object(filterFields);

/** Which jobs `POST /api/jobs/cancel` cancels (every pending or running one when empty). */
export const JobCancelFilterSchema = z
  .strictObject({
    ...filterFields,
    status: z.enum(["pending", "running"]).optional(),
  })
  .openapi("JobCancelFilter");

export const JobsCancelledSchema = z
  .object({ cancelled: z.number().int().openapi({ description: "Jobs cancelled now" }) })
  .openapi("JobsCancelled");
