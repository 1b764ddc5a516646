/**
 * What an observer's actions may reference and configure (docs/security.md, "Secrets and what
 * tenants may configure"). One set of rules, checked twice: when an observer is written through
 * the API (a 422 naming the field, the variable and the rule) and before every attempt (a
 * permanent failure with the same code), so an observer stored before a rule existed, or written
 * straight into the table, never reads what it may not.
 */
import { SERVER_ENV_VARS } from "../config/env-vars.ts";
import type { ActionDefinition } from "./types.ts";

/** The operator's rules, parsed from the `OBSERVERS_ACTION_*` and `OBSERVERS_TENANT_*` variables. */
export interface ActionPolicy {
  /** `OBSERVERS_ACTION_ENV_PREFIX`: variables under it are open to global observers; null: none. */
  envPrefix: string | null;
  /** `OBSERVERS_ACTION_ENV_ALLOW`: further variables open to global observers, by exact name. */
  envAllow: ReadonlySet<string>;
  /** `OBSERVERS_TENANT_ENV_PREFIXES`: the only variables a tenant's observers may reference. */
  tenantEnvPrefixes: ReadonlyMap<string, string>;
  /** `OBSERVERS_ALLOWED_BASE_URLS`: origins a `base_url` may name when a value comes from the environment. */
  allowedBaseUrls: ReadonlySet<string>;
  /** `OBSERVERS_TENANT_FUNCTIONS`: the functions a tenant's `database` actions may call (lower case). */
  tenantFunctions: ReadonlySet<string>;
  /** `OBSERVERS_TENANT_SENDERS`: From addresses (lower case) a tenant's SMTP email may use... */
  tenantSenderAddresses: ReadonlySet<string>;
  /** ...or any address of these domains (lower case). */
  tenantSenderDomains: ReadonlySet<string>;
  /** `OBSERVERS_TENANT_NAMESPACE`: prefixed to a tenant's cache keys and shared-queue job tasks; `{tenant}` is its id. */
  tenantNamespace: string;
}

export const DEFAULT_ENV_PREFIX = "OBSERVERS_SECRET_";
export const DEFAULT_TENANT_NAMESPACE = "tenant:{tenant}:";

/** The rules when the operator sets nothing: only `OBSERVERS_SECRET_*`, and nothing for tenants. */
export const DEFAULT_ACTION_POLICY: ActionPolicy = {
  envPrefix: DEFAULT_ENV_PREFIX,
  envAllow: new Set(),
  tenantEnvPrefixes: new Map(),
  allowedBaseUrls: new Set(),
  tenantFunctions: new Set(),
  tenantSenderAddresses: new Set(),
  tenantSenderDomains: new Set(),
  tenantNamespace: DEFAULT_TENANT_NAMESPACE,
};

/** The stable codes of a refusal (API `code`, and the attempt's `error_code`). */
export type PolicyCode =
  | "SECRET_NOT_ALLOWED"
  | "BASE_URL_NOT_ALLOWED"
  | "FUNCTION_NOT_ALLOWED"
  | "SENDER_NOT_ALLOWED";

/** Which rule refused, as a stable word (the API's `rule`). */
export type PolicyRule =
  | "server_configuration"
  | "not_open"
  | "tenant_has_no_prefix"
  | "outside_tenant_prefix"
  | "base_url_not_allowed"
  | "tenant_function"
  | "tenant_sender";

/** One refusal, naming the action's field (`api_key_env`), and the variable when there is one. */
export interface PolicyIssue {
  path: string;
  code: PolicyCode;
  rule: PolicyRule;
  message: string;
  variable?: string;
}

/** For rules that differ for a tenant's observers: the tenant and the operator's rules. */
export interface TenantPolicyScope {
  tenant: string;
  policy: ActionPolicy;
}

/**
 * Variables the server or a Worker reads for itself, beyond `SERVER_ENV_VARS`: Upstash's REST
 * credentials and the Hyperdrive binding's name.
 */
const OTHER_SERVER_VARIABLES = new Set([
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "HYPERDRIVE",
]);
const SERVER_VARIABLES = new Set<string>(SERVER_ENV_VARS.map((variable) => variable.name));
/** libpq's variables (`PGPASSWORD`, `PGHOST`...): database drivers read them too. */
const LIBPQ_VARIABLE = /^PG[A-Z]+$/;

/**
 * Whether `name` is part of the server's own configuration, which no action may ever reference,
 * whatever the operator opens: every variable the server reads, every `OBSERVERS_*` name (this
 * project's namespace, present and future) except `OBSERVERS_SECRET_*`, and libpq's `PG*`.
 * Compared in upper case: Windows does not tell `database_url` from `DATABASE_URL`.
 */
export function isServerVariable(name: string): boolean {
  const upper = name.toUpperCase();
  return (
    SERVER_VARIABLES.has(upper) ||
    OTHER_SERVER_VARIABLES.has(upper) ||
    LIBPQ_VARIABLE.test(upper) ||
    (upper.startsWith("OBSERVERS_") && !upper.startsWith(DEFAULT_ENV_PREFIX))
  );
}

/**
 * Why an observer of `tenant` (null: a global observer) may not reference the variable `name`,
 * or null when it may. The value is never read to decide.
 */
export function secretRefusal(
  policy: ActionPolicy,
  name: string,
  tenant: string | null,
): { rule: PolicyRule; message: string } | null {
  if (isServerVariable(name)) {
    return {
      rule: "server_configuration",
      message: `${name} is part of the server's own configuration: no action may reference it`,
    };
  }
  if (tenant !== null) {
    const prefix = policy.tenantEnvPrefixes.get(tenant);
    if (prefix === undefined) {
      return {
        rule: "tenant_has_no_prefix",
        message: `observers of tenant ${tenant} cannot reference environment variables: the operator has given this tenant no prefix (OBSERVERS_TENANT_ENV_PREFIXES); give the value literally`,
      };
    }
    if (!name.startsWith(prefix)) {
      return {
        rule: "outside_tenant_prefix",
        message: `observers of tenant ${tenant} may reference only variables starting with ${prefix} (OBSERVERS_TENANT_ENV_PREFIXES), not ${name}`,
      };
    }
    return null;
  }
  if (policy.envAllow.has(name)) return null;
  if (policy.envPrefix !== null && name.startsWith(policy.envPrefix)) return null;
  const open =
    policy.envPrefix === null
      ? "list it in OBSERVERS_ACTION_ENV_ALLOW"
      : `name it with the prefix ${policy.envPrefix} (OBSERVERS_ACTION_ENV_PREFIX) or list it in OBSERVERS_ACTION_ENV_ALLOW`;
  return {
    rule: "not_open",
    message: `${name} is not open to actions: the operator must ${open}`,
  };
}

/** Whether any observer at all may reference `name` (for reads made without a tenant at hand). */
export function mayAnyObserverReference(policy: ActionPolicy, name: string): boolean {
  if (secretRefusal(policy, name, null) === null) return true;
  if (isServerVariable(name)) return false;
  for (const prefix of policy.tenantEnvPrefixes.values()) if (name.startsWith(prefix)) return true;
  return false;
}

/** Every `*_env` field of an action config and the variable it names. */
export function envReferences(config: unknown): { field: string; name: string }[] {
  if (typeof config !== "object" || config === null) return [];
  return Object.entries(config)
    .filter((entry): entry is [string, string] => entry[0].endsWith("_env"))
    .filter(([, name]) => typeof name === "string")
    .map(([field, name]) => ({ field, name }));
}

function originOf(url: string | undefined): string | undefined {
  return url !== undefined && URL.canParse(url) ? new URL(url).origin : undefined;
}

/**
 * Everything the policy refuses in one validated action config of an observer of `tenant`:
 * references to variables not open to it, a `base_url` that would receive values from the
 * environment without the operator's leave, and the action's own tenant rules.
 */
export function actionPolicyIssues(
  definition: ActionDefinition,
  config: unknown,
  tenant: string | null,
  policy: ActionPolicy,
): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const references = envReferences(config);
  for (const { field, name } of references) {
    const refusal = secretRefusal(policy, name, tenant);
    if (refusal)
      issues.push({ path: field, code: "SECRET_NOT_ALLOWED", variable: name, ...refusal });
  }
  const baseUrl = (config as { base_url?: unknown }).base_url;
  if (references.length > 0 && typeof baseUrl === "string") {
    const origin = originOf(baseUrl);
    const providerOrigin = originOf(definition.defaultBaseUrl?.(config));
    if (
      origin === undefined ||
      (origin !== providerOrigin && !policy.allowedBaseUrls.has(origin))
    ) {
      const fields = references.map((reference) => reference.field).join(", ");
      const provider =
        providerOrigin === undefined ? "" : `the provider's own API (${providerOrigin}) or `;
      issues.push({
        path: "base_url",
        code: "BASE_URL_NOT_ALLOWED",
        rule: "base_url_not_allowed",
        message: `${origin ?? "this base_url"} may not receive values from the environment (${fields}): they go only to ${provider}an origin listed in OBSERVERS_ALLOWED_BASE_URLS; give the credential literally to use your own server`,
      });
    }
  }
  if (tenant !== null && definition.policyIssues) {
    issues.push(...definition.policyIssues(config, { tenant, policy }));
  }
  return issues;
}

/** `OBSERVERS_TENANT_NAMESPACE` for one tenant: what its cache keys and shared-queue job tasks start with. */
export function tenantNamespace(policy: ActionPolicy, tenant: string): string {
  return policy.tenantNamespace.replaceAll("{tenant}", tenant);
}

/** Whether a tenant's SMTP email may go out from `address`. */
export function tenantSenderAllowed(policy: ActionPolicy, address: string): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf("@") + 1);
  return policy.tenantSenderAddresses.has(lower) || policy.tenantSenderDomains.has(domain);
}

/** The refusal of a tenant's SMTP From address. */
export function senderIssue(address: string, tenant: string): PolicyIssue {
  return {
    path: "from",
    code: "SENDER_NOT_ALLOWED",
    rule: "tenant_sender",
    message: `observers of tenant ${tenant} may send SMTP email only from the addresses and domains in OBSERVERS_TENANT_SENDERS, not ${address}`,
  };
}
