/**
 * The ready servers (`npm run server` on Bun, `npm run server:deno` on Deno, as users run them) with
 * `OBSERVERS_JOB_HANDLERS`: the module's `register(jobs)` runs before start, so its task is known
 * to the API at once and the server itself runs the builtin jobs; a module that registers nothing
 * usable stops the server with exit code 2 naming the variable.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let db: TestDatabase;
let receiver: Receiver;
let dir: string;
let server: ServerProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase("jobs_ready_server");
  await createOrdersTable(db.sql);
  receiver = await startReceiver();
  dir = await mkdtemp(join(tmpdir(), "job-handlers-"));
});
afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
  await db?.drop();
});

describe.each(["bun", "deno"] as const)("OBSERVERS_JOB_HANDLERS on %s", (runtime) => {
  it("registers the module's handlers before start: the task is known and its jobs run in the server", async () => {
    receiver.requests.length = 0;
    await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
    const module = join(dir, "handlers.ts");
    await writeFile(
      module,
      `export function register(jobs) {
  jobs.register("forward", async (payload, { jobId, attempt, signal }) => {
    const response = await fetch(process.env.JOB_RECEIVER, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload, jobId, attempt }),
      signal,
    });
    await response.arrayBuffer();
  });
}
`,
    );
    server = await startServer(
      {
        DATABASE_URL: db.url,
        OBSERVERS_JOB_HANDLERS: module,
        JOB_RECEIVER: `${receiver.url}/job`,
        OBSERVERS_POLL_INTERVAL_MS: "100",
      },
      { runtime },
    );
    const refused = await server.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: "unknown",
        entity_type: "Order",
        actions: [{ type: "job", task: "not-registered" }],
      }),
    });
    expect(refused.status).toBe(400);
    const created = await server.api("/api/observers", {
      method: "POST",
      body: JSON.stringify({
        name: `forward-orders-${runtime}`,
        entity_type: "Order",
        event_type: "INSERT",
        actions: [{ type: "job", task: "forward", payload_template: '{"order": {{ after.id }}}' }],
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const [order] = await db.sql`INSERT INTO orders DEFAULT VALUES RETURNING id`;
    const [request] = await receiver.waitFor(1);
    expect(request?.path).toBe("/job");
    expect(JSON.parse(request?.text ?? "{}")).toMatchObject({
      payload: { order: Number(order?.id) },
      attempt: 1,
    });
  });

  it("a module without a register function stops the server with exit code 2, naming the variable", async () => {
    await server?.stop();
    server = undefined;
    const module = join(dir, "empty.ts");
    await writeFile(module, "export const nothing = 1;\n");
    const error = await startServer(
      { DATABASE_URL: db.url, OBSERVERS_JOB_HANDLERS: module },
      { runtime },
    ).catch((e: unknown) => e);
    expect(String(error)).toMatch(/server exited with 2/);
    expect(String(error)).toMatch(
      /OBSERVERS_JOB_HANDLERS: .*exports neither register\(jobs\) nor a default function/,
    );
  });
});
