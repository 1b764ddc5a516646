/**
 * Builtin jobs end to end, through `createObservers` (the Bun factory, in process) over real
 * PostgreSQL: a `job` action enqueues, `observers.jobs.register` runs it; the API refuses a task no
 * live process handles and shows a job nobody can run waiting; retries end in `failed` with the
 * error; cancel and retry through the API; a handler running for several leases keeps its job by
 * heartbeats while another process polls; a process killed with SIGKILL gets its job run again
 * elsewhere once its lease runs out; a cancelled running job's handler sees its signal abort, as
 * it does at its timeout and at shutdown (the job released, the attempt not counted); and builtin
 * jobs run on embedded PGlite too.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObservers } from "../../adapters/hosts/bun/index.ts";
import type { Observers } from "../../adapters/hosts/server/server-observers.ts";
import type { JobContext } from "../../src/jobs/runner.ts";
import type { JsonValue } from "../../src/json.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver } from "../support/observers.ts";

const ROOT = join(import.meta.dirname, "../..");
const ADMIN = "jobs-admin-token-0123456789abcdef";
const ENV = {
  OBSERVERS_ADMIN_TOKEN: ADMIN,
  OBSERVERS_MIGRATE: "off",
  OBSERVERS_LEASE_MS: "1000",
  OBSERVERS_POLL_INTERVAL_MS: "50",
  OBSERVERS_SHUTDOWN_TIMEOUT_MS: "2000",
};
let db: TestDatabase;
const started: Observers[] = [];

beforeAll(async () => {
  db = await createTestDatabase("jobs");
  await createOrdersTable(db.sql);
});
afterAll(async () => {
  for (const observers of started) await observers.stop();
  await db?.drop();
});

async function startObservers(register?: (observers: Observers) => void): Promise<Observers> {
  const observers = createObservers({ databaseUrl: db.url, env: ENV, logger: silentLogger });
  register?.(observers);
  await observers.start();
  started.push(observers);
  return observers;
}

async function call(
  observers: Observers,
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
): Promise<Response> {
  return observers.api.request(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

interface JobBody {
  id: string;
  task: string;
  status: string;
  attempts: number;
  last_error: string | null;
  waiting_reason: string | null;
  payload: JsonValue;
  observer_id: string | null;
}

async function jobsOf(observers: Observers, query: string, token = ADMIN): Promise<JobBody[]> {
  const response = await call(observers, "GET", `/api/jobs?${query}`, undefined, token);
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: JobBody[] }).data;
}

async function insertOrder(org: number | null = null): Promise<string> {
  const [row] = await db.sql`INSERT INTO orders (org) VALUES (${org}) RETURNING id::text AS id`;
  return String(row?.id);
}

/** One job of `task`, once `accept` says it is in the state waited for. */
function jobOf(
  observers: Observers,
  task: string,
  accept: (job: JobBody) => boolean,
): Promise<JobBody> {
  return eventually(async () => {
    const jobs = await jobsOf(observers, `task=${task}`);
    return jobs.find(accept);
  }, `a ${task} job`);
}

let main: Observers;
const shipped: { payload: JsonValue; context: Omit<JobContext, "signal"> }[] = [];
let flakyFailures = 0;

describe("builtin jobs", () => {
  beforeAll(async () => {
    main = await startObservers((observers) => {
      observers.jobs.register("ship", (payload, { signal, ...context }) => {
        shipped.push({ payload, context });
      });
      observers.jobs.register(
        "flaky",
        () => {
          if (flakyFailures > 0) {
            flakyFailures--;
            throw new Error("the carrier is down");
          }
        },
        { retry: { max_attempts: 2, backoff_strategy: "fixed", initial_delay_ms: 10 } },
      );
    });
    expect(main.jobs.tasks()).toEqual(["ship", "flaky"]);
  });

  it("a job action's job runs in the registered handler with its payload and context", async () => {
    const created = await call(main, "POST", "/api/observers", {
      name: "ship-orders",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "ship", payload_template: '{"order": {{ after.id }}}' }],
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const observerId = ((await created.json()) as { id: string }).id;
    const order = await insertOrder();
    const job = await jobOf(main, "ship", (j) => j.status === "succeeded");
    expect(job).toMatchObject({ attempts: 1, payload: { order: Number(order) }, last_error: null });
    expect(job.observer_id).toBe(observerId);
    expect(shipped).toHaveLength(1);
    expect(shipped[0]?.payload).toEqual({ order: Number(order) });
    expect(shipped[0]?.context).toMatchObject({
      jobId: job.id,
      task: "ship",
      attempt: 1,
      maxAttempts: 5,
      tenant: null,
      event: { observerId },
    });
    expect(shipped[0]?.context.event.id).toMatch(/^[0-9a-f-]{36}$/);
    const one = await call(main, "GET", `/api/jobs/${job.id}`);
    expect(((await one.json()) as JobBody).status).toBe("succeeded");
    await call(main, "DELETE", `/api/observers/${observerId}`);
  });

  it("refuses a task no live process has registered, and a queue kind this runtime lacks (400 naming the field)", async () => {
    const response = await call(main, "POST", "/api/observers", {
      name: "unknown-task",
      entity_type: "Order",
      actions: [
        { type: "log", message_template: "x" },
        { type: "job", task: "nobody-runs-this" },
        { type: "job", queue: "cloudflare-queues", binding: "JOBS", task: "ship" },
      ],
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { issues: { path: string; message: string }[] };
    expect(problem.issues.map((issue) => issue.path)).toEqual([
      "actions.1.task",
      "actions.2.queue",
    ]);
    expect(problem.issues[0]?.message).toMatch(
      /no live process has registered task nobody-runs-this/,
    );
  });

  it("a job nobody can run waits visibly; cancel and bulk cancel through the API", async () => {
    // Written with SQL, as an operator could: the API's check is not in the way.
    const observer = await insertObserver(db.sql, {
      name: "orphans",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "orphan" }],
    });
    await insertOrder();
    await insertOrder();
    await insertOrder();
    const waiting = await eventually(async () => {
      const jobs = await jobsOf(main, "task=orphan&status=pending");
      return jobs.length === 3 ? jobs : undefined;
    }, "three waiting orphan jobs");
    for (const job of waiting) {
      expect(job.waiting_reason).toBe("no live process has registered task orphan");
    }
    const [first, ...rest] = waiting;
    const cancelled = await call(main, "POST", `/api/jobs/${first?.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as JobBody).status).toBe("cancelled");
    const again = await call(main, "POST", `/api/jobs/${first?.id}/cancel`);
    expect(again.status).toBe(409);
    // Bulk cancel needs an explicit body.
    expect((await call(main, "POST", "/api/jobs/cancel")).status).toBe(400);
    const invalid = await call(main, "POST", "/api/jobs/cancel", { status: "succeeded" });
    expect(invalid.status).toBe(400);
    const bulk = await call(main, "POST", "/api/jobs/cancel", {
      task: "orphan",
      observer_id: observer,
    });
    expect(await bulk.json()).toEqual({ cancelled: rest.length });
    expect(await jobsOf(main, "task=orphan&status=pending")).toEqual([]);
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
  });

  it("retries with backoff, ends failed with the error; POST retry runs it again", async () => {
    flakyFailures = 2;
    const observer = await insertObserver(db.sql, {
      name: "flaky-orders",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "flaky" }],
    });
    await insertOrder();
    const failed = await jobOf(main, "flaky", (j) => j.status === "failed");
    expect(failed.attempts).toBe(2);
    expect(failed.last_error).toBe("Error: the carrier is down");
    expect((await call(main, "POST", `/api/jobs/${failed.id}/retry`)).status).toBe(200);
    const succeeded = await jobOf(main, "flaky", (j) => j.status === "succeeded");
    expect(succeeded).toMatchObject({ id: failed.id, attempts: 1 });
    expect((await call(main, "POST", `/api/jobs/${failed.id}/retry`)).status).toBe(409);
    expect((await call(main, "GET", "/api/jobs/not-a-uuid")).status).toBe(404);
    expect((await call(main, "GET", "/api/jobs?status=nope")).status).toBe(400);
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
  });

  it("tenant keys see and touch only their tenant's jobs", async () => {
    const t7 = (await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" }))
      .token;
    const t8 = (await insertApiKey(db.client, { name: "t8", scope: "admin", fk_customer_org: "8" }))
      .token;
    const observer = await insertObserver(db.sql, {
      name: "tenant-7-orphans",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "t7-orphan" }],
      fk_customer_org: 7,
    });
    await insertOrder(7);
    const [job] = await eventually(async () => {
      const jobs = await jobsOf(main, "task=t7-orphan", t7);
      return jobs.length === 1 ? jobs : undefined;
    }, "tenant 7's job");
    expect(await jobsOf(main, "task=t7-orphan", t8)).toEqual([]);
    expect((await call(main, "GET", `/api/jobs/${job?.id}`, undefined, t8)).status).toBe(404);
    expect((await call(main, "POST", `/api/jobs/${job?.id}/cancel`, undefined, t8)).status).toBe(
      404,
    );
    const bulk = await call(main, "POST", "/api/jobs/cancel", { task: "t7-orphan" }, t8);
    expect(await bulk.json()).toEqual({ cancelled: 0 });
    expect((await call(main, "POST", `/api/jobs/${job?.id}/cancel`, undefined, t7)).status).toBe(
      200,
    );
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
  });
});

describe("leases", () => {
  it("a handler running for several leases keeps its job by heartbeats, while another process polls", async () => {
    let runs = 0;
    const long = async (_payload: JsonValue, { signal }: JobContext) => {
      runs++;
      // 3.5 leases of 1 s.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 3_500);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
    };
    const a = await startObservers((o) => o.jobs.register("long", long, { concurrency: 1 }));
    const b = await startObservers((o) => o.jobs.register("long", long, { concurrency: 1 }));
    const observer = await insertObserver(db.sql, {
      name: "long-orders",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "long" }],
    });
    await insertOrder();
    const job = await eventually(
      async () => {
        const jobs = await jobsOf(a, "task=long&status=succeeded");
        return jobs[0];
      },
      "the long job to succeed",
      20_000,
    );
    expect(job.attempts).toBe(1);
    expect(runs).toBe(1);
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
    await a.stop();
    await b.stop();
  });

  it("cancelling a running job aborts its handler's signal", async () => {
    let aborted: unknown = null;
    let markRunning: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      markRunning = resolve;
    });
    const observers = await startObservers((o) =>
      o.jobs.register("cancel-me", async (_payload, { signal }) => {
        markRunning();
        await new Promise<void>((_, reject) => {
          signal.addEventListener("abort", () => {
            aborted = signal.reason;
            reject(signal.reason);
          });
        });
      }),
    );
    const observer = await insertObserver(db.sql, {
      name: "cancel-orders",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "job", task: "cancel-me" }],
    });
    await insertOrder();
    await running;
    const [job] = await jobsOf(observers, "task=cancel-me&status=running");
    expect((await call(observers, "POST", `/api/jobs/${job?.id}/cancel`)).status).toBe(200);
    await eventually(() => (aborted === null ? undefined : true), "the handler's abort");
    expect(String(aborted)).toMatch(/cancelled or its lease lost/);
    const after = await call(observers, "GET", `/api/jobs/${job?.id}`);
    expect(((await after.json()) as JobBody).status).toBe("cancelled");
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
    await observers.stop();
  });

  it("a process killed with SIGKILL mid-job: its job runs again elsewhere once the lease runs out", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jobs-kill-"));
    const script = join(dir, "worker.ts");
    await writeFile(
      script,
      `import { createObservers } from ${JSON.stringify(join(ROOT, "adapters/hosts/bun/index.ts"))};
const observers = createObservers({ databaseUrl: process.env.DB_URL, logger: { log() {} } });
observers.jobs.register("crashy", (_payload, context) => {
  console.log("claimed " + context.jobId + " " + context.attempt);
  return new Promise(() => {});
});
await observers.start();
console.log("started");
`,
    );
    const child = spawn(join(ROOT, "node_modules/.bin/bun"), [script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        DB_URL: db.url,
        ...ENV,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on("data", (chunk) => {
      output += String(chunk);
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await eventually(
        () => (output.includes("started") ? true : undefined),
        `the worker: ${output}`,
      );
      const observer = await insertObserver(db.sql, {
        name: "crashy-orders",
        entity_type: "Order",
        event_type: "INSERT",
        actions: [{ type: "job", task: "crashy" }],
      });
      await insertOrder();
      const claimed = await eventually(
        () => /claimed (\S+) 1/.exec(output)?.[1],
        `the worker's claim: ${output}`,
      );
      child.kill("SIGKILL");
      await exited;
      const attempts: number[] = [];
      const observers = await startObservers((o) =>
        o.jobs.register("crashy", (_payload, context) => {
          if (context.jobId === claimed) attempts.push(context.attempt);
        }),
      );
      const job = await eventually(async () => {
        const response = await call(observers, "GET", `/api/jobs/${claimed}`);
        const body = (await response.json()) as JobBody;
        return body.status === "succeeded" ? body : undefined;
      }, "the crashed job to run again");
      expect(job.attempts).toBe(2);
      expect(attempts).toEqual([2]);
      await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE id = ${observer}::uuid`;
      await observers.stop();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the runner's signal", () => {
  async function enqueueDirect(task: string): Promise<string> {
    const [row] = await db.sql`INSERT INTO core.tb_job (task, payload)
      VALUES (${task}, '{"direct": true}'::jsonb) RETURNING id::text AS id`;
    return String(row?.id);
  }

  async function jobRow(id: string) {
    const [row] = await db.sql`SELECT status, attempts, last_error, lease_owner
      FROM core.tb_job WHERE id = ${id}::uuid`;
    return row as {
      status: string;
      attempts: number;
      last_error: string | null;
      lease_owner: string | null;
    };
  }

  it("aborts at the handler's timeoutMs; the attempt fails with the TimeoutError", async () => {
    const id = await enqueueDirect("slow");
    let reason: unknown = null;
    const observers = await startObservers((o) =>
      o.jobs.register(
        "slow",
        (_payload, { signal }) =>
          new Promise((_, reject) => {
            signal.addEventListener("abort", () => {
              reason = signal.reason;
              reject(signal.reason);
            });
          }),
        { timeoutMs: 100, retry: { max_attempts: 1 } },
      ),
    );
    const row = await eventually(async () => {
      const current = await jobRow(id);
      return current.status === "failed" ? current : undefined;
    }, "the timed-out job to fail");
    expect(row.last_error).toBe("TimeoutError: timed out after 100 ms");
    expect((reason as Error).name).toBe("TimeoutError");
    await observers.stop();
  });

  it("aborts at shutdown past OBSERVERS_SHUTDOWN_TIMEOUT_MS; the job goes back to pending, the attempt not counted", async () => {
    const id = await enqueueDirect("endless");
    let aborted = false;
    const observers = createObservers({
      databaseUrl: db.url,
      env: { ...ENV, OBSERVERS_SHUTDOWN_TIMEOUT_MS: "200" },
      logger: silentLogger,
    });
    observers.jobs.register("endless", (_payload, { signal }) => {
      return new Promise((_, reject) => {
        signal.addEventListener("abort", () => {
          aborted = true;
          reject(signal.reason);
        });
      });
    });
    await observers.start();
    await eventually(
      async () => ((await jobRow(id)).status === "running" ? true : undefined),
      "running",
    );
    await observers.stop();
    expect(aborted).toBe(true);
    expect(await jobRow(id)).toMatchObject({ status: "pending", attempts: 0, lease_owner: null });
    await db.sql`UPDATE core.tb_job SET status = 'cancelled' WHERE id = ${id}::uuid`;
  });

  it("refuses a task registered twice and invalid options", async () => {
    const observers = createObservers({ databaseUrl: db.url, env: ENV, logger: silentLogger });
    observers.jobs.register("once", () => {});
    expect(() => observers.jobs.register("once", () => {})).toThrow("already registered");
    expect(() => observers.jobs.register("other", () => {}, { concurrency: 0 })).toThrow(
      "concurrency must be at least 1",
    );
    expect(() => observers.jobs.register("", () => {})).toThrow("non-empty");
    await observers.stop();
  });
});

describe("on embedded PGlite", () => {
  it("enqueues, claims and runs builtin jobs (polling, SKIP LOCKED)", {
    timeout: 60_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "jobs-embedded-"));
    let token = "";
    const observers = createObservers({
      env: {
        OBSERVERS_DATA_DIR: dataDir,
        OBSERVERS_EMBEDDED_PORT: "0",
        OBSERVERS_POLL_INTERVAL_MS: "50",
      },
      logger: silentLogger,
      print: (text) => {
        token ||= /copy it now\.\n\n\s+(\S+)/.exec(text)?.[1] ?? "";
      },
    });
    const ran: JsonValue[] = [];
    observers.jobs.register("embedded", (payload) => {
      ran.push(payload);
    });
    try {
      await observers.start({ url: "http://127.0.0.1:9999" });
      const created = await call(
        observers,
        "POST",
        "/api/observers",
        {
          name: "embedded-jobs",
          entity_type: "Order",
          actions: [
            { type: "job", task: "embedded", payload_template: '{"total": {{ after.total }}}' },
          ],
        },
        token,
      );
      expect(created.status, await created.clone().text()).toBe(201);
      const { id } = (await created.json()) as { id: string };
      // The API's test sends through the same environment: a real job in the embedded database.
      const tested = await call(
        observers,
        "POST",
        `/api/observers/${id}/test`,
        {
          event: {
            object_type: "Order",
            modification_type: "INSERT",
            object_id: 1,
            object_data: { total: 12 },
          },
          send: true,
        },
        token,
      );
      expect(tested.status, await tested.clone().text()).toBe(200);
      await eventually(() => (ran.length > 0 ? true : undefined), "the embedded job to run");
      expect(ran).toEqual([{ total: 12 }]);
      const [job] = await jobsOf(observers, "task=embedded", token);
      expect(job).toMatchObject({ status: "succeeded", attempts: 1 });
    } finally {
      await observers.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
