/**
 * Saving an observer that will fail says so at once (`warnings` in the 201/200 body, documented in
 * the OpenAPI document the client checks every response against) instead of as a dead letter
 * after the first change: a target the server refuses, a `*_env` variable that is not set, an
 * entity type nothing captures. Tenant keys learn nothing of other tenants' changes.
 */
import { Logger, runMigrations } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { openApiDocument } from "../../src/api/openapi.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { createSqlJobQueues } from "../../src/jobs/sql-queues.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient } from "../support/api-client.ts";
import { insertChange } from "../support/changes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-warning-tests";
const policy = parseServerConfig({ OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_" }).actionPolicy;
const env = {
  OBSERVERS_SECRET_HOOK: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  OBSERVERS_SECRET_LOCAL_URL: "http://127.0.0.1:9999/secret-token-path",
  OBSERVERS_SECRET_CRED_URL: "https://user:pa55word@hooks.example.com/in",
  OBSERVERS_SECRET_NOT_URL: "hooks.example.com/in",
  ACME_HOOK: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
};

const quiet = new Logger(() => () => {});
let db: TestDatabase;
let admin: ReturnType<typeof apiClient>;
let permissive: ReturnType<typeof apiClient>;
let tenant7: ReturnType<typeof apiClient>;
let tenant8: ReturnType<typeof apiClient>;
let app: ReturnType<typeof createObserversApi>;

beforeAll(async () => {
  db = await createTestDatabase("api_warnings");
  await db.sql.unsafe(`CREATE TABLE public.orders (id serial PRIMARY KEY, total numeric);
    SELECT core.fn_track_table('public.orders', 'Order');
    CREATE TABLE public.dropped (id serial PRIMARY KEY);
    SELECT core.fn_track_table('public.dropped', 'Untracked');
    SELECT core.fn_untrack_table('public.dropped');`);
  // A producer writing the log directly (no tracked table), and one change of tenant 8 only.
  await insertChange(db.sql, { entity: "Invoice", at: "2026-01-01T00:00:00Z" });
  await insertChange(db.sql, { entity: "Tenant8Thing", org: 8, at: "2026-01-01T00:00:00Z" });
  const options = {
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
  };
  app = createObserversApi({
    ...options,
    environment: testEnvironment({ env, policy, allowPrivateTargets: false }),
  });
  admin = apiClient(app, ADMIN);
  const key = async (name: string, org: string) =>
    (await insertApiKey(db.client, { name, scope: "admin", fk_customer_org: org })).token;
  tenant7 = apiClient(app, await key("t7", "7"));
  tenant8 = apiClient(app, await key("t8", "8"));
  permissive = apiClient(
    createObserversApi({
      ...options,
      environment: testEnvironment({ env, policy, allowPrivateTargets: true }),
    }),
    ADMIN,
  );
});
afterAll(() => db?.drop());

let names = 0;
function observer(action: Record<string, unknown>, entity_type: string | null = "Order") {
  return { name: `warn-${++names}`, entity_type, actions: [action] };
}
const webhook = (extra: Record<string, unknown>) => ({ type: "webhook", ...extra });

interface Saved {
  id: string;
  warnings: { code: string; path: string; message: string }[];
}

async function saved(response: Response, status = 201): Promise<Saved> {
  expect(response.status).toBe(status);
  return (await response.json()) as Saved;
}

describe("warnings on saving an observer", () => {
  it("are empty for an observer that will run: tracked entity, public target, secret set", async () => {
    const body = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(
          webhook({ url: "https://example.com/hook", signing_secret_env: "OBSERVERS_SECRET_HOOK" }),
        ),
      ),
    );
    expect(body.warnings).toEqual([]);
    // No entity type matches every change: nothing to check.
    expect(
      (
        await saved(
          await admin(
            "POST",
            "/api/observers",
            observer(webhook({ url: "https://example.com/a" }), null),
          ),
        )
      ).warnings,
    ).toEqual([]);
  });

  it("name a loopback or private target while private targets are off, and only then", async () => {
    const body = await saved(
      await admin("POST", "/api/observers", {
        ...observer(webhook({ url: "http://127.0.0.1:4000/hook" })),
        actions: [
          webhook({ url: "http://127.0.0.1:4000/hook" }),
          webhook({ url: "http://localhost:4000/hook" }),
          { type: "slack", webhook_url: "http://10.0.0.5/services/T000/B000/slack-token-path" },
          webhook({ url: "https://hooks.example.com/fine" }),
        ],
      }),
    );
    expect(body.warnings.map((w) => [w.code, w.path])).toEqual([
      ["TARGET_FORBIDDEN", "actions.0.url"],
      ["TARGET_FORBIDDEN", "actions.1.url"],
      ["TARGET_FORBIDDEN", "actions.2.webhook_url"],
    ]);
    expect(body.warnings[0]?.message).toContain("127.0.0.1:4000 is a loopback");
    expect(body.warnings[0]?.message).toContain("OBSERVERS_ALLOW_PRIVATE_TARGETS=true");
    // The host is named; a Slack URL's path (its token) never is.
    expect(JSON.stringify(body.warnings)).not.toContain("slack-token-path");

    const allowed = await saved(
      await permissive(
        "POST",
        "/api/observers",
        observer(webhook({ url: "http://127.0.0.1:4000/hook" })),
      ),
    );
    expect(allowed.warnings).toEqual([]);
  });

  it("judge a URL given by variable without repeating it", async () => {
    const body = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(webhook({ url_env: "OBSERVERS_SECRET_LOCAL_URL" })),
      ),
    );
    expect(body.warnings).toEqual([
      {
        code: "TARGET_FORBIDDEN",
        path: "actions.0.url_env",
        message: expect.stringContaining("the URL in OBSERVERS_SECRET_LOCAL_URL names a loopback"),
      },
    ]);
    expect(JSON.stringify(body)).not.toContain("secret-token-path");
    expect(JSON.stringify(body)).not.toContain("9999");
  });

  it("name a secret variable the observer may reference but the server does not have", async () => {
    const body = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(
          webhook({
            url: "https://example.com/hook",
            signing_secret_env: "OBSERVERS_SECRET_UNSET",
          }),
        ),
      ),
    );
    expect(body.warnings).toEqual([
      {
        code: "MISSING_SECRET",
        path: "actions.0.signing_secret_env",
        message: expect.stringContaining("OBSERVERS_SECRET_UNSET is not set on this server"),
      },
    ]);
  });

  it("name a URL variable that cannot be sent to: credentials in it, or no URL at all", async () => {
    const body = await saved(
      await admin("POST", "/api/observers", {
        ...observer(webhook({ url_env: "OBSERVERS_SECRET_CRED_URL" })),
        on_dead_letter: [webhook({ url_env: "OBSERVERS_SECRET_NOT_URL" })],
      }),
    );
    expect(body.warnings).toEqual([
      {
        code: "INVALID_URL",
        path: "actions.0.url_env",
        message: expect.stringContaining("OBSERVERS_SECRET_CRED_URL embeds credentials"),
      },
      {
        code: "INVALID_URL",
        path: "on_dead_letter.0.url_env",
        message: expect.stringContaining("is not an absolute http(s) URL"),
      },
    ]);
    expect(JSON.stringify(body)).not.toContain("pa55word");
    expect(JSON.stringify(body)).not.toContain("hooks.example.com");
  });

  it("judge on_dead_letter's actions too, named by their own path", async () => {
    const body = await saved(
      await admin("POST", "/api/observers", {
        ...observer(webhook({ url: "https://example.com/hook" })),
        on_dead_letter: [
          webhook({
            url: "https://example.com/alert",
            signing_secret_env: "OBSERVERS_SECRET_UNSET",
          }),
          webhook({ url: "http://127.0.0.1:9999/alert" }),
        ],
      }),
    );
    expect(body.warnings).toEqual([
      {
        code: "MISSING_SECRET",
        path: "on_dead_letter.0.signing_secret_env",
        message: expect.stringContaining("OBSERVERS_SECRET_UNSET is not set on this server"),
      },
      {
        code: "TARGET_FORBIDDEN",
        path: "on_dead_letter.1.url",
        message: expect.stringContaining("127.0.0.1:9999 is a loopback"),
      },
    ]);
  });

  it("name an entity type no tracked table and no recent change carries", async () => {
    const untracked = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/h" }), "Ordr"),
      ),
    );
    expect(untracked.warnings).toEqual([
      {
        code: "ENTITY_TYPE_UNTRACKED",
        path: "entity_type",
        message: expect.stringContaining('no table is tracked as "Ordr"'),
      },
    ]);
    // A table tracked once, then untracked, captures nothing any more.
    const dropped = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/h" }), "Untracked"),
      ),
    );
    expect(dropped.warnings.map((w) => w.code)).toEqual(["ENTITY_TYPE_UNTRACKED"]);
    // Written to the log by a producer, with no tracked table: it does reach observers.
    const produced = await saved(
      await admin(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/h" }), "Invoice"),
      ),
    );
    expect(produced.warnings).toEqual([]);
  });

  it("name a graphile-worker job action while graphile-worker's schema is missing, and only then", async () => {
    const withJobs = apiClient(
      createObserversApi({
        sql: db.client,
        runtime: stubRuntime(),
        adminToken: ADMIN,
        logger: silentLogger,
        environment: testEnvironment({ env, policy, jobs: createSqlJobQueues(db.client) }),
      }),
      ADMIN,
    );
    const job = { type: "job", queue: "graphile-worker", task: "send_invoice" };
    const before = await saved(await withJobs("POST", "/api/observers", observer(job)));
    expect(before.warnings).toEqual([
      {
        code: "GRAPHILE_WORKER_MISSING",
        path: "actions.0.queue",
        message: expect.stringContaining("graphile_worker.add_job"),
      },
    ]);
    // A builtin job has nothing to do with it.
    const builtin = await saved(
      await withJobs("POST", "/api/observers", observer({ type: "job", task: "send_invoice" })),
    );
    expect(builtin.warnings).toEqual([]);
    await runMigrations({ connectionString: db.url, logger: quiet });
    const after = await saved(await withJobs("POST", "/api/observers", observer(job)));
    expect(after.warnings).toEqual([]);
  });

  it("come back from PATCH too, for the stored actions when none are sent", async () => {
    const created = await saved(
      await admin("POST", "/api/observers", observer(webhook({ url: "http://localhost/hook" }))),
    );
    expect(created.warnings.map((w) => w.path)).toEqual(["actions.0.url"]);
    const patched = await saved(
      await admin("PATCH", `/api/observers/${created.id}`, { entity_type: "Nowhere" }),
      200,
    );
    expect(patched.warnings.map((w) => w.path)).toEqual(["actions.0.url", "entity_type"]);
    const fixed = await saved(
      await admin("PATCH", `/api/observers/${created.id}`, {
        entity_type: "Order",
        actions: [webhook({ url: "https://example.com/hook" })],
      }),
      200,
    );
    expect(fixed.warnings).toEqual([]);
  });

  it("tell a tenant only what its own variables and changes show", async () => {
    const secrets = await saved(
      await tenant7(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/hook", signing_secret_env: "ACME_UNSET" })),
      ),
    );
    expect(secrets.warnings.map((w) => [w.code, w.path])).toEqual([
      ["MISSING_SECRET", "actions.0.signing_secret_env"],
    ]);
    const set = await saved(
      await tenant7(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/hook", signing_secret_env: "ACME_HOOK" })),
      ),
    );
    expect(set.warnings).toEqual([]);
    // Tenant 8's changes are not evidence for tenant 7's observers (they never see them).
    const other = await saved(
      await tenant7(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/h" }), "Tenant8Thing"),
      ),
    );
    expect(other.warnings).toEqual([
      {
        code: "ENTITY_TYPE_UNTRACKED",
        path: "entity_type",
        message: expect.stringContaining("changes of tenant 7"),
      },
    ]);
    const own = await saved(
      await tenant8(
        "POST",
        "/api/observers",
        observer(webhook({ url: "https://example.com/h" }), "Tenant8Thing"),
      ),
    );
    expect(own.warnings).toEqual([]);
  });

  it("are described in the OpenAPI document of both write routes", () => {
    const document = openApiDocument(app) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    const ref = { $ref: "#/components/schemas/ObserverSaved" };
    expect(document.paths["/api/observers"]?.post?.responses["201"]).toMatchObject({
      content: { "application/json": { schema: ref } },
    });
    expect(document.paths["/api/observers/{id}"]?.patch?.responses["200"]).toMatchObject({
      content: { "application/json": { schema: ref } },
    });
    // The observer's own schema, and the warnings beside it (required, so always present).
    expect(document.components.schemas.ObserverSaved).toMatchObject({
      allOf: [
        { $ref: "#/components/schemas/Observer" },
        {
          properties: {
            warnings: { type: "array", items: { $ref: "#/components/schemas/ObserverWarning" } },
          },
          required: ["warnings"],
        },
      ],
    });
    expect(document.components.schemas.ObserverWarning).toBeDefined();
  });
});
