/**
 * The action policy's rules (src/actions/policy.ts), its configuration (src/config/action-policy.ts)
 * and where actions apply it: secrets refused before they are read, values from the environment
 * kept to the provider's own API or an allowed origin, and a tenant's database functions, SMTP
 * senders, cache keys and job queues.
 */
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { createServerServices } from "../../adapters/hosts/server/services.ts";
import { workersConfig } from "../../adapters/hosts/workers/config.ts";
import { workersEnvironment } from "../../adapters/hosts/workers/services.ts";
import { databaseAction } from "../../src/actions/database.ts";
import { emailAction } from "../../src/actions/email.ts";
import { jobAction } from "../../src/actions/job.ts";
import {
  type ActionPolicy,
  actionPolicyIssues,
  DEFAULT_ACTION_POLICY,
  isServerVariable,
  secretRefusal,
} from "../../src/actions/policy.ts";
import { pushAction } from "../../src/actions/push.ts";
import { searchAction } from "../../src/actions/search.ts";
import { resolveSecret } from "../../src/actions/secrets.ts";
import { smsAction } from "../../src/actions/sms.ts";
import type { ActionDefinition } from "../../src/actions/types.ts";
import { webhookAction } from "../../src/actions/webhook.ts";
import { SERVER_ENV_VARS } from "../../src/config/env-vars.ts";
import { parseServerConfig } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";
import { createExecutor } from "../../src/executor/executor.ts";
import type { EmailMessage, EmailTransport } from "../../src/ports/email.ts";
import type { JobQueue, JobRequest } from "../../src/ports/jobs.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { actionFailure, runAction, testEnvironment, testObserver } from "../support/actions.ts";
import { insert } from "../support/events.ts";

/** An environment whose every read is recorded, and whose refused names throw if read. */
function watchedEnv(values: Record<string, string>, forbidden: readonly string[] = []) {
  const reads: string[] = [];
  const env = new Proxy<Record<string, string>>(values, {
    get(target, name) {
      if (typeof name !== "string") return undefined;
      reads.push(name);
      if (forbidden.includes(name)) throw new Error(`${name} was read`);
      return Reflect.get(target, name);
    },
  });
  return { env, reads };
}

function policyOf(vars: Record<string, string>): ActionPolicy {
  return parseServerConfig(vars).actionPolicy;
}

function configIssues(vars: Record<string, string>): { path: string; message: string }[] {
  try {
    parseServerConfig(vars);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  return [];
}

describe("the server's own variables", () => {
  it("are refused to every observer, whatever the operator opens", () => {
    // Even a policy built by hand that lists them (the parser refuses to) cannot open them.
    const careless: ActionPolicy = {
      ...DEFAULT_ACTION_POLICY,
      envPrefix: "D",
      envAllow: new Set(SERVER_ENV_VARS.map((variable) => variable.name)),
      tenantEnvPrefixes: new Map([["7", "O"]]),
    };
    for (const { name } of SERVER_ENV_VARS) {
      expect(isServerVariable(name), name).toBe(true);
      expect(secretRefusal(careless, name, null)?.rule, name).toBe("server_configuration");
      expect(secretRefusal(careless, name, "7")?.rule, name).toBe("server_configuration");
    }
    for (const name of [
      "database_url",
      "OBSERVERS_TICK_BUDGET_MS",
      "OBSERVERS_SOMETHING_ADDED_LATER",
      "UPSTASH_REDIS_REST_TOKEN",
      "PGPASSWORD",
      "HYPERDRIVE",
    ]) {
      expect(isServerVariable(name), name).toBe(true);
    }
    for (const name of ["OBSERVERS_SECRET_SLACK", "SLACK_WEBHOOK_URL", "PGX_KEY"]) {
      expect(isServerVariable(name), name).toBe(false);
    }
  });

  it("cannot be listed: naming one in OBSERVERS_ACTION_ENV_ALLOW stops the server", () => {
    expect(
      configIssues({ OBSERVERS_ACTION_ENV_ALLOW: "SLACK_URL, OBSERVERS_ADMIN_TOKEN,DATABASE_URL" }),
    ).toEqual([
      {
        path: "OBSERVERS_ACTION_ENV_ALLOW",
        message:
          "OBSERVERS_ADMIN_TOKEN is part of the server's own configuration: actions can never reference it",
      },
      {
        path: "OBSERVERS_ACTION_ENV_ALLOW",
        message:
          "DATABASE_URL is part of the server's own configuration: actions can never reference it",
      },
    ]);
  });
});

describe("which variables an observer may name", () => {
  const policy = policyOf({
    OBSERVERS_ACTION_ENV_ALLOW: "SLACK_WEBHOOK_URL",
    OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_, 0042=GLOBEX_",
  });

  it("global observers: the prefix (OBSERVERS_SECRET_ by default) and the allow-list", () => {
    expect(secretRefusal(policy, "OBSERVERS_SECRET_HOOK", null)).toBeNull();
    expect(secretRefusal(policy, "SLACK_WEBHOOK_URL", null)).toBeNull();
    expect(secretRefusal(policy, "HOME", null)).toMatchObject({ rule: "not_open" });
    expect(secretRefusal(policy, "ACME_HOOK", null)).toMatchObject({ rule: "not_open" });
    const none = policyOf({ OBSERVERS_ACTION_ENV_PREFIX: "none" });
    expect(secretRefusal(none, "OBSERVERS_SECRET_HOOK", null)?.message).toContain(
      "list it in OBSERVERS_ACTION_ENV_ALLOW",
    );
    const custom = policyOf({ OBSERVERS_ACTION_ENV_PREFIX: "APP_SECRET_" });
    expect(secretRefusal(custom, "APP_SECRET_HOOK", null)).toBeNull();
    expect(secretRefusal(custom, "OBSERVERS_SECRET_HOOK", null)).toMatchObject({
      rule: "not_open",
    });
  });

  it("a tenant's observers: its own prefix only, never the global secrets or the list", () => {
    expect(secretRefusal(policy, "ACME_HOOK", "7")).toBeNull();
    expect(secretRefusal(policy, "GLOBEX_HOOK", "42")).toBeNull();
    expect(secretRefusal(policy, "GLOBEX_HOOK", "7")).toMatchObject({
      rule: "outside_tenant_prefix",
    });
    expect(secretRefusal(policy, "OBSERVERS_SECRET_HOOK", "7")).toMatchObject({
      rule: "outside_tenant_prefix",
    });
    expect(secretRefusal(policy, "SLACK_WEBHOOK_URL", "7")).toMatchObject({
      rule: "outside_tenant_prefix",
    });
    expect(secretRefusal(policy, "ACME_HOOK", "8")).toMatchObject({
      rule: "tenant_has_no_prefix",
    });
    expect(secretRefusal(DEFAULT_ACTION_POLICY, "OBSERVERS_SECRET_HOOK", "8")).toMatchObject({
      rule: "tenant_has_no_prefix",
    });
  });

  it("refuses tenant prefixes that overlap, open the global secrets or the server's namespace", () => {
    expect(configIssues({ OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_,8=ACME_EU_" })).toEqual([
      {
        path: "OBSERVERS_TENANT_ENV_PREFIXES",
        message:
          "the prefixes of tenants 7 (ACME_) and 8 (ACME_EU_) overlap: one could read the other's secrets",
      },
    ]);
    expect(configIssues({ OBSERVERS_TENANT_ENV_PREFIXES: "7=OBSERVERS_SECRET_" })).toHaveLength(1);
    expect(configIssues({ OBSERVERS_TENANT_ENV_PREFIXES: "7=OBSERVERS_T7_" })).toHaveLength(1);
    expect(configIssues({ OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_,7=OTHER_" })).toHaveLength(1);
    for (const bad of ["7", "x=ACME_", "7=ACME", "7=_", "7=A_=B_"]) {
      expect(configIssues({ OBSERVERS_TENANT_ENV_PREFIXES: bad }), bad).toHaveLength(1);
    }
    expect(configIssues({ OBSERVERS_ACTION_ENV_PREFIX: "_" })).toHaveLength(1);
  });
});

describe("resolveSecret", () => {
  it("refuses before reading the variable, and reads an allowed one", () => {
    const { env, reads } = watchedEnv(
      { OBSERVERS_ADMIN_TOKEN: "t", ACME_KEY: "k", OBSERVERS_SECRET_KEY: "g" },
      ["OBSERVERS_ADMIN_TOKEN"],
    );
    const policy = policyOf({ OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_" });
    const environment = testEnvironment({ env, policy });
    for (const tenant of [null, "7"]) {
      expect(() =>
        resolveSecret(undefined, "OBSERVERS_ADMIN_TOKEN", { environment, tenant }, "api_key"),
      ).toThrow(expect.objectContaining({ code: "SECRET_NOT_ALLOWED", kind: "permanent" }));
    }
    expect(() =>
      resolveSecret(undefined, "OBSERVERS_SECRET_KEY", { environment, tenant: "7" }, "api_key"),
    ).toThrow(expect.objectContaining({ code: "SECRET_NOT_ALLOWED" }));
    expect(resolveSecret(undefined, "ACME_KEY", { environment, tenant: "7" }, "k")).toBe("k");
    expect(
      resolveSecret(undefined, "OBSERVERS_SECRET_KEY", { environment, tenant: null }, "k"),
    ).toBe("g");
    expect(reads).toEqual(["ACME_KEY", "OBSERVERS_SECRET_KEY"]);
  });
});

describe("base_url", () => {
  const policy = policyOf({ OBSERVERS_ALLOWED_BASE_URLS: "https://search.internal:7700" });
  function issues(definition: ActionDefinition, config: Record<string, unknown>) {
    const parsed = v.parse(definition.schema as v.GenericSchema<unknown, unknown>, config);
    return actionPolicyIssues(definition, parsed, null, policy).map((issue) => issue.code);
  }
  const email = {
    type: "email",
    provider: "postmark",
    to: "a@example.com",
    from: "b@example.com",
    subject: "s",
    body_template: "b",
  };
  const sms = {
    type: "sms",
    to: "+14155550100",
    from: "+14155550101",
    message_template: "m",
    account_sid: `AC${"0".repeat(32)}`,
  };
  const search = { type: "search", provider: "meilisearch", index: "orders" };
  const fcm = { type: "push", provider: "fcm", topic: "t", body_template: "b", project_id: "p" };

  it("takes values from the environment only to the provider or an allowed origin", () => {
    const refused = ["BASE_URL_NOT_ALLOWED"];
    const evil = { base_url: "https://collector.evil" };
    const key = { api_key_env: "OBSERVERS_SECRET_KEY" };
    expect(issues(emailAction, { ...email, ...key })).toEqual([]);
    expect(issues(emailAction, { ...email, ...key, ...evil })).toEqual(refused);
    expect(issues(emailAction, { ...email, api_key: "literal", ...evil })).toEqual([]);
    // Not only credentials: the From address read from the environment goes there too.
    const { from: _from, ...noFrom } = email;
    const fromEnv = { ...noFrom, api_key: "literal", from_env: "OBSERVERS_SECRET_FROM", ...evil };
    expect(issues(emailAction, fromEnv)).toEqual(refused);
    const token = { auth_token_env: "OBSERVERS_SECRET_TWILIO" };
    expect(issues(smsAction, { ...sms, ...token })).toEqual([]);
    expect(issues(smsAction, { ...sms, ...token, ...evil })).toEqual(refused);
    expect(issues(smsAction, { ...sms, auth_token: "typed", ...evil })).toEqual([]);
    // Search has no provider default: its origin must be listed.
    expect(issues(searchAction, { ...search, ...key, base_url: "https://meili.example" })).toEqual(
      refused,
    );
    expect(
      issues(searchAction, { ...search, ...key, base_url: "https://search.internal:7700/x" }),
    ).toEqual([]);
    expect(issues(searchAction, { ...search, api_key: "typed", base_url: "https://m.ex" })).toEqual(
      [],
    );
    const account = { service_account_env: "OBSERVERS_SECRET_FCM" };
    expect(issues(pushAction, { ...fcm, ...account })).toEqual([]);
    expect(issues(pushAction, { ...fcm, ...account, ...evil })).toEqual(refused);
  });

  it("accepts only bare origins in OBSERVERS_ALLOWED_BASE_URLS", () => {
    for (const bad of ["https://x.example/path", "ftp://x.example", "https://u:p@x.example", "x"]) {
      expect(configIssues({ OBSERVERS_ALLOWED_BASE_URLS: bad }), bad).toHaveLength(1);
    }
    expect(
      JSON.stringify(configIssues({ OBSERVERS_ALLOWED_BASE_URLS: "https://u:pw@x.example" })),
    ).not.toContain("pw");
  });
});

describe("what a tenant's actions may do", () => {
  const policy = policyOf({
    OBSERVERS_TENANT_FUNCTIONS: "app.On_Order, notify",
    OBSERVERS_TENANT_SENDERS: "alerts@example.com,@Acme.example",
    OBSERVERS_TENANT_NAMESPACE: "t{tenant}:",
  });

  it("database: only listed functions, compared as PostgreSQL folds names", () => {
    const check = (function_name: string, tenant: string | null) =>
      actionPolicyIssues(databaseAction, { type: "database", function_name }, tenant, policy).map(
        (issue) => issue.code,
      );
    expect(check("APP.on_order", "7")).toEqual([]);
    expect(check("notify", "7")).toEqual([]);
    expect(check("public.notify", "7")).toEqual(["FUNCTION_NOT_ALLOWED"]);
    expect(check("pg_terminate_backend", "7")).toEqual(["FUNCTION_NOT_ALLOWED"]);
    expect(check("pg_terminate_backend", null)).toEqual([]);
  });

  it("SMTP email: only listed senders, the From from the environment checked when it is read", async () => {
    const sent: EmailMessage[] = [];
    const email: EmailTransport = {
      async send(message) {
        sent.push(message);
        return { messageId: "<1@x>", response: "250 ok" };
      },
    };
    const config = {
      type: "email",
      from_env: "T7_FROM",
      to: "ops@example.com",
      subject: "s",
      body_template: "b",
    };
    const tenantPolicy = { ...policy, tenantEnvPrefixes: new Map([["7", "T7_"]]) };
    const run = (from: string, tenant: string | null) =>
      runAction(emailAction, config, insert({ id: 1 }), {
        tenant,
        environment: testEnvironment({ email, env: { T7_FROM: from }, policy: tenantPolicy }),
      });
    const failure = await actionFailure(run("ceo@bank.example", "7"));
    expect(failure).toMatchObject({ kind: "permanent", code: "SENDER_NOT_ALLOWED" });
    expect(failure.message).toContain("OBSERVERS_TENANT_SENDERS");
    await run("Billing <billing@acme.EXAMPLE>", "7");
    await run("alerts@example.com", "7");
    expect(sent.map((message) => message.from)).toEqual([
      "Billing <billing@acme.EXAMPLE>",
      "alerts@example.com",
    ]);
  });

  it("job: a tenant's graphile-worker tasks are under its namespace; builtin jobs carry the tenant", async () => {
    const jobs: JobRequest[] = [];
    const queue: JobQueue = {
      enqueue: async (job) => {
        jobs.push(job);
        return { id: `job-${jobs.length}` };
      },
    };
    const environment = testEnvironment({
      jobs: { builtin: queue, "graphile-worker": queue },
      policy,
    });
    const config = { type: "job", queue: "graphile-worker", task: "invoice" };
    const result = await runAction(jobAction, config, insert({ id: 1 }), {
      environment,
      tenant: "7",
    });
    expect(result.message).toBe("enqueued job job-1 (graphile-worker, task t7:invoice)");
    await runAction(jobAction, config, insert({ id: 1 }), { environment });
    await runAction(jobAction, { type: "job", task: "invoice" }, insert({ id: 1 }), {
      environment,
      tenant: "7",
    });
    expect(jobs.map((job) => [job.task, job.tenant])).toEqual([
      ["t7:invoice", "7"],
      ["invoice", null],
      ["invoice", "7"],
    ]);
  });

  it("refuses namespaces that would let one tenant's pattern reach another's keys", () => {
    for (const bad of ["tenant:", "t{tenant}", "t{tenant}5", "t{tenant}*", "{tenant}:{tenant}:"]) {
      expect(configIssues({ OBSERVERS_TENANT_NAMESPACE: bad }), bad).toHaveLength(1);
    }
  });
});

describe("the executor", () => {
  it("fails a refused delivery permanently before destination() or run() read anything", async () => {
    const { env, reads } = watchedEnv({ DATABASE_URL: "postgres://u:pw@h/db" }, ["DATABASE_URL"]);
    const executor = createExecutor({
      registry: { get: (type) => (type === "webhook" ? webhookAction : undefined) },
      environment: testEnvironment({ env }),
    });
    const outcome = await executor.execute({
      id: "d-1",
      event: insert({ id: 1 }),
      observer: { ...testObserver, tenant: null },
      action: { type: "webhook", url_env: "DATABASE_URL" },
      attempt: 1,
    });
    expect(outcome).toMatchObject({
      status: "failed",
      disposition: "dead_letter",
      errorCode: "SECRET_NOT_ALLOWED",
    });
    expect(outcome.errorMessage).toContain("url_env: DATABASE_URL is part of the server's own");
    expect(reads).toEqual([]);
  });
});

describe("every runtime's environment", () => {
  it("carries the policy its variables describe (Bun/Deno server, Workers tick)", () => {
    const vars = { OBSERVERS_TENANT_ENV_PREFIXES: "7=ACME_", OBSERVERS_ACTION_ENV_PREFIX: "APP_" };
    const config = parseServerConfig(vars);
    const sql = {
      query: async () => [],
      transaction: async () => undefined as never,
      close: async () => {},
    };
    const server = createServerServices(config, vars, sql, silentLogger).environment;
    const worker = workersEnvironment({
      config: workersConfig(vars),
      vars,
      logger: silentLogger,
      fetch: globalThis.fetch,
    });
    for (const environment of [server, worker]) {
      expect(environment.policy.envPrefix).toBe("APP_");
      expect(environment.policy.tenantEnvPrefixes).toEqual(new Map([["7", "ACME_"]]));
    }
  });
});
