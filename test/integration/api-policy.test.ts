/**
 * The action policy through the real API app (docs/security.md, "Secrets and what tenants may
 * configure"): which `*_env` variables an observer may name, where values from the environment
 * may be sent, and what a tenant-bound key may configure. Refusals are 422 problems whose code,
 * issue path, variable and rule say exactly what to change; `POST /{id}/test` with `send` obeys
 * the same rules for observers written straight into the table, without reading the variable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { testEnvironment } from "../support/actions.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { insertObserver } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-policy-tests";
const DATABASE_URL = "postgres://observers:db-password-never-shown@db.internal:5432/app";
const receiver = useReceiver(() => ({ status: 204 }));
const policy = parseServerConfig({
  OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_",
  OBSERVERS_TENANT_FUNCTIONS: "app.on_order",
  OBSERVERS_TENANT_SENDERS: "alerts@example.com,@acme.example",
  OBSERVERS_ALLOWED_BASE_URLS: "https://mail.partner.example",
}).actionPolicy;
/** Every variable name the server read from its environment, in order. */
const reads: string[] = [];
const env = new Proxy<Record<string, string>>(
  { OBSERVERS_ADMIN_TOKEN: ADMIN, DATABASE_URL, OBSERVERS_SECRET_HOOK: "unused" },
  {
    get(target, name) {
      if (typeof name === "string") reads.push(name);
      return Reflect.get(target, name);
    },
  },
);

let db: TestDatabase;
let admin: ReturnType<typeof apiClient>;
let tenant7: ReturnType<typeof apiClient>;
let tenant8: ReturnType<typeof apiClient>;

beforeAll(async () => {
  db = await createTestDatabase("api_policy");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    environment: testEnvironment({ env, policy }),
  });
  admin = apiClient(app, ADMIN);
  const key = async (name: string, org: string) =>
    (await insertApiKey(db.client, { name, scope: "admin", fk_customer_org: org })).token;
  tenant7 = apiClient(app, await key("t7", "7"));
  tenant8 = apiClient(app, await key("t8", "8"));
});
afterAll(() => db?.drop());

let names = 0;
function observer(action: Record<string, unknown>) {
  return { name: `policy-${++names}`, entity_type: "Order", actions: [action] };
}

const slack = (webhook_url_env: string) => ({ type: "slack", webhook_url_env });
const resend = (extra: Record<string, unknown>) => ({
  type: "email",
  provider: "resend",
  to: "ops@example.com",
  from: "shop@example.com",
  subject: "Order",
  body_template: "{{ id }}",
  ...extra,
});

async function refused(response: Response, code: string) {
  const body = await problem(response, 422);
  expect(body.code).toBe(code);
  return body;
}

describe("secret references", () => {
  it("refuses the server's own variables to every key, naming field, variable and rule", async () => {
    for (const [variable, call] of [
      ["OBSERVERS_ADMIN_TOKEN", admin],
      ["DATABASE_URL", admin],
      ["OBSERVERS_ADMIN_TOKEN", tenant7],
    ] as const) {
      const body = await refused(
        await call("POST", "/api/observers", observer(resend({ api_key_env: variable }))),
        "SECRET_NOT_ALLOWED",
      );
      expect(body.issues).toEqual([
        expect.objectContaining({
          path: "actions.0.api_key_env",
          code: "SECRET_NOT_ALLOWED",
          variable,
          rule: "server_configuration",
        }),
      ]);
      expect(body.detail).toContain(variable);
      expect(JSON.stringify(body)).not.toContain(ADMIN);
      expect(JSON.stringify(body)).not.toContain("db-password-never-shown");
    }
    // Decided by name: no value was read to refuse them.
    expect(reads).toEqual([]);
  });

  it("lets a global key name OBSERVERS_SECRET_* and nothing else it was not given", async () => {
    const open = await admin("POST", "/api/observers", observer(slack("OBSERVERS_SECRET_SLACK")));
    expect(open.status).toBe(201);
    const body = await refused(
      await admin("POST", "/api/observers", observer(slack("SLACK_WEBHOOK_URL"))),
      "SECRET_NOT_ALLOWED",
    );
    expect(body.issues?.[0]).toMatchObject({
      path: "actions.0.webhook_url_env",
      rule: "not_open",
      variable: "SLACK_WEBHOOK_URL",
    });
    expect(body.detail).toContain("OBSERVERS_ACTION_ENV_ALLOW");
  });

  it("keeps a tenant-bound key to its own prefix, and gives unlisted tenants none", async () => {
    expect((await tenant7("POST", "/api/observers", observer(slack("ACME_SLACK")))).status).toBe(
      201,
    );
    const global = await refused(
      await tenant7("POST", "/api/observers", observer(slack("OBSERVERS_SECRET_SLACK"))),
      "SECRET_NOT_ALLOWED",
    );
    expect(global.issues?.[0]).toMatchObject({ rule: "outside_tenant_prefix" });
    expect(global.detail).toContain("ACME_");
    const none = await refused(
      await tenant8("POST", "/api/observers", observer(slack("ACME_SLACK"))),
      "SECRET_NOT_ALLOWED",
    );
    expect(none.issues?.[0]).toMatchObject({
      rule: "tenant_has_no_prefix",
      variable: "ACME_SLACK",
    });
  });

  it("checks a PATCH by the observer's tenant, whoever sends it", async () => {
    const created = await tenant7("POST", "/api/observers", observer(slack("ACME_SLACK")));
    const { id } = (await created.json()) as { id: string };
    // A global key editing tenant 7's observer gets tenant 7's rules: its secrets stay out of reach.
    const body = await refused(
      await admin("PATCH", `/api/observers/${id}`, { actions: [slack("OBSERVERS_SECRET_SLACK")] }),
      "SECRET_NOT_ALLOWED",
    );
    expect(body.issues?.[0]).toMatchObject({ rule: "outside_tenant_prefix" });
    const own = await tenant7("PATCH", `/api/observers/${id}`, {
      actions: [slack("OBSERVERS_ADMIN_TOKEN")],
    });
    expect((await refused(own, "SECRET_NOT_ALLOWED")).issues?.[0]).toMatchObject({
      rule: "server_configuration",
    });
    expect((await tenant7("PATCH", `/api/observers/${id}`, { priority: 5 })).status).toBe(200);
  });
});

describe("base_url", () => {
  it("sends values from the environment only to the provider or an allowed origin", async () => {
    const evil = await refused(
      await admin(
        "POST",
        "/api/observers",
        observer(
          resend({ api_key_env: "OBSERVERS_SECRET_RESEND", base_url: "https://collector.evil" }),
        ),
      ),
      "BASE_URL_NOT_ALLOWED",
    );
    expect(evil.issues?.[0]).toMatchObject({
      path: "actions.0.base_url",
      rule: "base_url_not_allowed",
    });
    expect(evil.detail).toContain("OBSERVERS_ALLOWED_BASE_URLS");
    for (const extra of [
      { api_key_env: "OBSERVERS_SECRET_RESEND" },
      { api_key_env: "OBSERVERS_SECRET_RESEND", base_url: "https://api.resend.com/" },
      { api_key_env: "OBSERVERS_SECRET_RESEND", base_url: "https://mail.partner.example/v1" },
      // A credential the user typed may go wherever the user says.
      { api_key: "re_typed_by_the_user", base_url: "https://collector.evil" },
    ]) {
      expect((await admin("POST", "/api/observers", observer(resend(extra)))).status).toBe(201);
    }
  });
});

describe("what a tenant-bound key may configure", () => {
  it("database: only the operator's functions; a global key keeps any", async () => {
    const body = await refused(
      await tenant7(
        "POST",
        "/api/observers",
        observer({ type: "database", function_name: "pg_catalog.pg_terminate_backend" }),
      ),
      "FUNCTION_NOT_ALLOWED",
    );
    expect(body.issues?.[0]).toMatchObject({
      path: "actions.0.function_name",
      rule: "tenant_function",
    });
    expect(body.detail).toContain("OBSERVERS_TENANT_FUNCTIONS");
    const listed = observer({ type: "database", function_name: "App.On_Order" });
    expect((await tenant7("POST", "/api/observers", listed)).status).toBe(201);
    const any = observer({ type: "database", function_name: "core.anything" });
    expect((await admin("POST", "/api/observers", any)).status).toBe(201);
  });

  it("SMTP email: only the operator's senders; HTTP providers and global keys are not limited", async () => {
    const smtp = (from: string) => ({ ...resend({ from }), provider: "smtp" });
    const body = await refused(
      await tenant7("POST", "/api/observers", observer(smtp("ceo@bank.example"))),
      "SENDER_NOT_ALLOWED",
    );
    expect(body.issues?.[0]).toMatchObject({ path: "actions.0.from", rule: "tenant_sender" });
    for (const from of ["alerts@example.com", "Billing <billing@ACME.example>"]) {
      expect((await tenant7("POST", "/api/observers", observer(smtp(from)))).status).toBe(201);
    }
    const http = observer(resend({ from: "ceo@bank.example", api_key: "re_tenant_own" }));
    expect((await tenant7("POST", "/api/observers", http)).status).toBe(201);
    expect((await admin("POST", "/api/observers", observer(smtp("ceo@bank.example")))).status).toBe(
      201,
    );
  });
});

describe("POST /{id}/test with send", () => {
  it("refuses a stored observer's server variables without reading them or sending", async () => {
    reads.length = 0;
    // Written straight into the table, as an operator (or an older version) could have.
    const id = await insertObserver(db.sql, {
      name: "stored-before-the-policy",
      fk_customer_org: 7,
      actions: [
        {
          type: "webhook",
          url: `${receiver.url}/hook`,
          signing_secret_env: "OBSERVERS_ADMIN_TOKEN",
        },
        resend({ api_key_env: "DATABASE_URL", base_url: receiver.url }),
      ],
    });
    const response = await tenant7("POST", `/api/observers/${id}/test`, {
      event: {
        object_type: "Order",
        modification_type: "INSERT",
        object_data: {},
        fk_customer_org: 7,
      },
      send: true,
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    const result = JSON.parse(text) as { fired: boolean; sent: { error_code: string }[] };
    expect(result.fired).toBe(true);
    expect(result.sent.map((outcome) => outcome.error_code)).toEqual([
      "SECRET_NOT_ALLOWED",
      "SECRET_NOT_ALLOWED",
    ]);
    expect(text).toContain("OBSERVERS_ADMIN_TOKEN");
    expect(text).not.toContain(ADMIN);
    expect(text).not.toContain("db-password-never-shown");
    expect(
      reads.filter((name) => name === "OBSERVERS_ADMIN_TOKEN" || name === "DATABASE_URL"),
    ).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });
});
