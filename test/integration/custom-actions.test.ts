/**
 * A host's own action type end to end, against a real PostgreSQL: the registry a host builds with
 * `actionRegistry([custom])` is given to the API and to the runtime; the API validates and
 * documents the type like a built-in, the store keeps it, a change runs it, and a runtime that no
 * longer registers it dead-letters the delivery with a clear code instead of crashing.
 */
import * as v from "valibot";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";
import { workersConfig } from "../../adapters/hosts/workers/config.ts";
import { runTick } from "../../adapters/hosts/workers/tick.ts";
import { actionRegistry, defineAction } from "../../src/actions/registry.ts";
import type { ActionRegistry } from "../../src/actions/types.ts";
import { ActionFailure } from "../../src/actions/types.ts";
import { createObserversApi } from "../../src/api/app.ts";
import type { ChangeEvent } from "../../src/events/types.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-custom-action-tests-0123";

/** What the custom action was asked to do. */
const posted: { channel: string; event: ChangeEvent; observer: string; deliveryId: string }[] = [];

const discord = defineAction({
  type: "discord",
  schema: v.strictObject({
    type: v.literal("discord"),
    channel: v.pipe(v.string(), v.trim(), v.nonEmpty("must not be empty")),
    token_env: v.optional(v.string()),
  }),
  run: async ({ config, event, observer, deliveryId }) => {
    if (config.channel === "broken") {
      throw new ActionFailure("permanent", "DISCORD_REFUSED", "the channel is archived");
    }
    posted.push({ channel: config.channel, event, observer: observer.name, deliveryId });
    return { message: `posted to #${config.channel}` };
  },
});

const registry = actionRegistry([discord]);
let db: TestDatabase;
let runtime: ObserverRuntime | undefined;

beforeAll(async () => {
  db = await createTestDatabase("custom_actions");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

function apiWith(options: { registry?: ActionRegistry } = {}) {
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    // For `POST /api/observers/{id}/test` with `send: true`.
    environment: testEnvironment(),
    ...options,
  });
  return { app, call: apiClient(app, ADMIN) };
}

/** A checkpoint for a fresh listener at the end of the change log: older changes are not its business. */
async function freshListener(listenerId: string): Promise<void> {
  await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id, last_transaction_id, last_processed_id)
    SELECT ${listenerId}, COALESCE(max(transaction_id), '0'), COALESCE(max(pk_entity_change_log), 0)
    FROM core.tb_entity_change_log`;
}

/** A runtime on a fresh listener. */
async function startRuntime(listenerId: string, options: { registry?: ActionRegistry } = {}) {
  await freshListener(listenerId);
  runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment(),
    listenerId,
    pollIntervalMs: 100,
    leaseMs: 5_000,
    shutdownTimeoutMs: 2_000,
    ...options,
  });
  await runtime.start();
  return runtime;
}

async function deadLetter(observerName: string) {
  return eventually(async () => {
    const [row] = await db.sql`SELECT status, attempts, error_code, error_message
      FROM core.tb_observer_dlq WHERE observer_name = ${observerName}`;
    return row;
  }, `a dead letter of ${observerName}`);
}

describe("a custom action type", () => {
  let api: ReturnType<typeof apiWith>;
  let call: ReturnType<typeof apiClient>;
  beforeAll(() => {
    api = apiWith({ registry });
    call = api.call;
  });

  it("is accepted, normalised by its own schema and stored like a built-in", async () => {
    const response = await call("POST", "/api/observers", {
      name: "to-discord",
      entity_type: "Order",
      event_type: "insert",
      actions: [{ type: "discord", channel: "  orders  " }],
      retry_config: { max_attempts: 2, initial_delay_ms: 10 },
    });
    expect(response.status).toBe(201);
    const observer = await response.json();
    expect(observer.actions).toEqual([{ type: "discord", channel: "orders" }]);
    const [row] =
      await db.sql`SELECT actions FROM core.tb_observer WHERE id = ${observer.id}::uuid`;
    expect(row?.actions).toEqual([{ type: "discord", channel: "orders" }]);
  });

  it("refuses a bad config with a 400 naming the field", async () => {
    const response = await call("POST", "/api/observers", {
      name: "bad-discord",
      actions: [{ type: "discord", channel: " ", colour: "red" }],
    });
    expect(response.status).toBe(400);
    const problem = await response.json();
    expect(problem.code).toBe("INVALID_CONFIG");
    expect(problem.issues).toEqual([
      { path: "actions.0.channel", message: "must not be empty" },
      { path: "actions.0.colour", message: 'unknown field "colour"' },
    ]);
    expect(problem.detail).toBe("invalid body actions.0.channel: must not be empty (and 1 more)");
  });

  it("refuses an unknown type listing every registered type, the host's included", async () => {
    const response = await call("POST", "/api/observers", {
      name: "fax",
      actions: [{ type: "fax", to: "+15551234567" }],
    });
    expect(response.status).toBe(400);
    const problem = await response.json();
    expect(problem.issues).toEqual([
      {
        path: "actions.0.type",
        message:
          "must be one of webhook, slack, email, sms, push, search, cache, database, log, job, discord",
      },
    ]);
  });

  it("goes through the action policy: an environment variable not open to actions is refused", async () => {
    const response = await call("POST", "/api/observers", {
      name: "discord-secret",
      actions: [{ type: "discord", channel: "ops", token_env: "DATABASE_URL" }],
    });
    expect(response.status).toBe(422);
    const problem = await response.json();
    expect(problem.code).toBe("SECRET_NOT_ALLOWED");
    expect(problem.issues).toEqual([
      expect.objectContaining({ path: "actions.0.token_env", variable: "DATABASE_URL" }),
    ]);
  });

  it("is refused by an API built without the host's registry", async () => {
    const plain = apiWith();
    const response = await plain.call("POST", "/api/observers", {
      name: "plain-discord",
      actions: [{ type: "discord", channel: "ops" }],
    });
    expect(response.status).toBe(400);
    expect((await response.json()).issues).toEqual([
      {
        path: "actions.0.type",
        message:
          "must be one of webhook, slack, email, sms, push, search, cache, database, log, job",
      },
    ]);
  });

  it("has its own component in the OpenAPI document, listed in ActionConfig", async () => {
    const response = await api.app.request("/api/observers/openapi.json");
    const document = await response.json();
    const schemas = document.components.schemas;
    expect(schemas.ActionDiscord).toMatchObject({
      type: "object",
      properties: { type: { const: "discord" }, channel: { type: "string", minLength: 1 } },
      required: ["type", "channel"],
      additionalProperties: false,
    });
    expect(schemas.ActionConfig.oneOf).toContainEqual({
      $ref: "#/components/schemas/ActionDiscord",
    });
    expect(schemas.ActionConfig.properties.type.enum).toContain("discord");
    expect(schemas.ObserverCreate.properties.actions.items).toEqual({
      $ref: "#/components/schemas/ActionConfig",
    });
    // The document of an API without it does not mention it.
    const plain = await (await apiWith().app.request("/api/observers/openapi.json")).json();
    expect(plain.components.schemas.ActionDiscord).toBeUndefined();
  });

  it("is run once by the test route's send, through the API's registry", async () => {
    const created = await call("POST", "/api/observers", {
      name: "discord-test-send",
      entity_type: "Order",
      actions: [{ type: "discord", channel: "tests" }],
    });
    const { id } = await created.json();
    const before = posted.length;
    const response = await call("POST", `/api/observers/${id}/test`, {
      event: {
        object_type: "Order",
        modification_type: "UPDATE",
        object_id: "41",
        object_data: { status: "paid" },
      },
      send: true,
    });
    expect(response.status).toBe(200);
    const result = await response.json();
    expect(result).toMatchObject({
      fired: true,
      sent: [{ action_type: "discord", status: "success", message: "posted to #tests" }],
    });
    expect(posted.slice(before)).toEqual([
      expect.objectContaining({
        channel: "tests",
        event: expect.objectContaining({ entity_id: "41" }),
      }),
    ]);
    // Soft-deleted: the runtimes below are not its business.
    await call("DELETE", `/api/observers/${id}`);
  });

  it("runs for a matching change, with the event", async () => {
    const before = posted.length;
    await startRuntime("custom-run", { registry });
    const [order] =
      await db.sql`INSERT INTO orders (status, total, org) VALUES ('new', 12, 3) RETURNING id`;
    const [sent] = await eventually(
      () => (posted.length > before ? posted.slice(before) : undefined),
      "the discord action to run",
    );
    expect(sent).toMatchObject({
      channel: "orders",
      observer: "to-discord",
      event: {
        entity_type: "Order",
        entity_id: String(order?.id),
        event_type: "INSERT",
        after: { status: "new", total: 12, org: 3 },
      },
    });
    const [log] = await eventually(async () => {
      const rows = await db.sql`SELECT status, action_type, error_message
        FROM core.tb_observer_log WHERE delivery_id = ${sent?.deliveryId ?? ""}::uuid`;
      return rows.length > 0 ? rows : undefined;
    }, "the log row");
    expect(log).toMatchObject({ status: "success", action_type: "discord" });
  });

  it("is dead-lettered with its own code when it fails permanently", async () => {
    const response = await call("POST", "/api/observers", {
      name: "to-broken-channel",
      entity_type: "Order",
      event_type: "UPDATE",
      actions: [{ type: "discord", channel: "broken" }],
    });
    expect(response.status).toBe(201);
    await startRuntime("custom-broken", { registry });
    await db.sql`UPDATE orders SET status = 'paid'`;
    expect(await deadLetter("to-broken-channel")).toMatchObject({
      status: "pending",
      attempts: 1,
      error_code: "DISCORD_REFUSED",
      error_message: "the channel is archived",
    });
  });

  it("ends permanently with UNKNOWN_ACTION_TYPE on a runtime that no longer registers it", async () => {
    const before = posted.length;
    const response = await call("POST", "/api/observers", {
      name: "orphaned-discord",
      entity_type: "Order",
      event_type: "DELETE",
      actions: [{ type: "discord", channel: "orders" }],
    });
    expect(response.status).toBe(201);
    // The host removed the type: its runtime has only the built-ins.
    await startRuntime("custom-removed");
    await db.sql`DELETE FROM orders`;
    const dead = await deadLetter("orphaned-discord");
    expect(dead).toMatchObject({
      status: "pending",
      attempts: 1,
      error_code: "UNKNOWN_ACTION_TYPE",
    });
    expect(dead.error_message).toContain(
      'no action type "discord" is registered with this runtime',
    );
    expect(posted.length).toBe(before);
    expect((await runtime?.health())?.running).toBe(true);
  });

  it("runs in a Workers tick given the registry", async () => {
    const response = await call("POST", "/api/observers", {
      name: "discord-on-worker",
      entity_type: "Order",
      event_type: "INSERT",
      condition_expression: "status == 'worker'",
      actions: [{ type: "discord", channel: "edge" }],
    });
    expect(response.status).toBe(201);
    await freshListener("custom-tick");
    const before = posted.length;
    await db.sql`INSERT INTO orders (status) VALUES ('worker')`;
    const tick = () =>
      runTick(
        { HYPERDRIVE: { connectionString: db.url } },
        {
          config: workersConfig({
            OBSERVERS_LISTENER_ID: "custom-tick",
            OBSERVERS_TICK_BUDGET_MS: "5000",
          }),
          vars: {},
          logger: silentLogger,
          connect: () => createPostgresClient(db.url, { max: 2, prepare: false }),
          registry,
        },
      );
    const sent = await eventually(async () => {
      await tick();
      return posted.slice(before).find((item) => item.observer === "discord-on-worker");
    }, "the tick to run the discord action");
    expect(sent).toMatchObject({
      channel: "edge",
      event: { entity_type: "Order", event_type: "INSERT", after: { status: "worker" } },
    });
  });
});
