/**
 * The `cloudflare-queues` job queue on the Worker (adapters/hosts/workers/queues.ts), through the
 * Worker's action environment with fake queue bindings: the job action sends an envelope to the
 * binding the observer names; a missing binding, or one that is not a queue, fails permanently and
 * is refused when an observer is written; the Worker also has the database's queue kinds.
 */
import { describe, expect, it } from "vitest";
import { workersConfig } from "../../adapters/hosts/workers/config.ts";
import { workersEnvironment } from "../../adapters/hosts/workers/services.ts";
import { jobAction } from "../../src/actions/job.ts";
import { checkJobActions } from "../../src/api/job-checks.ts";
import { ConfigError } from "../../src/errors.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient } from "../../src/ports/sql.ts";
import { actionFailure, runAction } from "../support/actions.ts";
import { insert } from "../support/events.ts";

function fakeQueue() {
  const sent: { body: unknown; options: unknown }[] = [];
  return {
    sent,
    binding: {
      send: async (body: unknown, options?: unknown) => {
        sent.push({ body, options });
      },
      sendBatch: async () => {},
    },
  };
}

const unusedSql: SqlClient = {
  query: async () => {
    throw new Error("no database in this test");
  },
  transaction: async () => {
    throw new Error("no database in this test");
  },
  close: async () => {},
};

function environment(queues: Record<string, unknown>) {
  return workersEnvironment({
    config: workersConfig({}),
    vars: {},
    logger: silentLogger,
    fetch: globalThis.fetch,
    sql: unusedSql,
    queues,
  });
}

const config = { type: "job", queue: "cloudflare-queues", binding: "JOBS", task: "resize" };

describe("cloudflare-queues on the Worker", () => {
  it("sends an envelope with the task, payload and ids to the named binding", async () => {
    const jobs = fakeQueue();
    const event = insert({ id: 3, total: 9007199254740993n });
    const result = await runAction(
      jobAction,
      { ...config, payload_template: '{"id": {{ id }}}' },
      event,
      { environment: environment({ JOBS: jobs.binding }), deliveryId: "dlv-1", tenant: "7" },
    );
    expect(result.message).toBe("enqueued job dlv-1 (cloudflare-queues, task tenant:7:resize)");
    expect(jobs.sent).toEqual([
      {
        body: {
          task: "tenant:7:resize",
          payload: { id: 3 },
          job_key: null,
          tenant: "7",
          observer_id: expect.any(String),
          event_id: event.id,
          delivery_id: "dlv-1",
        },
        options: { contentType: "json" },
      },
    ]);
  });

  it("a missing binding, or one that is not a queue, fails permanently naming it", async () => {
    for (const queues of [{}, { JOBS: { send: () => {} } }, { JOBS: "a string var" }]) {
      const error = await actionFailure(
        runAction(jobAction, config, insert({}), { environment: environment(queues) }),
      );
      expect(error).toMatchObject({ kind: "permanent", code: "QUEUE_BINDING_MISSING" });
      expect(error.message).toMatch(/JOBS is not a Cloudflare Queues producer binding/);
    }
  });

  it("the API refuses an observer naming a binding the Worker lacks (400 at actions.N.binding)", async () => {
    const env = environment({ JOBS: fakeQueue().binding });
    await expect(checkJobActions([config], env)).resolves.toBeUndefined();
    const error = await checkJobActions(
      [{ type: "log" }, { ...config, binding: "OTHER" }],
      env,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(["actions.1.binding"]);
  });

  it("the Worker has every queue kind: builtin and graphile-worker in the database", () => {
    expect(Object.keys(environment({}).jobs ?? {}).sort()).toEqual([
      "builtin",
      "cloudflare-queues",
      "graphile-worker",
    ]);
  });
});
