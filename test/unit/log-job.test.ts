import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { jobAction } from "../../src/actions/job.ts";
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
  it("enqueues the event under the delivery id, on the default queue", async () => {
    const { queue, jobs } = capturingQueue();
    const event = insert({ id: 7 });
    const result = await runAction(jobAction, { type: "job", task: "send_invoice" }, event, {
      environment: testEnvironment({ jobs: queue }),
      deliveryId: "dlv-77",
    });
    expect(result.message).toBe("enqueued job job-1 on default");
    expect(jobs).toEqual([
      {
        queue: "default",
        task: "send_invoice",
        payload: event as unknown as JsonValue,
        key: "dlv-77",
        maxAttempts: null,
      },
    ]);
  });

  it("renders payload_template and passes queue and max_attempts; retries reuse the key", async () => {
    const { queue, jobs } = capturingQueue();
    const config = {
      type: "job",
      queue: "billing",
      task: "charge",
      max_attempts: 3,
      payload_template: '{"order": {{ id }}, "note": "by {{ observer.name }}", "big": {{ total }}}',
    };
    const event = insert({ id: 7, total: 9007199254740993n });
    for (const attempt of [1, 2]) {
      await runAction(jobAction, config, event, {
        environment: testEnvironment({ jobs: queue }),
        deliveryId: "dlv-9",
        attempt,
      });
    }
    expect(jobs.map((job) => job.key)).toEqual(["dlv-9", "dlv-9"]);
    expect(jobs[0]).toEqual({
      queue: "billing",
      task: "charge",
      payload: { order: 7, note: `by ${testObserver.name}`, big: 9007199254740993n },
      key: "dlv-9",
      maxAttempts: 3,
    });
  });

  it("a queue error is transient JOB_ENQUEUE_FAILED", async () => {
    const { queue } = capturingQueue(new Error("queue full"));
    const error = await actionFailure(
      runAction(jobAction, { type: "job", task: "t" }, insert({}), {
        environment: testEnvironment({ jobs: queue }),
      }),
    );
    expect(error.kind).toBe("transient");
    expect(error.code).toBe("JOB_ENQUEUE_FAILED");
    expect(error.message).toMatch(/queue full/);
  });

  it("a runtime without a queue fails permanently with UNSUPPORTED_ON_RUNTIME", async () => {
    const error = await actionFailure(runAction(jobAction, { type: "job", task: "t" }, insert({})));
    expect(error.kind).toBe("permanent");
    expect(error.code).toBe("UNSUPPORTED_ON_RUNTIME");
  });
});
