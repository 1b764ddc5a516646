/**
 * `npm run server:deno`: the observer runtime and its HTTP API on Deno, configured by environment
 * variables (see `SERVER_ENV_VARS`) like the Bun server. Exits 2 on invalid configuration, 1 when
 * startup fails, 0 after a graceful shutdown on SIGTERM or SIGINT (a second signal exits 1 at
 * once).
 */
import { parseServerConfig, type ServerConfig } from "../../src/config/server-config.ts";
import { ConfigError } from "../../src/errors.ts";
import { createConsoleLogger } from "../../src/ports/logger.ts";
import { type DenoGlobal, denoGlobal } from "./deno-api.ts";
import { createDenoRuntime, type DenoRuntime } from "./deno-runtime.ts";

// Annotated, so `deno.exit` ends control flow for the type-checker.
const deno: DenoGlobal = denoGlobal();

function readConfig(env: Readonly<Record<string, string | undefined>>): ServerConfig {
  try {
    return parseServerConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error("fraiseql-observers: invalid configuration");
    for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
    deno.exit(2);
  }
}

async function main(): Promise<void> {
  const env = deno.env.toObject();
  const config = readConfig(env);
  const logger = createConsoleLogger(config.logLevel);
  let server: DenoRuntime;
  try {
    server = await createDenoRuntime({ config, env, logger });
  } catch (error) {
    logger.log("error", "startup failed", {
      error: error instanceof Error ? error.message : String(error),
    });
    deno.exit(1);
  }
  console.log(`fraiseql-observers listening on ${server.url} (Deno ${deno.version.deno})`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.log("warn", "second signal: exiting without finishing", { signal });
      deno.exit(1);
    }
    stopping = true;
    logger.log("info", "shutting down: finishing in-flight work", { signal });
    try {
      await server.stop();
      logger.log("info", "stopped");
      deno.exit(0);
    } catch (error) {
      logger.log("error", "shutdown failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      deno.exit(1);
    }
  };
  deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
  deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
}

await main();
