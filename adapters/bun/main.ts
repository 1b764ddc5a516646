/**
 * `npm run server` / `bun run server`: the observer runtime and its HTTP API on Bun, configured by
 * environment variables (see `SERVER_ENV_VARS`). Exits 2 on invalid configuration, 1 when startup
 * fails, 0 after a graceful shutdown on SIGTERM or SIGINT (a second signal exits 1 at once).
 */
import { parseServerConfig, type ServerConfig } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";
import { createConsoleLogger } from "../../src/ports/logger.ts";
import { bunGlobal } from "./bun-api.ts";
import { type BunRuntime, createBunRuntime } from "./bun-runtime.ts";

function readConfig(env: Readonly<Record<string, string | undefined>>): ServerConfig {
  try {
    return parseServerConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error("fraiseql-observers: invalid configuration");
    for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const env = bunGlobal().env;
  const config = readConfig(env);
  const logger = createConsoleLogger(config.logLevel);
  let server: BunRuntime;
  try {
    server = await createBunRuntime({ config, env, logger });
  } catch (error) {
    logger.log("error", "startup failed", {
      error: error instanceof Error ? error.message : String(error),
    });
    process.exit(1);
  }
  console.log(`fraiseql-observers listening on ${server.url}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without finishing", { signal });
      process.exit(1);
    }
    stopping = true;
    logger.log("info", "shutting down: finishing in-flight work", { signal });
    try {
      await server.stop();
      logger.log("info", "stopped");
      process.exit(0);
    } catch (error) {
      logger.log("error", "shutdown failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

await main();
