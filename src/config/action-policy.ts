/**
 * Reads the action policy (src/actions/policy.ts) from the server's variables. Every mistake is
 * named, and nothing is loosened by accident: a list naming the server's own configuration, two
 * tenants whose prefixes overlap, or a tenant prefix that would open the global secrets are
 * refused at startup rather than half-applied.
 */
import {
  type ActionPolicy,
  DEFAULT_ACTION_POLICY,
  DEFAULT_ENV_PREFIX,
  isServerVariable,
} from "../actions/policy.ts";
import type { ConfigIssue } from "../errors.ts";

/** The raw values, as the environment gives them (unset: undefined). */
export interface ActionPolicyVars {
  OBSERVERS_ACTION_ENV_PREFIX?: string | undefined;
  OBSERVERS_ACTION_ENV_ALLOW?: string | undefined;
  OBSERVERS_TENANT_ENV_PREFIXES?: string | undefined;
  OBSERVERS_ALLOWED_BASE_URLS?: string | undefined;
  OBSERVERS_TENANT_FUNCTIONS?: string | undefined;
  OBSERVERS_TENANT_SENDERS?: string | undefined;
  OBSERVERS_TENANT_NAMESPACE?: string | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A prefix starts with a letter and ends with `_`, so it cannot open every variable at once. */
const PREFIX = /^[A-Za-z][A-Za-z0-9_]*_$/;
const TENANT_ID = /^-?\d{1,19}$/;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const ADDRESS = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

/** Comma- (or whitespace-) separated items, empty ones dropped. */
function items(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function envPrefix(raw: string | undefined, issues: ConfigIssue[]): string | null {
  const value = raw?.trim();
  if (!value) return DEFAULT_ENV_PREFIX;
  if (value.toLowerCase() === "none") return null;
  if (!PREFIX.test(value)) {
    issues.push({
      path: "OBSERVERS_ACTION_ENV_PREFIX",
      message: `must start with a letter, hold only letters, digits and '_', and end with '_' (or be "none"), got ${value}`,
    });
    return DEFAULT_ENV_PREFIX;
  }
  return value;
}

function envAllow(raw: string | undefined, issues: ConfigIssue[]): Set<string> {
  const names = new Set<string>();
  for (const name of items(raw)) {
    if (!ENV_NAME.test(name)) {
      issues.push({
        path: "OBSERVERS_ACTION_ENV_ALLOW",
        message: `${name} is not an environment variable name`,
      });
    } else if (isServerVariable(name)) {
      issues.push({
        path: "OBSERVERS_ACTION_ENV_ALLOW",
        message: `${name} is part of the server's own configuration: actions can never reference it`,
      });
    } else names.add(name);
  }
  return names;
}

function tenantPrefixes(
  raw: string | undefined,
  globalPrefix: string | null,
  issues: ConfigIssue[],
): Map<string, string> {
  const path = "OBSERVERS_TENANT_ENV_PREFIXES";
  const prefixes = new Map<string, string>();
  for (const item of items(raw)) {
    const [tenant = "", prefix = "", ...rest] = item.split("=");
    if (rest.length > 0 || !TENANT_ID.test(tenant) || !PREFIX.test(prefix)) {
      issues.push({
        path,
        message: `${item} is not tenant=PREFIX_ (a tenant id, and a prefix that starts with a letter and ends with '_')`,
      });
      continue;
    }
    const id = BigInt(tenant).toString();
    if (prefixes.has(id)) {
      issues.push({ path, message: `tenant ${id} is given twice` });
      continue;
    }
    if (isServerVariable(`${prefix}X`)) {
      issues.push({
        path,
        message: `tenant ${id}'s prefix ${prefix} lies in the server's own namespace: nothing under it can ever be referenced`,
      });
      continue;
    }
    if (globalPrefix?.startsWith(prefix)) {
      issues.push({
        path,
        message: `tenant ${id}'s prefix ${prefix} would open every global secret (${globalPrefix}*)`,
      });
      continue;
    }
    for (const [other, otherPrefix] of prefixes) {
      if (otherPrefix.startsWith(prefix) || prefix.startsWith(otherPrefix)) {
        issues.push({
          path,
          message: `the prefixes of tenants ${other} (${otherPrefix}) and ${id} (${prefix}) overlap: one could read the other's secrets`,
        });
      }
    }
    prefixes.set(id, prefix);
  }
  return prefixes;
}

function origins(raw: string | undefined, issues: ConfigIssue[]): Set<string> {
  const allowed = new Set<string>();
  for (const item of items(raw)) {
    const url = URL.canParse(item) ? new URL(item) : null;
    if (
      url === null ||
      (url.protocol !== "https:" && url.protocol !== "http:") ||
      url.username !== "" ||
      url.password !== "" ||
      url.pathname !== "/" ||
      url.search !== "" ||
      url.hash !== ""
    ) {
      issues.push({
        path: "OBSERVERS_ALLOWED_BASE_URLS",
        message: `${url === null ? "an entry" : url.origin} must be an origin such as https://search.example.com:7700 (no credentials or path)`,
      });
    } else allowed.add(url.origin);
  }
  return allowed;
}

function functions(raw: string | undefined, issues: ConfigIssue[]): Set<string> {
  const names = new Set<string>();
  for (const name of items(raw)) {
    if (FUNCTION_NAME.test(name)) names.add(name.toLowerCase());
    else {
      issues.push({
        path: "OBSERVERS_TENANT_FUNCTIONS",
        message: `${name} is not a function name (name or schema.name)`,
      });
    }
  }
  return names;
}

function senders(raw: string | undefined, issues: ConfigIssue[]) {
  const addresses = new Set<string>();
  const domains = new Set<string>();
  for (const item of items(raw)) {
    const lower = item.toLowerCase();
    if (lower.startsWith("@") && DOMAIN.test(lower.slice(1))) domains.add(lower.slice(1));
    else if (ADDRESS.test(lower)) addresses.add(lower);
    else {
      issues.push({
        path: "OBSERVERS_TENANT_SENDERS",
        message: `${item} is neither an address (alerts@example.com) nor a domain (@example.com)`,
      });
    }
  }
  return { addresses, domains };
}

function namespace(raw: string | undefined, issues: ConfigIssue[]): string {
  const value = raw?.trim();
  if (!value) return DEFAULT_ACTION_POLICY.tenantNamespace;
  const at = value.indexOf("{tenant}");
  const after = value[at + "{tenant}".length];
  // A digit (or nothing) after the id would let tenant 4's `*` reach tenant 42's keys.
  if (
    at < 0 ||
    value.indexOf("{tenant}", at + 1) >= 0 ||
    after === undefined ||
    /[0-9*?[\]\\]/.test(after) ||
    /[\p{Cc}\s]/u.test(value) ||
    value.length > 200
  ) {
    issues.push({
      path: "OBSERVERS_TENANT_NAMESPACE",
      message: `must hold {tenant} once, followed by a separator that is not a digit (like tenant:{tenant}:), without spaces, got ${value}`,
    });
    return DEFAULT_ACTION_POLICY.tenantNamespace;
  }
  return value;
}

/** The policy the variables describe, or (with `issues` filled) the default where one is wrong. */
export function parseActionPolicy(vars: ActionPolicyVars, issues: ConfigIssue[]): ActionPolicy {
  const prefix = envPrefix(vars.OBSERVERS_ACTION_ENV_PREFIX, issues);
  const tenantSenders = senders(vars.OBSERVERS_TENANT_SENDERS, issues);
  return {
    envPrefix: prefix,
    envAllow: envAllow(vars.OBSERVERS_ACTION_ENV_ALLOW, issues),
    tenantEnvPrefixes: tenantPrefixes(vars.OBSERVERS_TENANT_ENV_PREFIXES, prefix, issues),
    allowedBaseUrls: origins(vars.OBSERVERS_ALLOWED_BASE_URLS, issues),
    tenantFunctions: functions(vars.OBSERVERS_TENANT_FUNCTIONS, issues),
    tenantSenderAddresses: tenantSenders.addresses,
    tenantSenderDomains: tenantSenders.domains,
    tenantNamespace: namespace(vars.OBSERVERS_TENANT_NAMESPACE, issues),
  };
}
