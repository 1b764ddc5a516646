import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { jobAction, jobConfigSchema } from "../../src/actions/job.ts";
import { logAction, logConfigSchema } from "../../src/actions/log.ts";
import type { JsonValue } from "../../src/json.ts";
import type { JobQueue, JobRequest } from "../../src/ports/jobs.ts";
import type { Logger, LogLevel } from "../../src/ports/logger.ts";
import { actionFailure, runAction, testEnvironment, testObserver } from "../support/actions.ts";
import { insert, update } from "../support/events.ts";

function capturingLogger() {
  const records: { level: LogLevel; message: string; fields: unknown }[] = [];
  const logger: Logger = {
    log: (level, message, fields) => {
      records.push({ level, message, fields });
    },
  };
  return { logger, records };
}

function capturingQueue(fail?: Error) {
  const jobs: JobRequest[] = [];
  const queue: JobQueue = {
    enqueue: async (job) => {
      if (fail) throw fail;
      jobs.push(job);
      return { id: `job-${jobs.length}` };
    },
  };
  return { queue, jobs };
}

describe("log action", () => {
  it("writes the rendered message at the level, with the event's fields", async () => {
    const { logger, records } = capturingLogger();
    const event = update({ id: 7, status: "shipped" }, { id: 7, status: "new" });
    const config = {
      type: "log",
      level: "WARN",
      message_template: "order {{ id }} is {{ status }} (was {{ before.status }})",
    };
    const result = await runAction(logAction, config, event, {
      environment: testEnvironment({ logger }),
    });
    expect(result.message).toBe("logged at warn");
    expect(records).toEqual([
      {
        level: "warn",
        message: "order 7 is shipped (was new)",
        fields: {
          event_id: event.id,
          entity_type: "Order",
          entity_id: "42",
          event_type: "UPDATE",
          observer: { id: testObserver.id, name: testObserver.name },
        },
      },
    ]);
  });

  it("defaults to info and refuses unknown levels and empty messages", async () => {
    const { logger, records } = capturingLogger();
    await runAction(logAction, { type: "log", message_template: "hi" }, insert({}), {
      environment: testEnvironment({ logger }),
    });
    expect(records[0]?.level).toBe("info");
    expect(
      v.safeParse(logConfigSchema, { type: "log", level: "fatal", message_template: "x" }).success,
    ).toBe(false);
    expect(v.safeParse(logConfigSchema, { type: "log", message_template: "" }).success).toBe(false);
  });
});

describe("job action", () => {
  it("enqueues the event on the builtin queue by default, keyed by the delivery", async () => {
    const { queue, jobs } = capturingQueue();
    const event = insert({ id: 7 });
    const result = await runAction(jobAction, { type: "job", task: "send_invoice" }, event, {
      environment: testEnvironment({ jobs: { builtin: queue } }),
      deliveryId: "dlv-77",
    });
    expect(result.message).toBe("enqueued job job-1 (builtin, task send_invoice)");
    expect(jobs).toEqual([
      {
        task: "send_invoice",
        payload: event as unknown as JsonValue,
        jobKey: null,
        maxAttempts: null,
        deliveryId: "dlv-77",
        eventId: event.id,
        observerId: testObserver.id,
        tenant: null,
      },
    ]);
  });

  it("renders payload_template and job_key_template, passes max_attempts; retries reuse the delivery", async () => {
    const { queue, jobs } = capturingQueue();
    const config = {
      type: "job",
      queue: "graphile-worker",
      task: "charge",
      max_attempts: 3,
      job_key_template: "order-{{ id }}",
      payload_template: '{"order": {{ id }}, "note": "by {{ observer.name }}", "big": {{ total }}}',
    };
    const event = insert({ id: 7, total: 9007199254740993n });
    for (const attempt of [1, 2]) {
      await runAction(jobAction, config, event, {
        environment: testEnvironment({ jobs: { "graphile-worker": queue } }),
        deliveryId: "dlv-9",
        attempt,
      });
    }
    expect(jobs.map((job) => job.deliveryId)).toEqual(["dlv-9", "dlv-9"]);
    expect(jobs[0]).toMatchObject({
      task: "charge",
      payload: { order: 7, note: `by ${testObserver.name}`, big: 9007199254740993n },
      jobKey: "order-7",
      maxAttempts: 3,
    });
  });

  it("validates queue, binding and job_key_template", () => {
    const ok = (config: object) =>
      v.safeParse(jobConfigSchema, { type: "job", task: "t", ...config });
    expect(ok({}).success).toBe(true);
    expect(ok({ queue: "cloudflare-queues", binding: "JOBS" }).success).toBe(true);
    const issuePath = (config: object) => {
      const result = ok(config);
      expect(result.success).toBe(false);
      return result.issues?.[0]?.path?.map((item) => item.key).join(".");
    };
    expect(issuePath({ queue: "default" })).toBe("queue");
    expect(issuePath({ queue: "cloudflare-queues" })).toBe("binding");
    expect(issuePath({ binding: "JOBS" })).toBe("binding");
    expect(issuePath({ queue: "cloudflare-queues", binding: "no-dashes" })).toBe("binding");
    expect(issuePath({ job_key_template: "" })).toBe("job_key_template");
  });

  it("a job key that renders empty fails permanently", async () => {
    const { queue } = capturingQueue();
    const error = await actionFailure(
      runAction(
        jobAction,
        { type: "job", task: "t", job_key_template: "{{ missing }}" },
        insert({}),
        {
          environment: testEnvironment({ jobs: { builtin: queue } }),
        },
      ),
    );
    expect(error.kind).toBe("permanent");
    expect(error.code).toBe("INVALID_JOB_KEY");
  });

  it("a queue error is transient JOB_ENQUEUE_FAILED", async () => {
    const { queue } = capturingQueue(new Error("queue full"));
    const error = await actionFailure(
      runAction(jobAction, { type: "job", task: "t" }, insert({}), {
        environment: testEnvironment({ jobs: { builtin: queue } }),
      }),
    );
    expect(error.kind).toBe("transient");
    expect(error.code).toBe("JOB_ENQUEUE_FAILED");
    expect(error.message).toMatch(/queue full/);
  });

  it("a queue kind the runtime lacks fails permanently with UNSUPPORTED_ON_RUNTIME, naming it", async () => {
    for (const environment of [
      testEnvironment(),
      testEnvironment({ jobs: { builtin: capturingQueue().queue } }),
    ]) {
      const error = await actionFailure(
        runAction(
          jobAction,
          { type: "job", task: "t", queue: "cloudflare-queues", binding: "JOBS" },
          insert({}),
          { environment },
        ),
      );
      expect(error.kind).toBe("permanent");
      expect(error.code).toBe("UNSUPPORTED_ON_RUNTIME");
      expect(error.message).toMatch(/queue cloudflare-queues is not available/);
    }
  });
});
