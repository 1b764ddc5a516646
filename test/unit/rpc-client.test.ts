/**
 * Hono's RPC client typed with the exported `ObserversApi`: the routes and their JSON types reach
 * a client (this file typechecks under `tsc -p tsconfig.json` only if they do), and the calls work
 * against a real migrated database through `app.request`.
 */
import { hc, type InferRequestType, type InferResponseType } from "hono/client";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { createObserversApi, type ObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-rpc-client-0123";

const runtime = stubRuntime();

let db: TestDatabase;
let client: ReturnType<typeof hc<ObserversApi>>;

beforeAll(async () => {
  db = await createTestDatabase("rpc_client");
  const app = createObserversApi({
    sql: db.client,
    runtime,
    adminToken: ADMIN,
    logger: silentLogger,
  });
  client = hc<ObserversApi>("http://api.test", {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => app.request(input, init),
    headers: { authorization: `Bearer ${ADMIN}` },
  });
});
afterAll(() => db?.drop());

describe("the RPC client of ObserversApi", () => {
  it("creates an observer and reads it back, typed", async () => {
    const created = await client.api.observers.$post({
      json: {
        name: "  rpc-order-shipped ",
        entity_type: "Order",
        event_type: "update",
        condition_expression: "status == 'shipped'",
        actions: [
          {
            type: "webhook",
            url: "https://example.com/hook",
            signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
          },
        ],
        retry_config: { max_attempts: 3, backoff_strategy: "linear" },
        priority: 7,
      },
    });
    expect(created.status).toBe(201);
    if (created.status !== 201) throw new Error(await created.text());
    const observer = await created.json();
    // The body's type is the Observer schema's.
    expectTypeOf(observer.id).toEqualTypeOf<string>();
    expectTypeOf(observer.name).toEqualTypeOf<string>();
    expectTypeOf(observer.priority).toEqualTypeOf<number>();
    expectTypeOf(observer.enabled).toEqualTypeOf<boolean>();
    expectTypeOf(observer.entity_type).toEqualTypeOf<string | null>();
    expectTypeOf(observer.retry_config.max_attempts).toEqualTypeOf<number>();
    expect(observer).toMatchObject({
      name: "rpc-order-shipped",
      event_type: "UPDATE",
      priority: 7,
      enabled: true,
      retry_config: { max_attempts: 3, backoff_strategy: "linear" },
    });
    expect(observer.actions[0]).toMatchObject({ type: "webhook", signing_secret: "[REDACTED]" });

    const read = await client.api.observers[":id"].$get({ param: { id: observer.id } });
    expect(read.status).toBe(200);
    if (read.status !== 200) throw new Error(await read.text());
    const again = await read.json();
    const name: string = again.name;
    const timeout: number = again.timeout_ms;
    expect({ name, timeout, id: again.id }).toEqual({
      name: "rpc-order-shipped",
      timeout: 30_000,
      id: observer.id,
    });
  });

  it("types request inputs and success bodies; problems are answered but not typed", async () => {
    // Problems are thrown and answered by the app's onError, so the client's types know only
    // the statuses handlers return: a 404 is not in the type, though it is what comes.
    const missing = await client.api.observers[":id"].$get({
      param: { id: "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42" },
    });
    expectTypeOf(missing.status).toEqualTypeOf<200>();
    expect(missing.status as number).toBe(404);
    const problem = (await missing.json()) as unknown as { code: string };
    expect(problem.code).toBe("NOT_FOUND");

    const invalid = await client.api.observers.$post({
      json: { name: "", actions: [] },
    });
    expect(invalid.status as number).toBe(400);

    type CreateInput = InferRequestType<typeof client.api.observers.$post>["json"];
    expectTypeOf<CreateInput["name"]>().toEqualTypeOf<string>();
    type Page = InferResponseType<typeof client.api.observers.$get, 200>;
    expectTypeOf<Page["total_count"]>().toEqualTypeOf<number>();
  });

  it("reaches routes of every router: list, patch, health, keys, dead letters", async () => {
    const page = await client.api.observers.$get({ query: { page_size: "5" } });
    expect(page.status).toBe(200);
    if (page.status !== 200) throw new Error(await page.text());
    const body = await page.json();
    expect(body.total_count).toBe(1);
    const id = body.data[0]?.id ?? "";

    const patched = await client.api.observers[":id"].$patch({
      param: { id },
      json: { enabled: false, event_type: "insert" },
    });
    expect(patched.status).toBe(200);
    if (patched.status === 200) {
      const observer = await patched.json();
      expect([observer.enabled, observer.event_type]).toEqual([false, "INSERT"]);
    }

    const health = await client.api.observers.runtime.health.$get();
    expect(health.status).toBe(200);
    if (health.status === 200) expect((await health.json()).running).toBe(true);

    const key = await client.api.keys.$post({ json: { name: "rpc", scope: "read" } });
    expect(key.status).toBe(201);
    if (key.status === 201) expect((await key.json()).token).toEqual(expect.any(String));

    const stats = await client.api.observers.dlq.stats.$get();
    expect(stats.status).toBe(200);
    if (stats.status === 200) expect((await stats.json()).total_items).toBe(0);
  });
});
