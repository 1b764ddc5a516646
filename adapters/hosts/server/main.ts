/**
 * The process around a server, for every host: read the configuration from the environment
 * (`SERVER_ENV_VARS`), start, and stop gracefully on SIGTERM or SIGINT. Exits 2 on invalid
 * configuration (also found at start: no admin token or key in PostgreSQL mode), 1 when startup
 * fails, 0 after a graceful shutdown (a second signal exits 1 at once).
 */

import { parseServerConfig, type ServerConfig } from "../../../src/config/server-config.ts";
import { ConfigError } from "../../../src/errors.ts";
import { createConsoleLogger, type Logger } from "../../../src/ports/logger.ts";

/** What a host provides to `runServerMain`. */
export interface ServerMainHost {
  env: Readonly<Record<string, string | undefined>>;
  start(options: {
    config: ServerConfig;
    env: Readonly<Record<string, string | undefined>>;
    logger: Logger;
  }): Promise<{ url: string; stop(): Promise<void> }>;
  exit(code: number): never;
  onSignal(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  /** Appended to the "listening on" line, e.g. the runtime's version. */
  banner?: string;
}

function invalidConfiguration(host: ServerMainHost, error: ConfigError): never {
  console.error("fraiseql-observers: invalid configuration");
  for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
  return host.exit(2);
}

function readConfig(host: ServerMainHost): ServerConfig {
  try {
    return parseServerConfig(host.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return invalidConfiguration(host, error);
  }
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs a server process on `host` until a signal stops it. */
export async function runServerMain(host: ServerMainHost): Promise<void> {
  const config = readConfig(host);
  // The driver's dropped array-type promise (driver-defects.ts) is guarded by the factory itself
  // (createObservers), for plugin hosts as for this process.
  const logger = createConsoleLogger(config.logLevel);
  let server: { url: string; stop(): Promise<void> };
  try {
    server = await host.start({ config, env: host.env, logger });
  } catch (error) {
    // Configuration found wanting only once the database is open (no admin key) exits like
    // configuration that does not parse.
    if (error instanceof ConfigError) return invalidConfiguration(host, error);
    logger.log("error", "startup failed", { error: message(error) });
    return host.exit(1);
  }
  console.log(
    `fraiseql-observers listening on ${server.url}${host.banner ? ` ${host.banner}` : ""}`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without finishing", { signal });
      host.exit(1);
    }
    stopping = true;
    logger.log("info", "shutting down: finishing in-flight work", { signal });
    try {
      await server.stop();
      logger.log("info", "stopped");
      host.exit(0);
    } catch (error) {
      logger.log("error", "shutdown failed", { error: message(error) });
      host.exit(1);
    }
  };
  host.onSignal("SIGTERM", () => void shutdown("SIGTERM"));
  host.onSignal("SIGINT", () => void shutdown("SIGINT"));
}
