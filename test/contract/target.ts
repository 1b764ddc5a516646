/**
 * What a runtime (the Bun server, the Deno server, the Worker in `wrangler dev`) provides to the
 * contract suite (suite.ts): where its API and live endpoint answer, its admin token, and how to
 * make it do its work now. The suite never sleeps blindly: every wait polls with `eventually` and
 * calls `tick()` on each round, so a long-running server (tick is a no-op) and a cron-driven Worker
 * (tick fires the cron) pass the same assertions.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestDatabase } from "../support/database.ts";

/** The repository's root. */
export const ROOT = join(import.meta.dirname, "../..");

/** The admin token every target is started with. */
export const CONTRACT_ADMIN_TOKEN = "contract-admin-token-0123456789abcdef";

/**
 * The configuration every target must run with, whatever its way of taking it (environment
 * variables, `--var`): the suite's webhook receiver listens on 127.0.0.1, which the webhook action
 * refuses unless private targets are allowed.
 */
export const CONTRACT_ENV: Readonly<Record<string, string>> = {
  OBSERVERS_ADMIN_TOKEN: CONTRACT_ADMIN_TOKEN,
  OBSERVERS_ALLOW_PRIVATE_TARGETS: "1",
  OBSERVERS_POLL_INTERVAL_MS: "250",
  LOG_LEVEL: "warn",
};

/** A runtime under test, started against the suite's database. */
export interface ContractTarget {
  /** For messages: "Bun", "Deno", "Workers". */
  name: string;
  /** Where the HTTP API answers: `http://127.0.0.1:<port>` (no trailing slash). */
  apiUrl: string;
  /** Where the live endpoint's host answers: `ws://127.0.0.1:<port>` (the suite adds the path). */
  wsUrl: string;
  /** A token with the admin scope (the bootstrap admin token). */
  adminToken: string;
  /**
   * Makes the runtime do its pending work now and resolves when it is done: a no-op for
   * long-running servers (they react to NOTIFY and poll by themselves), one cron run for Workers
   * (delivery, retries, live publishing). Called often, inside wait loops; may throw, the wait
   * retries.
   */
  tick(): Promise<void>;
  /** Everything the runtime printed so far, for failure messages. */
  output(): string;
  /** Stops the runtime and everything it started; safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a target on `db` (migrated, with the tracked `orders` table) and waits until it serves. */
export type StartTarget = (db: TestDatabase) => Promise<ContractTarget>;

/**
 * Fails (never skips) when a runtime's entry point is missing, naming what is missing: a contract
 * run without one of its runtimes must not pass.
 */
export function requireFiles(runtime: string, ...paths: string[]): void {
  const missing = paths.filter((path) => !existsSync(join(ROOT, path)));
  if (missing.length > 0) {
    throw new Error(
      `${runtime}: the contract suite needs ${missing.join(" and ")}, which ${missing.length === 1 ? "does" : "do"} not exist`,
    );
  }
}

/** `http://host:port` → `ws://host:port`. */
export function toWebSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, "ws");
}
